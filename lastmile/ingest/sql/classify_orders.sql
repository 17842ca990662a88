-- Orders keep revisions. Each valid row is compared with the order's current content just before it
-- (the previous row of the same order in this file, else the latest accepted revision): identical is
-- a duplicate; different is a revision that becomes current; an order never seen before is loaded.
CREATE OR REPLACE TEMP TABLE _classified AS
WITH cur AS (
    SELECT order_id AS key,
        max(revision) AS base_revision,
        arg_max(content_hash, revision) AS base_hash,
        arg_max(partition_date, revision) AS base_partition
    FROM order_revisions
    WHERE order_id IN (SELECT key FROM _checked WHERE fault IS NULL)
    GROUP BY order_id
), v AS (
    SELECT _row, key, content_hash, partition_date,
        lag(content_hash) OVER (PARTITION BY key ORDER BY _row) AS prev_hash
    FROM _checked
    WHERE fault IS NULL
), c AS (
    SELECT v.*, cur.base_revision, cur.base_partition,
        CASE
            WHEN coalesce(v.prev_hash, cur.base_hash) IS NULL THEN 'loaded'
            WHEN coalesce(v.prev_hash, cur.base_hash) = v.content_hash THEN 'duplicate'
            ELSE 'revised'
        END AS outcome
    FROM v
    LEFT JOIN cur USING (key)
)
SELECT _row, key, outcome, partition_date, base_partition,
    CASE WHEN outcome <> 'duplicate' THEN
        coalesce(base_revision, 0) + sum(CASE WHEN outcome <> 'duplicate' THEN 1 ELSE 0 END)
            OVER (PARTITION BY key ORDER BY _row ROWS UNBOUNDED PRECEDING)
    END AS revision
FROM c;
