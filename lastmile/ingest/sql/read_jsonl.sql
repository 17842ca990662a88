-- One JSON Lines file as rows: every non-blank line numbered in file order (_row); a line that is not a
-- JSON object is kept whole in `bad`; the wanted keys of good lines come out as text (JSON scalars as
-- their text, nested values as JSON) in a struct `cols`. All parsing happens here, in one pass.
WITH l AS (
    SELECT unnest(lines) AS line, generate_subscripts(lines, 1) AS physical
    FROM (SELECT string_split(content, chr(10)) AS lines FROM read_text($path))
), nb AS (
    SELECT rtrim(line, chr(13)) AS line, physical FROM l WHERE trim(line) <> ''
), r AS (
    SELECT row_number() OVER (ORDER BY physical) AS _row, line,
        CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE FALSE END AS ok
    FROM nb
)
SELECT _row, ok, CASE WHEN NOT ok THEN line END AS bad,
    CASE WHEN ok THEN json_extract_string(line, $paths) END AS vals
FROM r
ORDER BY _row;
