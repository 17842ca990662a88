"""Data-quality checks of CONTRACT §4: SQL files over the warehouse plus a small runner. No Dagster here."""

from quality_checks.registry import BLOCKING, BY_ID, CHECKS, Check
from quality_checks.runner import CheckResult, data_dates, default_as_of, ensure_schema, run_checks

__all__ = ["BLOCKING", "BY_ID", "CHECKS", "Check", "CheckResult", "data_dates", "default_as_of", "ensure_schema",
           "run_checks"]  # fmt: skip
