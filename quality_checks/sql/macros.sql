-- Helpers shared by the checks. Haversine distance on a sphere of radius 6,371,008.8 m (CONTRACT §4).
CREATE OR REPLACE TEMP MACRO haversine_m(lat1, lon1, lat2, lon2) AS
    2 * 6371008.8 * asin(sqrt(
        pow(sin(radians(lat2 - lat1) / 2), 2)
        + cos(radians(lat1)) * cos(radians(lat2)) * pow(sin(radians(lon2 - lon1) / 2), 2)
    ));
-- The address key of address.repeat_failure: trimmed lowercased postcode, '|', then address_line
-- lowercased, every character that is not a letter, digit or space removed, whitespace runs collapsed, trimmed.
CREATE OR REPLACE TEMP MACRO address_key(postcode, address_line) AS
    trim(lower(postcode)) || '|' || trim(regexp_replace(
        regexp_replace(lower(address_line), '[^\p{L}\p{Nd} ]', '', 'g'), '\s+', ' ', 'g'));
-- ts + n calendar days in the network timezone tz (CONTRACT §4): the wall-clock time is kept across a
-- daylight-saving change, so 7 days may be 167 or 169 hours. A wall time that does not exist (spring
-- gap) moves forward by the gap; an ambiguous one (autumn) is read with the standard-time offset.
CREATE OR REPLACE TEMP MACRO plus_days(ts, n, tz) AS timezone(tz, timezone(tz, ts) + to_days(n));
-- A template version is in force at t (CONTRACT §8): approved (approved_by set, approved_at <= t), not
-- retired at t, and, when sensitive, reviewed by someone other than the approver.
CREATE OR REPLACE TEMP MACRO template_in_force(approved_by, approved_at, retired_at, sensitive, reviewed_by, t) AS
    coalesce(approved_by IS NOT NULL AND approved_at <= t AND (retired_at IS NULL OR retired_at > t)
        AND (NOT sensitive OR (reviewed_by IS NOT NULL AND reviewed_by <> approved_by)), FALSE);
