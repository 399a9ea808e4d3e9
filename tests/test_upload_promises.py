"""What `p2c upload`, `p2c plan` and `p2c results` promise about their own bookkeeping, against the emulator:
each run's counts are the truth about that run, a plan or dry run settles nothing, the results name the
environment they reconcile, the status file speaks from the first step, and the help reads whole at 80
columns (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import test_upload
from test_upload import Stage, _counts, _upload_json

from p2c.errors import ExitCode

# test_upload.py's fixtures: the session's build, and a copy of it with its own emulator per test
built, stage = test_upload.built, test_upload.stage


def _lose_contact_answers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Dataverse writes the contacts, the client gives up before their answers come back: their intents
    stay in `upload.intents`. Returns the real `update_many` to put back."""
    from p2c.dataverse import DataverseClient
    from p2c.dataverse.errors import DataverseTransientError

    real = DataverseClient.update_many

    def answer_lost_at_contacts(self: DataverseClient, table: str, rows: Any) -> Any:
        answered = real(self, table, rows)
        if table == "contact":
            raise DataverseTransientError(
                "the service did not answer for 300 s: gave up after the outage budget"
            )
        return answered

    monkeypatch.setattr(DataverseClient, "update_many", answer_lost_at_contacts)
    return real


def _as_if_killed(stage: Stage, run_id: str) -> None:
    """The run as `kill -9` leaves it: still `running`, its counts never written, its process gone."""
    stage.execute(
        "update upload.runs set status = 'running', finished_at = null, rows_updated = 0, rows_unchanged = 0,"
        " rows_failed = 0, rows_skipped = 0, pid = 2147483646 where run_id = ?",
        [run_id],
    )


def _run_counts(stage: Stage, run_id: str) -> dict[str, int]:
    [row] = stage.query(
        "select rows_updated, rows_unchanged, rows_failed, rows_skipped from upload.runs where run_id = ?",
        [run_id],
    )
    return dict(zip(("updated", "unchanged", "failed", "skipped"), (int(v) for v in row), strict=True))


