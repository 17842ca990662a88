-- Scratch tables of one file's ingest; dropped so that nothing leaks into the next file (_checked is a
-- registered Arrow table: the loader unregisters it).
DROP TABLE IF EXISTS _classified;
DROP TABLE IF EXISTS _blobs;
DROP TABLE IF EXISTS _contacts;
DROP VIEW IF EXISTS _existing;
