"""What the summaries of `p2c plan` and `p2c upload` say (issue 19, hostile review): each row counted once
in `--format json`, a stopped plan does not promise a resume it does not have, a stopped upload's rate
counts the rows it went through, the runs' throttled seconds are rounded as shown."""

from __future__ import annotations

import json
from typing import Any

import pytest
import test_upload
from test_upload import Stage, _counts, _upload_json

from p2c.errors import ExitCode

# test_upload.py's fixtures: the session's build, and a copy of it with its own emulator per test
built, stage = test_upload.built, test_upload.stage


def test_a_dry_runs_json_counts_each_row_once(stage: Stage) -> None:
    result, tables = _upload_json(stage, "--dry-run", "--table", "account")
    assert result.exit_code == ExitCode.OK, result.output
    account = tables["account"]
    assert account["would_update"] == _counts(stage)["account"]
    assert account["skipped"] == 0  # would update is not also "skipped"


def test_a_stopped_plan_says_no_plan_was_written(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    from p2c.dataverse import DataverseClient

    real = DataverseClient.get_many

    def ctrl_c_at_contacts(self: DataverseClient, entity_set: str, *args: Any, **kwargs: Any) -> Any:
        if entity_set == "contacts":
            raise KeyboardInterrupt
        return real(self, entity_set, *args, **kwargs)

    monkeypatch.setattr(DataverseClient, "get_many", ctrl_c_at_contacts)
    plan_path = stage.db.parent / "plan.json"
    planned = stage.p2c("plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path))
    assert planned.exit_code == ExitCode.INTERRUPTED, planned.output
    assert not plan_path.exists()
    assert "recorded" not in planned.stderr and "do the rest" not in planned.stderr
    assert "no plan was written" in planned.stderr


def test_a_stopped_uploads_rate_counts_the_rows_it_went_through(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from p2c.dataverse import DataverseClient
    from p2c.upload import runner

    monkeypatch.setattr(runner, "FIRST_PIECE_ROWS", 1)  # the first table in two chunks: one answered
    real = DataverseClient.update_many
    calls: list[str] = []

    def ctrl_c_at_the_second_write(self: DataverseClient, table: str, rows: Any) -> Any:
        calls.append(table)
        if len(calls) > 1:
            time.sleep(0.2)
            raise KeyboardInterrupt
        return real(self, table, rows)

    monkeypatch.setattr(DataverseClient, "update_many", ctrl_c_at_the_second_write)
    stopped, tables = _upload_json(stage)
    assert stopped.exit_code == ExitCode.INTERRUPTED, stopped.output
    written = [t for t in tables.values() if t["updated"]]
    assert written, tables
    assert all(t["rows_per_s"] > 0 for t in written), written


def test_the_runs_throttled_seconds_are_kept_as_shown(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    from p2c.dataverse import DataverseClient

    clock = iter([0.0] + [1.23456789] * 100)
    monkeypatch.setattr(DataverseClient, "throttled_clock_s", lambda self: next(clock))
    result, _ = _upload_json(stage, "--table", "account")
    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.stdout)["throttled_s"] == 1.2
    [(held,)] = stage.query("select throttle_wait_s from upload.runs")
    assert held == 1.2
