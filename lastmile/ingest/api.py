"""Public shapes of the ingest domain (no Dagster here)."""

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileAccount:
    """One file version read: rows_read = rows_loaded + rows_duplicate + rows_revised + rows_quarantined."""

    file_id: str
    path: str  # relative to the landing folder, with forward slashes
    entity: str  # 'orders' | 'events' | 'proofs'
    format: str  # 'csv' | 'jsonl' | 'parquet' | other suffix
    sha256: str
    size_bytes: int
    status: str  # 'loaded' | 'unreadable'
    rows_read: int
    rows_loaded: int
    rows_duplicate: int
    rows_revised: int
    rows_quarantined: int
    # partner payload files only: shipments the format found = read (gave events) + reported (quarantined)
    shipments_found: int | None = None
    shipments_read: int | None = None
    shipments_reported: int | None = None


@dataclass
class IngestResult:
    run_id: str
    landing: str
    files_seen: int = 0
    files: list[FileAccount] = field(default_factory=list)  # files read this run (new versions only)
    skipped: list[str] = field(default_factory=list)  # file versions already ingested earlier
    # partitions whose published rows may change: table name -> dates (network timezone)
    touched: dict[str, set[dt.date]] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    # every partition read (by this run or a killed earlier one) and not yet published: table -> dates
    unpublished: dict[str, set[dt.date]] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_duplicate(self) -> int:
        return sum(f.rows_duplicate for f in self.files)

    @property
    def rows_revised(self) -> int:
        return sum(f.rows_revised for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def touched_range(self) -> tuple[dt.date, dt.date] | None:
        days = set().union(*self.touched.values()) if self.touched else set()
        return (min(days), max(days)) if days else None

    def unpublished_range(self) -> tuple[dt.date, dt.date] | None:
        """The range of days to publish now: every unpublished partition (this run's touched ones included)."""
        days = set().union(*self.unpublished.values()) if self.unpublished else set()
        return (min(days), max(days)) if days else None
