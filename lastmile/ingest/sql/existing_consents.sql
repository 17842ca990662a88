CREATE OR REPLACE TEMP VIEW _existing AS
SELECT consent_id AS key, content_hash, file_id, row_number FROM consents;
