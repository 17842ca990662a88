"""The Dagster code location: everything in pipelines/defs/, plus the project-wide resources."""

import warnings
from pathlib import Path

import dagster as dg

import pipelines.defs
from pipelines.defs.resources import LastmileResource


@dg.definitions
def defs() -> dg.Definitions:
    with warnings.catch_warnings():
        # Dagster's defs-folder loader calls its own preview-marked helpers, and `backfill_policy` (which
        # the daily tables use to publish a range in one run) is marked beta: named, not blanket-ignored.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        folder = dg.ComponentTree.from_module(
            defs_module=pipelines.defs, project_root=Path(__file__).resolve().parent.parent
        ).build_defs()
    return dg.Definitions.merge(folder, dg.Definitions(resources={"lastmile": LastmileResource()}))
