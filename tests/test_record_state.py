"""`p2c plan` / `p2c upload` and records in read-only Sales states, on the sample data against the emulator:
as a non-admin the quotes not Draft, the orders not Active and their lines are never sent and each is reported
with `p2c:record_read_only` and the remedy; as an admin they are written and read back (`p2c:locked_field`
when a value does not stick); `--leave-read-only` leaves them alone."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import Result
from conftest import SampleBuild
from typer.testing import CliRunner

from p2c.cli import app
from p2c.emulator.record_state import RecordStatePolicy
from p2c.emulator.server import RunningEmulator, running_emulator
from p2c.emulator.state import EmulatorState
from p2c.errors import ExitCode

SECRET = "record-state-secret-41b"
CLIENT_ID = "p2c-record-state"
SECOND_ID = "p2c-record-state-2"  # P2C_CLIENT_ID_2 in the runs with two application users
SECOND_SECRET = "record-state-secret-2c7"
LINES = {
    "quotedetail": ("quote", "_quoteid_value"),
    "salesorderdetail": ("salesorder", "_salesorderid_value"),
}


@dataclass
class Stage:
    db: Path
    emulator: RunningEmulator
    state: EmulatorState

    def p2c(self, *args: str) -> Result:
        return CliRunner().invoke(app, [*args, "--env", self.emulator.base_url, "--db", str(self.db)])

    def failed_codes(self) -> dict[tuple[str, str], int]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            rows = con.execute(
                "select table_name, error_code, count(*) from upload.results r where status = 'failed' and "
                "run_id = (select max(run_id) from upload.runs where command = 'upload') group by 1, 2"
            ).fetchall()
        return {(t, c): n for t, c, n in rows}

    def read_only_ids(self) -> dict[str, set[str]]:
        """The records the emulator holds in a read-only state (lines by their parent's), per table."""
        quotes = {r["id"] for r in self.state.rows("quote") if r.get("statecode") != 0}
        orders = {r["id"] for r in self.state.rows("salesorder") if r.get("statecode") != 0}
        parents = {"quote": quotes, "salesorder": orders}
        found = {"quote": quotes, "salesorder": orders}
        for line, (parent, lookup) in LINES.items():
            found[line] = {r["id"] for r in self.state.rows(line) if r.get(lookup) in parents[parent]}
        return found


@pytest.fixture(scope="module")
def built(sample_build: SampleBuild) -> Path:
    for step in sample_build.steps.values():
        assert step.exit_code == 0, (step.args, step.output)
    return sample_build.db


def _stage(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: RecordStatePolicy) -> Any:
    db = tmp_path / "work.duckdb"
    shutil.copy(built, db)
    shutil.copytree(built.with_name(built.name + ".target"), db.with_name(db.name + ".target"))
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    emulator = running_emulator(
        tmp_path / "emu.sqlite",
        seed_from=db,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        record_state=policy,
        extra_users=[(SECOND_ID, SECOND_SECRET)],
    )
    return db, emulator


@pytest.fixture
def staged(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: Any) -> Iterator[Stage]:
    policy = getattr(request, "param", RecordStatePolicy())
    db, emulator_context = _stage(built, tmp_path, monkeypatch, policy)
    with emulator_context as emulator:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_cert))
        monkeypatch.setenv("P2C_TENANT_ID", "p2c-emulator")
        monkeypatch.setenv("P2C_AUTHORITY", emulator.authority)
        monkeypatch.setenv("P2C_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("P2C_CLIENT_SECRET", SECRET)
        if getattr(request, "param", None) in TWO_USERS:
            monkeypatch.setenv("P2C_CLIENT_ID_2", SECOND_ID)
            monkeypatch.setenv("P2C_CLIENT_SECRET_2", SECOND_SECRET)
        yield Stage(db, emulator, EmulatorState(emulator.state))


ADMIN = RecordStatePolicy(admins=frozenset({CLIENT_ID}))
LOCKED = RecordStatePolicy(admins=frozenset({CLIENT_ID}), locked_fields=True)
# two application users: only the second is an admin / an integration user with SOP integration on
SECOND_ADMIN = RecordStatePolicy(admins=frozenset({SECOND_ID}))
SECOND_INTEGRATION = RecordStatePolicy(integration_users=frozenset({SECOND_ID}), sop_integration=True)
TWO_USERS = (SECOND_ADMIN, SECOND_INTEGRATION)


def test_non_admin_plan_and_upload_leave_read_only_records_unsent(staged: Stage) -> None:
    read_only = staged.read_only_ids()
    assert read_only["quote"] and read_only["salesorder"] and read_only["salesorderdetail"]
    before = {t: {i: staged.state.row(t, i) for i in ids} for t, ids in read_only.items()}

    plan_file = staged.db.parent / "plan.json"
    planned = staged.p2c("plan", "--out", str(plan_file), "--format", "json")
    assert planned.exit_code == ExitCode.FAILED_ROWS, planned.output  # the read-only rows it would not send
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    for table, ids in read_only.items():
        rows = [r for r in plan["tables"][table]["rows"] if r["action"] == "read_only"]
        assert {r["record_id"] for r in rows} <= ids, table
        assert rows and all(r["code"] == "p2c:record_read_only" for r in rows), table
        assert all("System Administrator" in r["reason"] for r in rows), table
        assert any(
            n.startswith("record state:") and "not writable" in n for n in plan["tables"][table]["notes"]
        )
    shown = json.loads(planned.stdout)
    assert {t["table"]: t["read_only"] for t in shown["tables"]}["quote"] == len(
        [r for r in plan["tables"]["quote"]["rows"] if r["action"] == "read_only"]
    )

    uploaded = staged.p2c("upload", "--format", "json")
    assert uploaded.exit_code == ExitCode.FAILED_ROWS, uploaded.output
    for table, records in before.items():
        for record_id, row in records.items():
            assert staged.state.row(table, record_id) == row, (table, record_id)  # never sent
    failed = staged.failed_codes()
    assert set(failed) == {(t, "p2c:record_read_only") for t in failed_tables(plan)}
    for table, entry in plan["tables"].items():
        summary = entry["summary"]
        expected_failed = (
            summary["read_only"] + summary["not_found"] + summary["conflict"] + summary["cannot_write"]
        )
        assert failed.get((table, "p2c:record_read_only"), 0) == summary["read_only"], table
        updated = {t["table"]: t for t in json.loads(uploaded.stdout)["tables"]}[table]
        assert updated["failed"] == expected_failed, table
        assert updated["updated"] == summary["update"], table  # everything else is initialized


def failed_tables(plan: dict[str, Any]) -> set[str]:
    return {t for t, entry in plan["tables"].items() if entry["summary"]["read_only"]}


@pytest.mark.parametrize("staged", [ADMIN], indirect=True)
def test_admin_writes_read_only_records_and_reads_them_back(staged: Stage) -> None:
    uploaded = staged.p2c("upload", "--format", "json")
    assert uploaded.exit_code == ExitCode.OK, uploaded.output
    assert staged.failed_codes() == {}
    read_only = staged.read_only_ids()
    written = [staged.state.row("salesorder", i) for i in read_only["salesorder"]]
    # the read-only orders the build initializes were written (their company is set) by the admin
    assert sum(1 for row in written if row and row.get("_msdyn_company_value")) > 0


@pytest.mark.parametrize("staged", [ADMIN], indirect=True)
def test_leave_read_only_sends_none_of_them_even_as_admin(staged: Stage) -> None:
    read_only = staged.read_only_ids()
    before = {i: staged.state.row("salesorder", i) for i in read_only["salesorder"]}
    uploaded = staged.p2c("upload", "--leave-read-only", "--format", "json")
    assert uploaded.exit_code == ExitCode.FAILED_ROWS, uploaded.output
    assert {i: staged.state.row("salesorder", i) for i in before} == before
    assert ("salesorder", "p2c:record_read_only") in staged.failed_codes()


@pytest.mark.parametrize("staged", [LOCKED], indirect=True)
def test_a_locked_field_that_did_not_stick_fails_the_row(staged: Stage) -> None:
    uploaded = staged.p2c("upload", "--format", "json")
    assert uploaded.exit_code == ExitCode.FAILED_ROWS, uploaded.output
    failed = staged.failed_codes()
    assert any(code == "p2c:locked_field" for _, code in failed), failed
    assert not any(code == "p2c:record_read_only" for _, code in failed), failed


@pytest.mark.parametrize("staged", [SECOND_ADMIN], indirect=True)
def test_with_two_users_read_only_rows_go_to_the_admin_and_editable_rows_to_either(staged: Stage) -> None:
    read_only = staged.read_only_ids()
    plan_file = staged.db.parent / "plan.json"
    planned = staged.p2c("plan", "--out", str(plan_file), "--format", "json")
    assert planned.exit_code == ExitCode.OK, planned.output
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    for table in read_only:
        assert not [r for r in plan["tables"][table]["rows"] if r["action"] == "read_only"], table
        notes = [n for n in plan["tables"][table]["notes"] if n.startswith("record state:")]
        # who writes what: the admin the read-only rows, anyone the editable ones
        assert notes and "writable only by an admin (user2)" in notes[0], notes
        assert "editable (any user)" in notes[0] or table != "quote", notes

    uploaded = staged.p2c("upload", "--format", "json")
    assert uploaded.exit_code == ExitCode.OK, uploaded.output  # the emulator refuses user1 on those
    assert staged.failed_codes() == {}
    with duckdb.connect(str(staged.db), read_only=True) as con:
        users = dict(
            con.execute(
                "select record_id, string_agg(distinct app_user) from upload.results where status = "
                "'updated' and table_name = 'salesorder' group by 1"
            ).fetchall()
        )
    written = {i: users[i] for i in read_only["salesorder"] if i in users}
    assert written and set(written.values()) == {"user2"}, written
    assert "user1" in set(users.values())  # editable rows still spread over both users


@pytest.mark.parametrize("staged", [SECOND_INTEGRATION], indirect=True)
def test_submitted_orders_go_to_the_integration_user_and_the_rest_stay_read_only(staged: Stage) -> None:
    submitted = {r["id"] for r in staged.state.rows("salesorder") if r.get("statecode") == 1}
    assert submitted
    uploaded = staged.p2c("upload", "--format", "json")
    assert uploaded.exit_code == ExitCode.FAILED_ROWS, uploaded.output
    with duckdb.connect(str(staged.db), read_only=True) as con:
        rows = con.execute(
            "select record_id, status, error_code, app_user from upload.results where table_name = "
            "'salesorder' and run_id = (select max(run_id) from upload.runs where command = 'upload')"
        ).fetchall()
    by_id = {r[0]: r[1:] for r in rows}
    sent = [by_id[i] for i in submitted if i in by_id]
    assert sent and all(status == "updated" and user == "user2" for status, _, user in sent), sent
    refused = [v for i, v in by_id.items() if i not in submitted and v[1] == "p2c:record_read_only"]
    assert refused  # Invoiced, Fulfilled: nobody here may write them
