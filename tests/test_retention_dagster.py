"""Retention through the Dagster definitions and the CLI: plan asset, job, blocking overdue check,
nightly schedule, report verb."""

import datetime as dt

import dagster as dg
from click.testing import CliRunner

from lastmile.warehouse import connect
from pipelines.cli import cli
from tests.retention_kit import DAY, DELIVERED, make_network, open_vault


def test_schedule_is_nightly_and_passes_its_time(home) -> None:  # type: ignore[no-untyped-def]
    from pipelines.definitions import defs as load

    defs = load()
    schedule = defs.resolve_schedule_def("retention_job_schedule")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.job_name == "retention_job"
    when = dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC)
    context = dg.build_schedule_context(scheduled_execution_time=when)
    request = schedule.evaluate_tick(context).run_requests[0]
    ops = request.run_config["ops"]
    assert set(ops) == set(defs.resolve_job_def("retention_job").graph.node_dict)
    assert {v["config"]["as_of"] for v in ops.values()} == {when.isoformat()}
    asset = defs.resolve_assets_def("retention_plan")
    assert asset.owners_by_key[asset.key] == ["team:lastmile"]


def test_cli_plan_run_verify_report_and_overdue_check(tmp_path, home, settings) -> None:  # type: ignore[no-untyped-def]
    conn = connect(home.warehouse)
    make_network(tmp_path, conn, open_vault(home, conn), settings)
    conn.close()
    runner = CliRunner()
    base = ["--home", str(home.root)]
    env = {"COLUMNS": "200"}
    as_of = (DELIVERED + 30 * DAY).isoformat()
    plan = runner.invoke(cli, [*base, "retention", "plan", "--as-of", as_of], env=env)
    assert plan.exit_code == 0, plan.output
    assert "purge" in plan.output and "Overdue" in plan.output and "P1" in plan.output
    bad = runner.invoke(cli, [*base, "retention", "run", "--as-of", "yesterday"], env=env)
    assert bad.exit_code == 1 and "lastmile: error: --as-of 'yesterday' is not an ISO 8601 timestamp" in bad.output
    done = runner.invoke(cli, [*base, "retention", "run", "--as-of", as_of], env=env)
    assert done.exit_code == 0, done.output
    assert "Purged 3, held 0, retained 7." in done.output
    conn = connect(home.warehouse)
    (run_id, cert) = conn.execute("SELECT run_id, certificate_path FROM retention_runs").fetchone()
    conn.close()
    verified = runner.invoke(cli, [*base, "retention", "verify", cert], env=env)
    assert verified.exit_code == 0 and "Certificate verified." in verified.output
    report = runner.invoke(cli, [*base, "report", "retention", "--run", run_id], env=env)
    assert report.exit_code == 0 and (home.reports_dir / "retention" / f"{run_id}.html").exists()
    missing = runner.invoke(cli, [*base, "report", "retention", "--run", "nope"], env=env)
    assert missing.exit_code == 1 and "retention run 'nope' not found" in missing.output

    # the blocking check fails when something past retention is still present at its as_of
    from pipelines.definitions import defs as load

    job = load().resolve_job_def("retention_job")
    later = {"config": {"as_of": (DELIVERED + 200 * DAY).isoformat()}}
    check_only = job.get_subset(
        asset_check_selection={dg.AssetCheckKey(dg.AssetKey("retention_ledger"), "retention__overdue")},
        asset_selection=set(),
    )
    with dg.DagsterInstance.get() as instance:
        result = check_only.execute_in_process(
            instance=instance,
            run_config={"ops": {op: later for op in check_only.graph.node_dict}},
            raise_on_error=False,
        )
    evaluation = result.get_asset_check_evaluations()[0]
    assert not evaluation.passed and evaluation.metadata["overdue"].value > 0
    for args in (["retention", "plan"], ["retention", "run"], ["retention", "verify"], ["report", "retention"]):
        assert runner.invoke(cli, [*args, "--help"]).exit_code == 0
