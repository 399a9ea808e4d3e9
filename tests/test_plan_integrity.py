"""A reviewed plan is applied exactly, or refused before any work (issue 19, hostile review): a plan lacking
a field, edited after `p2c plan` wrote it, holding a row twice or a table the build does not have is refused
(exit 2, nothing read or sent); the options that shaped its decisions (`--leave-read-only`) are applied with
it; a row done when planned and changed since is "make a new plan", not "not in plan"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import test_upload
from test_upload import Stage, _api, _upload_json, _write_plan

from p2c.errors import ExitCode
from p2c.upload.runner import seal_plan

# test_upload.py's fixtures: the session's build, and a copy of it with its own emulator per test
built, stage = test_upload.built, test_upload.stage


def _read(plan_path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(plan_path.read_text(encoding="utf-8"))
    return document


def _write(plan_path: Path, document: dict[str, Any], *, sealed: bool) -> None:
    """The plan as a hand edit leaves it (`sealed` False), or as someone who also recomputed its digest."""
    plan_path.write_text(json.dumps(seal_plan(document) if sealed else document), encoding="utf-8")


def _runs(stage: Stage) -> int:
    return int(stage.query("select count(*) from upload.runs")[0][0])


def _refused(stage: Stage, plan_path: Path, expected: str) -> None:
    """`upload --plan` exits 2 naming the problem, before any run starts or any write is sent."""
    runs, writes = _runs(stage), stage.state.api_writes("update")
    for extra in ([], ["--dry-run"]):
        result = stage.p2c(
            "upload", "--env", stage.env, "--db", str(stage.db), "--plan", str(plan_path), *extra
        )
        assert result.exit_code == ExitCode.CANNOT_RUN, result.output
        assert expected in result.stderr, result.stderr
        assert "Traceback" not in result.output and "internal error" not in result.output
    assert (_runs(stage), stage.state.api_writes("update")) == (runs, writes)


@pytest.mark.parametrize(
    "missing", ["organization_id", "environment", "database", "run_id", "options", "digest", "tables"]
)
def test_a_plan_lacking_a_required_field_is_refused_before_any_work(stage: Stage, missing: str) -> None:
    plan_path = _write_plan(stage, "plan.json", "account")
    document = _read(plan_path)
    del document[missing]
    _write(plan_path, document, sealed=missing != "digest")
    _refused(stage, plan_path, f'"{missing}"')


def test_a_plan_edited_after_it_was_written_is_refused(stage: Stage) -> None:
    plan_path = _write_plan(stage, "plan.json", "account")
    original = _read(plan_path)
    assert original["digest"].startswith("sha256:")

    def edited(change: Any) -> None:
        document = _read(plan_path)
        change(document)
        _write(plan_path, document, sealed=False)
        _refused(stage, plan_path, "edited after it was written")

    rows = original["tables"]["account"]["rows"]
    first, second = rows[0], rows[1]

    def payload(document: dict[str, Any]) -> None:
        document["tables"]["account"]["rows"][0]["payload"]["msdyn_partynumber"] = "PN-EDITED"

    def swapped(document: dict[str, Any]) -> None:
        planned = document["tables"]["account"]["rows"]
        planned[0]["record_id"], planned[1]["record_id"] = second["record_id"], first["record_id"]

    def summary(document: dict[str, Any]) -> None:
        document["tables"]["account"]["summary"]["update"] += 1

    for change in (payload, swapped, summary):
        edited(change)
    _write(plan_path, original, sealed=False)  # the file as written is applied
    applied, tables = _upload_json(stage, "--plan", str(plan_path))
    assert applied.exit_code == ExitCode.OK, applied.output
    assert tables["account"]["updated"] == len(rows)


def test_a_plan_holding_a_row_twice_or_a_table_the_build_lacks_is_refused(stage: Stage) -> None:
    plan_path = _write_plan(stage, "plan.json", "account")
    original = _read(plan_path)
    twice = json.loads(json.dumps(original))
    twice["tables"]["account"]["rows"].append(twice["tables"]["account"]["rows"][0])
    _write(plan_path, twice, sealed=True)
    _refused(stage, plan_path, "twice")

    unknown = json.loads(json.dumps(original))
    unknown["tables"]["invoice"] = {"summary": {}, "notes": [], "done_before": [], "rows": []}
    _write(plan_path, unknown, sealed=True)
    _refused(stage, plan_path, "'invoice'")


def test_a_planned_row_whose_record_id_is_not_duckdbs_is_plan_row_changed_naming_both(stage: Stage) -> None:
    plan_path = _write_plan(stage, "plan.json", "account")
    document = _read(plan_path)
    first, second = document["tables"]["account"]["rows"][:2]
    first["record_id"], second["record_id"] = second["record_id"], first["record_id"]
    _write(plan_path, document, sealed=True)  # even re-sealed, the plan names another record than DuckDB's
    writes = stage.state.api_writes("update")
    applied, tables = _upload_json(stage, "--plan", str(plan_path))
    assert applied.exit_code == ExitCode.FAILED_ROWS, applied.output
    assert tables["account"]["failed"] == 2
    failed = dict(
        stage.query(
            "select record_id, message from upload.results join upload.runs using (run_id)"
            " where results.status = 'failed' and not dry_run and error_code = 'p2c:plan_row_changed'"
        )
    )
    assert set(failed) == {first["record_id"], second["record_id"]}
    named = failed[second["record_id"]]
    assert first["record_id"] in named and second["record_id"] in named
    assert stage.state.api_writes("update") == writes + len(document["tables"]["account"]["rows"]) - 2


def test_a_plan_made_leaving_read_only_records_is_applied_the_same_way(stage: Stage) -> None:
    plan_path = stage.db.parent / "lro.json"
    args = ["--env", stage.env, "--db", str(stage.db)]
    planned = stage.p2c("plan", *args, "--table", "quote", "--leave-read-only", "--out", str(plan_path))
    assert planned.exit_code == ExitCode.FAILED_ROWS, planned.output  # the read-only quotes are not sent
    document = _read(plan_path)
    assert document["options"]["leave_read_only"] is True
    actions = [r["action"] for r in document["tables"]["quote"]["rows"]]
    assert "read_only" in actions and "update" in actions

    applied, tables = _upload_json(stage, "--plan", str(plan_path))
    assert applied.exit_code == ExitCode.FAILED_ROWS, applied.output
    quote = tables["quote"]
    assert quote["plan_outdated"] == 0
    assert (quote["read_only"], quote["updated"]) == (actions.count("read_only"), actions.count("update"))

    # a plan made without it, applied with it: the options contradict, refused before any work
    plain = stage.db.parent / "plain.json"
    assert stage.p2c("plan", *args, "--table", "quote", "--out", str(plain)).exit_code == ExitCode.OK
    runs = _runs(stage)
    contradicted = stage.p2c("upload", *args, "--plan", str(plain), "--leave-read-only")
    assert contradicted.exit_code == ExitCode.CANNOT_RUN, contradicted.output
    assert "--leave-read-only" in contradicted.stderr and "Traceback" not in contradicted.output
    assert _runs(stage) == runs


def test_a_row_done_when_planned_and_changed_since_is_plan_outdated(stage: Stage) -> None:
    args = ["--env", stage.env, "--db", str(stage.db)]
    assert stage.p2c("upload", *args, "--table", "account").exit_code == ExitCode.OK
    plan_path = _write_plan(stage, "plan.json", "account")
    document = _read(plan_path)
    account = document["tables"]["account"]
    assert account["rows"] == [] and len(account["done_before"]) == account["summary"]["rows"]

    [(record_id,)] = stage.query("select lower(_source_record_id) from dualwrite.account order by 1 limit 1")
    edited = _api(stage).patch(
        f"{stage.emulator.service_root}accounts({record_id})",
        json={"msdyn_partynumber": "CHANGED-BEHIND"},
        headers={"If-Match": "*"},
    )
    assert edited.status_code == 204, edited.text
    writes = stage.state.api_writes("update")
    applied, tables = _upload_json(stage, "--plan", str(plan_path))
    assert applied.exit_code == ExitCode.FAILED_ROWS, applied.output
    assert (tables["account"]["plan_outdated"], tables["account"]["not_in_plan"]) == (1, 0)
    [(code, message)] = stage.query(
        "select error_code, message from upload.results join upload.runs using (run_id)"
        " where results.record_id = ? and not dry_run order by results.finished_at desc limit 1",
        [record_id],
    )
    assert code == "p2c:plan_outdated" and "done before" in message and "make a new plan" in message
    assert stage.state.api_writes("update") == writes
