"""`lastmile report`: the group that the report verbs (kpi, retention) attach to from their own modules."""

import click

from pipelines.cli import cli


@click.group()
def report() -> None:
    """Write a report into LASTMILE_HOME/reports (self-contained HTML, opens with no network)."""


cli.add_command(report)
