"""Settings: one YAML file in LASTMILE_HOME, documented defaults, `LASTMILE_<SETTING>` overrides.

The file is created with every default written out (and explained) on first use. Each setting can be
overridden by an environment variable named `LASTMILE_` + the setting's name in capitals. Validation
happens at start; a bad value is a `SettingsError` whose one-line message names the setting and where
the bad value came from.
"""

import datetime as dt
import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lastmile.errors import SettingsError

SETTINGS_FILE = "settings.yaml"
HOME_ENV = "LASTMILE_HOME"
DEFAULT_HOME = "lastmile-home"


class Settings(BaseModel):
    """Every setting with its contract default. Field descriptions are written into the settings file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network_timezone: str = Field(
        "UTC",
        description="IANA timezone of the network: naive timestamps are read in it; days, daily "
        "partitions and ISO weeks are counted in it.",
    )
    partition_start_date: dt.date = Field(
        dt.date(2020, 1, 1), description="First day of the daily partitions Dagster shows."
    )
    landing_dir: str = Field(
        "", description="Landing folder the Dagster sensor watches; empty means LASTMILE_HOME/landing."
    )
    event_latency_minutes: float = Field(15, gt=0, description="event.latency: recorded_at - occurred_at above this.")
    event_clock_skew_minutes: float = Field(
        5, gt=0, description="event.clock_skew: occurred_at - recorded_at above this."
    )
    proof_window_minutes: float = Field(
        30, gt=0, description="proof.missing: a required proof must be captured within this of delivery."
    )
    address_distance_m: float = Field(
        250,
        gt=0,
        description="address.distance_mismatch: attempt more than this many metres from the geocode.",
    )
    stalled_hours: float = Field(12, gt=0, description="event.stalled: hours since the latest in-flight event.")
    exception_unresolved_days: int = Field(
        7, ge=1, description="exception.unresolved: days without a terminal event after the first exception."
    )
    repeat_failure_min_events: int = Field(3, ge=1, description="address.repeat_failure: minimum events.")
    repeat_failure_min_orders: int = Field(2, ge=1, description="address.repeat_failure: minimum distinct orders.")
    repeat_failure_window_days: int = Field(28, ge=1, description="address.repeat_failure: window in days.")
    hotspot_window_days: int = Field(7, ge=1, description="address.hotspot: window in days.")
    hotspot_z: float = Field(3, gt=0, description="address.hotspot: z-score above which a zone or courier fails.")
    hotspot_min_failures: int = Field(5, ge=1, description="address.hotspot: minimum failures f.")
    reason_drift_points: float = Field(
        10,
        gt=0,
        description="partner.reason_drift: percentage points of movement against the trailing 4 weeks.",
    )
    return_acceptance_window_minutes: float = Field(
        30,
        gt=0,
        description="return.acceptance_missing: the acceptance photo must be captured within this of the "
        "return's first picked_up event (before or after).",
    )
    return_pickup_overdue_days: int = Field(
        3, ge=1, description="return.pickup_overdue: calendar days a return may wait for its pickup."
    )
    quiet_hours_start: dt.time = Field(
        dt.time(8, 0), description="message.quiet_hours: marketing messages may be sent from this time (included)."
    )
    quiet_hours_end: dt.time = Field(
        dt.time(21, 0), description="message.quiet_hours: marketing messages may be sent until this time (excluded)."
    )
    message_missing_minutes: float = Field(
        30, gt=0, description="message.missing: a notifying event must trigger a message within this many minutes."
    )
    coverage_gap_days: int = Field(
        28, ge=1, description="template.coverage_gap: days before as_of in which a channel counts as sending."
    )
    retention_no_terminal_days: int = Field(
        60,
        ge=0,
        description="Retention clock of an order with no terminal event starts at created_at + this.",
    )
    retention_policy_file: str = Field(
        "", description="Retention policy YAML; empty means the policy shipped in retention/policy.yaml."
    )

    warehouse: Literal["duckdb", "ducklake"] = Field(
        "duckdb",
        description="Where the warehouse lives: duckdb (one embedded file, LASTMILE_HOME/warehouse.duckdb, one "
        "writer) or ducklake (a DuckLake catalog in PostgreSQL with Parquet files; several writers; docs/scale.md).",
    )
    ducklake_catalog: str = Field(
        "",
        description="warehouse: ducklake: the PostgreSQL catalog as a libpq connection string, e.g. "
        "'dbname=lastmile host=/run/postgresql port=5432'.",
    )
    ducklake_data_path: str = Field(
        "",
        description="warehouse: ducklake: the folder (relative to LASTMILE_HOME, or absolute) or object-store URL "
        "of the Parquet files; vault packs and certificates live under it too. Empty means LASTMILE_HOME/lake.",
    )
    warehouse_pool_limit: int = Field(
        0,
        ge=0,
        le=64,
        description="How many Dagster steps may write the warehouse at once (the 'warehouse' pool). 0 means "
        "automatic: 1 for the embedded file (one writer), 4 for DuckLake. Must be 1 (or 0) for duckdb.",
    )

    @field_validator("network_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a known IANA timezone") from exc
        return value

    @model_validator(mode="after")
    def _warehouse_consistent(self) -> "Settings":
        if self.warehouse == "ducklake" and not self.ducklake_catalog.strip():
            raise ValueError("warehouse is ducklake: set ducklake_catalog (a libpq connection string)")
        if self.warehouse == "duckdb" and self.warehouse_pool_limit > 1:
            raise ValueError("an embedded DuckDB file has one writer: warehouse_pool_limit must be 0 or 1")
        return self

    @property
    def pool_limit(self) -> int:
        """The `warehouse` concurrency pool's limit (see warehouse_pool_limit)."""
        if self.warehouse_pool_limit:
            return self.warehouse_pool_limit
        return 4 if self.warehouse == "ducklake" else 1

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.network_timezone)


