CREATE OR REPLACE TEMP VIEW _existing AS
SELECT template_id || ':' || version AS key, content_hash, file_id, row_number FROM templates;
