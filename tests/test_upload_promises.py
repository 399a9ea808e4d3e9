"""What `p2c upload`, `p2c plan` and `p2c results` promise about their own bookkeeping, against the emulator:
each run's counts are the truth about that run, a plan or dry run settles nothing, the results name the
environment they reconcile, the status file speaks from the first step, and the help reads whole at 80
columns (issue 19)."""

from __future__ import annotations

import json
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
