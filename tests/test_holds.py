"""Legal holds through the command line: add, list, release, audited; errors are one line."""

from click.testing import CliRunner

from lastmile.audit import AuditTrail
from lastmile.warehouse import connect
from pipelines.cli import cli
from tests.retention_kit import make_network, open_vault


def test_holds_cli_add_list_release(tmp_path, home, settings) -> None:  # type: ignore[no-untyped-def]
    conn = connect(home.warehouse)
    make_network(tmp_path, conn, open_vault(home, conn), settings)
    conn.close()
    runner = CliRunner()
    base = ["--home", str(home.root)]
    env = {"LASTMILE_ACTOR": "carol", "COLUMNS": "200"}
    added = runner.invoke(cli, [*base, "holds", "add", "O1", "--reason", "subpoena 12"], env=env)
    assert added.exit_code == 0, added.output
    assert "Hold H-1 placed on order O1 by carol: subpoena 12" in added.output
    listed = runner.invoke(cli, [*base, "holds", "list"], env=env)
    assert "H-1" in listed.output and "subpoena 12" in listed.output and "active" in listed.output
    unknown = runner.invoke(cli, [*base, "holds", "add", "NOPE", "--reason", "x"], env=env)
    assert unknown.exit_code == 1 and "lastmile: error: order 'NOPE' is not in the warehouse" in unknown.output
    forced = runner.invoke(cli, [*base, "holds", "add", "NOPE", "--reason", "x", "--allow-unknown"], env=env)
    assert "H-2" in forced.output
    no_reason = runner.invoke(cli, [*base, "holds", "add", "O1", "--reason", "  "], env=env)
    assert no_reason.exit_code == 1 and "needs a reason" in no_reason.output
    released = runner.invoke(cli, [*base, "holds", "release", "H-1"], env={**env, "LASTMILE_ACTOR": "dave"})
    assert "released by dave" in released.output
    again = runner.invoke(cli, [*base, "holds", "release", "H-1"], env=env)
    assert again.exit_code == 1 and "already released by dave" in again.output
    assert "H-1" not in runner.invoke(cli, [*base, "holds", "list"], env=env).output
    assert "H-1" in runner.invoke(cli, [*base, "holds", "list", "--all"], env=env).output
    conn = connect(home.warehouse)
    try:
        trail = AuditTrail(conn, home.audit_dir)
        assert [(e.actor, e.action, e.details["hold_id"]) for e in trail.entries(subject="order:O1")] == [
            ("carol", "hold.place", "H-1"),
            ("dave", "hold.release", "H-1"),
        ]
        assert trail.verify().ok
    finally:
        conn.close()
    for verb in ("add", "release", "list"):
        assert runner.invoke(cli, ["holds", verb, "--help"]).exit_code == 0
