"""The sample-network generator: a realistic landing folder (CONTRACT §1) with injected faults.

    from lastmile.generator import generate, FaultRates, GenerateSummary
    summary = generate(Path("landing"), days=14, orders_per_day=400, seed=1)

Same arguments give byte-identical output: every random draw comes from seeded generators, nothing
reads the wall clock, files are written in a fixed order and Parquet with fixed writer settings.

The network
-----------
Three depots around London (Park Royal, Bow, Croydon) and eight delivery zones with real postcode
areas (NW10, W3, HA0, E3, E14, E15, CR0, SE25); each zone has 24 streets with geocoded house numbers,
and couriers (about one per 90 daily stops in the zone) on early (07:00-16:00) or late (10:00-19:00)
shifts. Orders mix service types (62% standard, 20% signature_required, 8% age_restricted, 10%
high_value); 60% carry a 2- or 4-hour promised window on the day after creation. Lifecycle: created →
in_transit (hub scan) → next day dispatched → out_for_delivery → arrived → delivered, or
delivery_attempted with an exception code and a re-attempt on a later day with a fresh dispatch and
out_for_delivery; after three failed attempts (or a refusal) returned_to_sender; 3% are cancelled;
2% see an `exception` at the hub (vehicle_issue, weather) that delays them a day. GPS positions are
jittered (at most ~90 m from the geocode on an attempt). Events arrive 2 s to 14 min after they happen
(so some land in the next day's file and files are out of occurred order). Proofs follow CONTRACT §3
by service type (plus an occasional `pin`, which has no blob), captured 10 s to 3 min after delivery;
signatures are 240x90 PNG scribbles, photos and ID checks 160x120 JPEGs, drawn with Pillow from a
deterministic pool of 256 images per kind, one file per proof. About 1% of order rows are exact
duplicates and 1.5% are revisions (an address correction: a flat number added) in a later day's file;
about 1% of event rows are re-sent in the next day's file, some with another offset for the same
instant (a duplicate by value, not a conflict).

File layout
-----------
    OUT/
      orders/orders-YYYY-MM-DD.csv        orders by creation day (+ duplicates and revisions of earlier days)
      orders/notes.txt                    unsupported file (fault quarantine.unsupported_file)
      events/dispatch/YYYY-MM-DD.csv      created, in_transit, dispatched, hub exceptions, returned_to_sender
      events/driver_app/YYYY-MM-DD.jsonl  out_for_delivery, arrived, delivered, delivery_attempted
      events/driver_app/YYYY-MM-DD.parquet  the driver-app events of the last creation day + 1 (typed
                                          columns: timestamp[us, UTC], float64), instead of JSON Lines
      events/support/YYYY-MM-DD.csv       cancellations and customer-service exceptions
      events/export-corrupt.parquet       not Parquet bytes (fault quarantine.unreadable_file)
      proofs/proofs-YYYY-MM-DD.csv        proofs by recorded day; the second day's file is .jsonl
      blobs/YYYY-MM-DD/<proof_id>.png|jpg one file per signature / photo / id_check proof (captured day)
      ground_truth.jsonl                  every quarantined row and every check finding the data yields
      manifest.json                       arguments, fault rates, as_of, counts, injected faults, network
Event files are split by source and by the network-timezone day of recorded_at. Timestamps are ISO 8601:
'Z', '+00:00', another offset for the same instant, or naive (local time in `timezone`; never for a
wall time that is ambiguous across a DST change); the mix differs by source. CSV files have a header
row, empty string = null.

Faults (FaultRates)
-------------------
`FaultRates()` holds the defaults below; `FaultRates.from_mapping({...})` overrides some (an unknown name
is a ValueError naming it); `FaultRates.none()` sets every rate to 0 (a clean network: no check trips).
A check fault's rate is the share of orders that get it (at least one order when the rate is above 0);
each faulty order gets one fault only, and fault kinds with variants cycle through them.

    event.sequence_gap            0.004  first attempt without out_for_delivery, or a re-attempt without its own
    event.latency                 0.006  one event recorded 20 min to 8 h after it occurred
    event.clock_skew              0.004  an in_transit scan stamped 8-40 min ahead of its arrival
    event.orphan                  0.003  an extra hub scan naming an order id that does not exist ('LX…')
    event.exception_code_invalid  0.004  delivery_attempted with no code / a non-canonical code; delivered with a code
    event.conflict                0.003  an `arrived` event re-sent hours later with other content (the later row
                                         is quarantined `conflict`, the first gets event.conflict)
    event.after_terminal          0.003  a stray in_transit scan, or a cancellation, hours after delivery
    proof.missing                 0.004  a required proof dropped, or captured 2-5 h after delivery
    proof.invalid                 0.004  an extra photo proof (the required ones stay valid) whose blob is absent,
                                         empty, has a wrong sha256, is not PNG/JPEG bytes, or has no blob_path
                                         (at least 5, one of each)
    address.distance_mismatch     0.004  one attempt 300-2500 m from the geocode
    address.ungeocoded            0.004  an order without address_lat/address_lon
    order.contact_unreachable     0.004  phone without country code / 'n/a' / none / leading 0, and no usable email
    event.stalled                 0.003  the lifecycle stops after dispatched, out_for_delivery or arrived
    exception.unresolved          0.003  a failed attempt (or a damaged-at-hub exception) and nothing after it
    address.repeat_failure        0.001  per order: clusters of 2 orders at one new address with 3 address_* failures
    address.hotspot               0.05   share of couriers (at least 1) whose GPS drifts 300-900 m on half their
                                         attempts in the last 3 days of the run
    return.*                      0.002  each of the five checks of CONTRACT §9, on return pickups (about 3% of
                                         cleanly delivered orders get one); see lastmile/generator/returns.py
Quarantine faults add extra bad rows (never a row a lifecycle needs); the rate is the share of the
entity's rows (at least 1; 2 for malformed_row: a short CSV line and a broken JSON line; 2 for
blob_path_escape: '../../etc/passwd' and '/etc/passwd'); the whole-file reasons write one file when
their rate is above 0 (default 1.0):
    quarantine.unsupported_file 1.0, quarantine.unreadable_file 1.0, and 0.0004 for each of
    malformed_row, missing_required (order_id), bad_timestamp (day 32), bad_number (lat '51.x5290'),
    unknown_status ('misrouted'), unknown_source ('scanner'), partial_coordinates (lat without lon)
    [events]; unknown_service_type ('express'), unknown_country ('GBR'), partial_window,
    window_not_ordered, unknown_order_type ('exchange') [orders]; a return_pickup without original_order_id
    (missing_required, one per run); unknown_kind ('fingerprint'), blob_path_escape, conflict (a proof_id
    re-sent later with another captured_at) [proofs].

Ground truth (ground_truth.jsonl)
---------------------------------
One JSON object per line (keys sorted); quarantine rows first, sorted by file and row, then checks
sorted by check_id, partition_date, entity_id:
    {"type":"quarantine","reason":R,"file":"events/dispatch/2026-10-06.csv","row_number":N,"entity_id":ID|null}
    {"type":"check","check_id":C,"entity_kind":K,"entity_id":ID,"order_id":ID|null,"partition_date":"YYYY-MM-DD"}
row_number is the 1-based data-record number in the file (CSV: records after the header; JSONL: lines;
Parquet: row index + 1); 0 for a whole-file quarantine. entity_id is the row's key, null where the row
cannot be parsed (malformed_row) or for a whole file. Check rows are not guessed from the injections:
they are the contract's check definitions (CONTRACT §4, default thresholds, partner checks aside)
evaluated with polars over the data as ingest must load it (duplicates once, revisions current,
conflicts and quarantined rows left out), so anything the generator's own randomness trips is listed
too (for example the distance mismatches of a hotspot courier). Window checks (event.stalled,
exception.unresolved, address.repeat_failure, address.hotspot) use as_of = the largest recorded_at among
loaded events, written to manifest.json. Statuses needing an exception code are taken to be
delivery_attempted and exception; the generator never writes held_at_location.
"""

from lastmile.generator.core import GenerateSummary, generate
from lastmile.generator.faults import DEFAULT_RATES, FaultRates

__all__ = ["DEFAULT_RATES", "FaultRates", "GenerateSummary", "generate"]
