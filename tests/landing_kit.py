"""Build small landing folders by hand for tests."""

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ORDER = {
    "order_id": "O1", "created_at": "2026-10-05T08:00:00Z", "service_type": "standard",
    "depot_id": "D1", "zone_id": "Z1", "address_line": "1 High Street", "postcode": "E1 6AN",
    "city": "London", "country": "GB", "address_lat": "51.5155", "address_lon": "-0.0722",
    "window_start": "2026-10-05T09:00:00Z", "window_end": "2026-10-05T12:00:00Z",
    "recipient_name": "Ann Lee", "recipient_phone": "+44 20 7946 0958",
    "recipient_email": "ann.lee@example.com", "partner_id": "", "partner_tracking_number": "",
}  # fmt: skip
EVENT = {
    "event_id": "E1", "order_id": "O1", "status": "out_for_delivery", "exception_code": "",
    "occurred_at": "2026-10-05T10:00:00Z", "recorded_at": "2026-10-05T10:01:00Z", "courier_id": "C1",
    "source": "driver_app", "lat": "51.5156", "lon": "-0.0721",
}  # fmt: skip
PROOF = {
    "proof_id": "P1", "order_id": "O1", "kind": "photo", "captured_at": "2026-10-05T10:31:00Z",
    "recorded_at": "2026-10-05T10:32:00Z", "lat": "", "lon": "", "blob_path": "p1.jpg", "sha256": "",
}  # fmt: skip
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00fake-but-magic"


def row(base: dict[str, str], **changes: Any) -> dict[str, str]:
    out = dict(base)
    out.update({k: "" if v is None else str(v) for k, v in changes.items()})
    return out


def write_csv(path: Path, rows: Sequence[dict[str, str]], header: Sequence[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(header or rows[0].keys())
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([r.get(c, "") for c in cols])
    return path


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(list(rows)), path)
    return path


def write_blob(landing: Path, name: str, data: bytes = JPEG) -> Path:
    path = landing / "blobs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