def env_name(setting: str) -> str:
    return f"LASTMILE_{setting.upper()}"


def default_settings_text() -> str:
    """The settings file as written on first use: every setting, its default and what it means."""
    lines = [
        "# lastmile settings. Every value here is the documented default; edit to change it.",
        "# Each setting can also be overridden by an environment variable LASTMILE_<SETTING>,",
        "# for example LASTMILE_NETWORK_TIMEZONE=Europe/London.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, dt.date | dt.time):
            default = default.isoformat()
        lines.append(f"# {field.description}")
        lines.append(yaml.safe_dump({name: default}, default_flow_style=False, sort_keys=False).strip())
        lines.append("")
    return "\n".join(lines)


def load_settings(home: Path, environ: Mapping[str, str] | None = None, *, create: bool = True) -> Settings:
    """Read LASTMILE_HOME/settings.yaml (writing the defaults on first use), apply overrides, validate."""
    env = os.environ if environ is None else environ
    path = home / SETTINGS_FILE
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if not path.exists() and create:
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(default_settings_text(), encoding="utf-8")
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise SettingsError(f"{path}{where}: not valid YAML") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path}: expected a mapping of setting: value")
        for key, value in loaded.items():
            values[str(key)] = value
            origin[str(key)] = str(path)
    for name in Settings.model_fields:
        raw = env.get(env_name(name))
        if raw is not None:
            values[name] = raw
            origin[name] = f"environment variable {env_name(name)}"
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            raise SettingsError(f"unknown setting {name!r} in {origin.get(name, path)} (known: see {path})") from None
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not err["loc"]:  # a rule across settings (warehouse and its companions)
            raise SettingsError(f"settings of {path}: {msg}") from None
        raise SettingsError(
            f"setting {name} = {values.get(name)!r} from {origin.get(name, 'defaults')}: {msg}"
        ) from None


@dataclass(frozen=True)
class Home:
    """The layout of LASTMILE_HOME: warehouse, vault, keys, reports, Dagster instance."""

    root: Path
    # Where the state every worker must share lives (vault packs, reports and certificates): the DuckLake
    # data path when warehouse is ducklake (see for_settings), else the home itself.
    shared: Path | None = None

    @classmethod
    def resolve(cls, explicit: str | Path | None = None, environ: Mapping[str, str] | None = None) -> "Home":
        env = os.environ if environ is None else environ
        raw = explicit if explicit is not None else env.get(HOME_ENV, DEFAULT_HOME)
        home = cls(Path(raw).expanduser().resolve())
        return home.for_settings(load_settings(home.root, env, create=False))

    def for_settings(self, settings: Settings) -> "Home":
        """This home with its shared state where the settings put it: under a local DuckLake data path."""
        if settings.warehouse != "ducklake" or "://" in settings.ducklake_data_path:
            return self  # an object-store data path: packs stay local (docs/scale.md)
        raw = settings.ducklake_data_path
        path = self.root / "lake" if not raw else Path(raw).expanduser()
        return Home(self.root, path if path.is_absolute() else self.root / path)

    @property
    def shared_root(self) -> Path:
        return self.shared or self.root

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def vault_dir(self) -> Path:
        return self.shared_root / "vault"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def reports_dir(self) -> Path:
        return self.shared_root / "reports"

    @property
    def audit_dir(self) -> Path:
        """The audit trail's Ed25519 signing key, kept apart from the data keys in keys/."""
        return self.root / "audit"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    def ensure(self) -> "Home":
        for path in (self.root, self.vault_dir, self.reports_dir, self.dagster_home):
            path.mkdir(parents=True, exist_ok=True)
        return self
