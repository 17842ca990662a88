"""Ingest: landing folder -> typed, validated, deduplicated rows in the warehouse, bad rows quarantined.

Two steps, both idempotent:
1. `ingest_landing` reads every file version not read before (files in lexicographic order of their
   path within the landing folder, rows in file order), quarantines bad rows with a reason, encrypts
   proof blobs, contact fields, message bodies and consent records into the vault, and records exact
   per-file accounting. Each file commits once: its rows, its accounting and its artifacts together.
   A read-ahead thread parses the coming files, types and validates their rows and encrypts their
   artifacts (pure work: files and keys only, up to READ_AHEAD_BYTES ahead); the loader classifies the
   rows against the warehouse and stores the artifacts of the rows that turn out loaded.
2. `publish_partitions` rebuilds the published daily partitions of `orders`, `events`, `proofs`
   (delete-then-insert in one transaction) from what step 1 accepted.

Between the two, `unpublished_partitions` (a warehouse table, written in the same transaction as the
intake rows and cleared in the same transaction as each publish) remembers what step 1 read and step 2
has not yet published, so that a process killed in between is completed by the next one.
"""

from lastmile.ingest.api import FileAccount, IngestResult
from lastmile.ingest.landing import LandingFile, list_landing_files
from lastmile.ingest.load import PUBLISHED_TABLES, ingest_landing, publish_partitions, unpublished_partitions

__all__ = [
    "PUBLISHED_TABLES",
    "FileAccount",
    "IngestResult",
    "LandingFile",
    "ingest_landing",
    "list_landing_files",
    "publish_partitions",
    "unpublished_partitions",
]
