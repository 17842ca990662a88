-- A published range is no longer unpublished (run in the publish's own transaction).
DELETE FROM unpublished_partitions WHERE table_name = $table AND partition_date BETWEEN $start AND $end;