def test_a_plan_after_a_killed_run_keeps_its_intents_for_the_next_upload_to_settle(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from p2c.dataverse import DataverseClient

    real = _lose_contact_answers(monkeypatch)
    stopped, _ = _upload_json(stage)
    assert stopped.exit_code == ExitCode.CANNOT_RUN, stopped.output
    monkeypatch.setattr(DataverseClient, "update_many", real)
    contacts = _counts(stage)["contact"]
    [(killed,)] = stage.query("select run_id from upload.runs")
    _as_if_killed(stage, killed)

    plan_path = stage.db.parent / "plan.json"
    planned = stage.p2c("plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path))
    assert "Traceback" not in planned.output, planned.output
    said = " ".join(planned.stderr.split())
    assert f"{contacts} write(s) of the interrupted run {killed} will be settled by the next upload" in said
    dry, _ = _upload_json(stage, "--dry-run")
    assert f"{contacts} write(s) of the interrupted run {killed}" in " ".join(dry.stderr.split())
    assert stage.query("select count(*) from upload.intents") == [(contacts,)]

    again, tables = _upload_json(stage)
    assert again.exit_code == ExitCode.OK, again.output
    assert tables["contact"]["settled"] == contacts
    assert stage.query("select count(*) from upload.intents") == [(0,)]


def test_each_runs_counts_are_the_truth_about_that_run(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed run is counted with the writes a later run settled for it; a plan or dry run counts the rows
    it would update as `rows_updated` (it is a dry run), not every row as skipped."""
    from p2c.dataverse import DataverseClient

    real = _lose_contact_answers(monkeypatch)
    assert _upload_json(stage)[0].exit_code == ExitCode.CANNOT_RUN
    monkeypatch.setattr(DataverseClient, "update_many", real)
    [(killed,)] = stage.query("select run_id from upload.runs")
    _as_if_killed(stage, killed)

    plan_path = stage.db.parent / "plan.json"
    planned = stage.p2c("plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path))
    summaries = [t["summary"] for t in json.loads(plan_path.read_text())["tables"].values()]
    [(plan_run,)] = stage.query("select run_id from upload.runs where command = 'plan'")
    assert _run_counts(stage, plan_run) == {
        "updated": sum(s["update"] + s["done_but_differs"] for s in summaries),
        "unchanged": sum(s["unchanged"] for s in summaries),
        "failed": sum(s["not_found"] + s["conflict"] + s["cannot_write"] + s["read_only"] for s in summaries),
        "skipped": 0,
    }, planned.output

    assert _upload_json(stage)[0].exit_code == ExitCode.OK
    [(recorded,)] = stage.query(
        "select count(*) from upload.results where run_id = ? and status = 'updated'", [killed]
    )
    assert recorded >= _counts(stage)["account"] + _counts(stage)["contact"]
    assert _run_counts(stage, killed)["updated"] == recorded
    assert stage.query("select status from upload.runs where run_id = ?", [killed]) == [("interrupted",)]


def _results(stage: Stage, *args: str) -> dict[str, Any]:
    listed = stage.p2c("results", "--db", str(stage.db), "--format", "json", *args)
    assert listed.exit_code in (ExitCode.OK, ExitCode.FAILED_ROWS), listed.output
    document: dict[str, Any] = json.loads(listed.stdout)
    return document


def test_results_of_one_run_count_that_runs_rows(stage: Stage) -> None:
    targets = _counts(stage)
    plan_path = stage.db.parent / "plan.json"
    stage.p2c("plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path))
    assert _upload_json(stage)[0].exit_code == ExitCode.OK
    assert _upload_json(stage)[0].exit_code == ExitCode.OK  # everything done before: it records nothing
    plan_run, first, second = (
        r for (r,) in stage.query("select run_id from upload.runs order by started_at")
    )

    def per_table(run_id: str) -> dict[str, dict[str, Any]]:
        document = _results(stage, "--run", run_id)
        assert document["run_id"] == run_id
        return {r["table_name"]: r for r in document["reconciliation"]}

    planned, uploaded, repeated = per_table(plan_run), per_table(first), per_table(second)
    for table, rows in targets.items():
        # the plan counts what it would update (nothing was done yet), the first upload what it did
        assert planned[table]["updated"] + planned[table]["failed"] == rows, planned[table]
        assert uploaded[table]["updated"] == rows and uploaded[table]["not_in_run"] == 0, uploaded[table]
        # the second upload recorded nothing of these rows: done before, not its updates
        assert (repeated[table]["updated"], repeated[table]["not_in_run"]) == (0, rows), repeated[table]
        assert planned[table]["difference"] == uploaded[table]["difference"] == 0
    shown = stage.p2c("results", "--db", str(stage.db), "--run", plan_run)
    assert "would do, nothing sent" in " ".join(shown.stdout.split()), shown.output


def test_results_after_a_reset_reconcile_the_organization_met_last_and_say_so(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploaded, then the environment reset at the same URL (a new state: a new OrganizationId) and only a
    plan run since: the results are those of the new organization (nothing done there), named, and they
    say plainly that the last upload wrote to the old one."""
    from click.testing import Result
    from typer.testing import CliRunner

    from p2c.cli import app
    from p2c.emulator.record_state import RecordStatePolicy
    from p2c.emulator.server import RunningEmulator, running_emulator

    db = test_upload._copy_db(built, tmp_path)
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    monkeypatch.setenv("P2C_TENANT_ID", "p2c-emulator")
    monkeypatch.setenv("P2C_CLIENT_ID", test_upload.CLIENT_ID)
    monkeypatch.setenv("P2C_CLIENT_SECRET", test_upload.SECRET)

    def emulator(state: str, port: int = 0) -> Any:
        return running_emulator(
            tmp_path / state,
            seed_from=db,
            client_id=test_upload.CLIENT_ID,
            client_secret=test_upload.SECRET,
            port=port,
            record_state=RecordStatePolicy(admins=frozenset({test_upload.CLIENT_ID})),
        )

    def run(emu: RunningEmulator, *args: str) -> Result:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_cert))
        monkeypatch.setenv("P2C_AUTHORITY", emu.authority)
        return CliRunner().invoke(app, [*args, "--env", emu.base_url, "--db", str(db), "--format", "json"])

    with emulator("first.sqlite") as first:
        assert run(first, "upload").exit_code == ExitCode.OK
        port = int(first.base_url.rsplit(":", 1)[1].split("/")[0])
    with emulator("reset.sqlite", port) as reset:
        assert run(reset, "plan", "--out", str(tmp_path / "plan.json")).exit_code == ExitCode.OK
    old, new = (
        str(o) for (o,) in duckdb_rows(db, "select organization_id from upload.runs order by started_at")
    )
    assert old != new
    listed = CliRunner().invoke(app, ["results", "--db", str(db), "--format", "json"])
    report = json.loads(listed.stdout)
    assert report["organization_id"] == new
    assert all(r["to_do"] == r["target_rows"] and r["updated"] == 0 for r in report["reconciliation"]), report
    assert old in report["notice"] and new in report["notice"], report["notice"]
    shown = CliRunner().invoke(app, ["results", "--db", str(db)])
    assert f"organization {new}" in " ".join(shown.stdout.split()), shown.output


def duckdb_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("command", ["plan", "upload", "results"])
def test_piped_help_at_80_columns_breaks_lines_only_at_spaces(command: str) -> None:
    """Every word of the help (a header name, an option's default) is whole on one line of 80 columns."""
    import typer
    from typer.testing import CliRunner

    from p2c.cli import app

    shown = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    words = set(shown.output.split())
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    helps = [str(getattr(p, "help", "") or "") for p in group.commands[command].params]
    missing = sorted({w for text in helps for w in text.replace("\b", " ").split()} - words)
    assert not missing, missing
    # a word cut at a hyphen ends its line with the hyphen
    assert not [line for line in lines if line.rstrip().endswith("-") and not line.strip().startswith("-")]


def test_upload_of_a_plan_reads_the_plan_file_once(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    plan_path = stage.db.parent / "plan.json"
    planned = stage.p2c("plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path))
    assert planned.exit_code == ExitCode.OK, planned.output
    reads: list[str] = []
    real_open = Path.open

    def open_(self: Path, *args: Any, **kwargs: Any) -> Any:  # Path.read_text opens through it too
        if self.resolve() == plan_path.resolve():
            reads.append(str(args[0] if args else kwargs.get("mode", "r")))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    applied, tables = _upload_json(stage, "--plan", str(plan_path))
    assert applied.exit_code == ExitCode.OK, applied.output
    assert sum(t["updated"] for t in tables.values()) == sum(_counts(stage).values())
    assert len(reads) == 1, reads


def test_the_status_file_speaks_from_sign_in_and_says_when_the_service_is_unreachable(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`p2c results --follow` has something to show from the command's first request (sign-in, metadata
    and reads take seconds before the first chunk is recorded), and an outage shows at once, not at the
    next recorded chunk."""
    from p2c.dataverse import DataverseClient
    from p2c.upload.live import read_status

    seen: dict[str, Any] = {}
    real_sign_in, real_update_many = DataverseClient.sign_in, DataverseClient.update_many

    def sign_in_seen(self: DataverseClient) -> None:
        seen.setdefault("sign-in", read_status(stage.db))
        real_sign_in(self)

    def update_many_through_an_outage(self: DataverseClient, table: str, rows: Any) -> Any:
        if "outage" not in seen:
            events = self.events
            assert events is not None
            events.unreachable(12.0, 300.0)  # as the client reports a service that stopped answering
            seen["outage"] = read_status(stage.db)
            events.reachable()
            seen["back"] = read_status(stage.db)
        return real_update_many(self, table, rows)

    monkeypatch.setattr(DataverseClient, "sign_in", sign_in_seen)
    monkeypatch.setattr(DataverseClient, "update_many", update_many_through_an_outage)
    result = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db))
    assert result.exit_code == ExitCode.OK, result.output

    before = seen["sign-in"]
    assert before is not None and before["phase"] == "signing in" and before["run_id"] is None
    assert before["alive"] is True
    outage = seen["outage"]
    assert outage["phase"] == "writing" and outage["run_id"]
    assert "service unreachable for 12 s" in outage["service"]
    assert "unreachable" not in seen["back"]["service"]
    after = read_status(stage.db)
    assert after is not None and after["phase"] == "finished"
    assert after["run_id"] == outage["run_id"]


def test_results_show_a_run_that_has_not_begun_yet() -> None:
    """The status file of a command still signing in: no run id yet, said in words."""
    import io

    from rich.console import Console

    from p2c.output import OutputFormat
    from p2c.upload.live import print_status

    out, err = io.StringIO(), io.StringIO()
    document = {"run_id": None, "environment": "https://org.example", "pid": 1, "host": "h", "alive": True,
                "phase": "signing in", "service": "service unreachable for 3 s (trying until 300 s)",
                "tables": {}, "updated_at": "2026-12-07T03:00:00"}  # fmt: skip
    print_status(document, OutputFormat.TABLE, Console(file=out, width=200), Console(file=err, width=200))
    said = err.getvalue()
    assert "no run recorded yet" in said and "signing in" in said
    assert "service: service unreachable for 3 s" in said


def test_results_after_a_kill_count_what_the_killed_run_recorded_and_name_its_writes_in_flight(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before any new run closes it, a killed run shows the rows it recorded (not 0), and the writes it sent
    without an answer are named: Dataverse may hold them while they count as to do."""
    from p2c.dataverse import DataverseClient

    real = _lose_contact_answers(monkeypatch)
    assert _upload_json(stage)[0].exit_code == ExitCode.CANNOT_RUN
    monkeypatch.setattr(DataverseClient, "update_many", real)
    contacts = _counts(stage)["contact"]
    [(killed,)] = stage.query("select run_id from upload.runs")
    [(recorded,)] = stage.query(
        "select count(*) from upload.results where run_id = ? and status = 'updated'", [killed]
    )
    assert recorded > 0
    _as_if_killed(stage, killed)

    shown = stage.p2c("results", "--db", str(stage.db), "--format", "json")
    document = json.loads(shown.stdout)
    [run] = [r for r in document["runs"] if r["run_id"] == killed]
    assert run["status"] == "interrupted" and run["rows_updated"] == recorded
    assert document["in_flight"] == [{"run_id": killed, "writes": contacts}]
    text = stage.p2c("results", "--db", str(stage.db))
    said = " ".join(text.stdout.split()) + " ".join(text.stderr.split())
    assert f"{contacts} write(s) of run {killed} were in flight when it stopped" in said
    # intents are committed per chunk before its requests leave: not every one of them reached Dataverse
    assert "no answer recorded: Dataverse may hold some or all of them" in said


def test_a_dry_run_of_a_plan_calls_a_record_already_holding_the_planned_values_unchanged(
    stage: Stage,
) -> None:
    """The record changed since the plan (its ETag), but to exactly the planned values: the upload of the
    plan sends nothing and says unchanged; its dry run must forecast the same, not a 412."""

    plan_path = stage.db.parent / "plan.json"
    made = stage.p2c(
        "plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path), "--table", "account"
    )
    assert "Traceback" not in made.output, made.output
    document = json.loads(plan_path.read_text())
    row = next(r for r in document["tables"]["account"]["rows"] if r["action"] == "update" and r["payload"])
    applied = test_upload._api(stage).patch(  # someone applied exactly the planned values by hand
        f"{stage.emulator.service_root}accounts({row['record_id']})",
        json=dict(row["payload"]),
        headers={"If-Match": "*"},
    )
    assert applied.status_code == 204, applied.text

    _, dry_tables = _upload_json(stage, "--plan", str(plan_path), "--dry-run")
    _, real_tables = _upload_json(stage, "--plan", str(plan_path))
    *_, (dry_status,), (real_status,) = stage.query(
        "select r.status from upload.results r join upload.runs u using (run_id) where r.record_id = ? "
        "order by u.started_at",
        [str(row["record_id"]).lower()],
    )
    assert dry_status == real_status == "unchanged", (dry_status, real_status)
    assert dry_tables["account"]["failed"] == real_tables["account"]["failed"]


def test_a_plan_outdated_row_is_not_counted_as_sent_again(stage: Stage) -> None:
    """A row done when planned and changed in Dataverse since is `plan_outdated`: not sent, so not in
    "of which sent again"."""

    assert _upload_json(stage, "--table", "account")[0].exit_code == ExitCode.OK
    plan_path = stage.db.parent / "plan.json"
    stage.p2c(
        "plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path), "--table", "account"
    )
    [(record_id,)] = stage.query(
        "select _source_record_id from dualwrite.account where _source_record_id is not null limit 1"
    )
    changed = test_upload._api(stage).patch(
        f"{stage.emulator.service_root}accounts({record_id})",
        json={"msdyn_partynumber": "HACKED"},
        headers={"If-Match": "*"},
    )
    assert changed.status_code == 204, changed.text
    _, tables = _upload_json(stage, "--plan", str(plan_path), "--table", "account")
    assert tables["account"]["plan_outdated"] == 1
    assert tables["account"]["done_but_differs"] == 0
    assert tables["account"]["updated"] == 0
