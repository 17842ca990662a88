-- Rows of this file that break the schema, with their reason and detail.
SELECT _row, fault[1] AS reason, fault[2] AS detail, key, order_id FROM _checked WHERE fault IS NOT NULL;
