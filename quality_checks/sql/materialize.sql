-- Wraps one check's query (its .sql file: a single SELECT of entity_id, order_id, partition_date, failed,
-- observed STRUCT over every entity it evaluates). Only failing rows keep their ids and get their observed
-- values rendered as JSON, so a check over 10M events costs little more than the scan itself.
CREATE OR REPLACE TEMP TABLE _eval AS
SELECT partition_date, coalesce(failed, FALSE) AS failed,
    CASE WHEN failed THEN entity_id END AS entity_id,
    CASE WHEN failed THEN order_id END AS order_id,
    CASE WHEN failed THEN to_json(observed) END AS observed
FROM (
    /* check */
) AS c;
