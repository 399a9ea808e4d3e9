"""`p2c plan`, `p2c upload` and `p2c results` against the local Dataverse emulator, through the real CLI.

The emulator is seeded from the landed sample (the records as they are after P2C is uninstalled: every record
with its GUID, no company, no dual-write values); its schema comes from the documented reference, not from our
model YAML. The upload must update those records in place (never create one), write only the initialized
columns, bind lookups by the environment's navigation properties, and account for every row."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import Result
from conftest import SAMPLE_BUILD_STEPS, SampleBuild
from typer.testing import CliRunner

from p2c.cli import app
from p2c.emulator.record_state import RecordStatePolicy
from p2c.emulator.server import RunningEmulator, running_emulator
from p2c.emulator.state import EmulatorState
from p2c.errors import ExitCode
from p2c.upload.runner import seal_plan

SECRET = "upload-test-secret-7f3a"
CLIENT_ID = "p2c-upload-test"


@pytest.fixture(scope="module")
def built(sample_build: SampleBuild) -> Path:
    """The sample set landed and built once for the session (sample -> load x3 -> build), shared read-only:
    every test works on its own copy (_copy_db)."""
    assert list(sample_build.steps) == list(SAMPLE_BUILD_STEPS)
    for step in sample_build.steps.values():
        assert step.exit_code == 0, (step.args, step.output)
    assert sample_build.db.with_name(sample_build.db.name + ".target").is_dir()  # what _copy_db copies
    return sample_build.db


@dataclass
class Stage:
    db: Path
    emulator: RunningEmulator
    state: EmulatorState

    def p2c(self, *args: str) -> Result:
        return CliRunner().invoke(app, list(args))

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with duckdb.connect(str(self.db)) as con:
            con.execute(sql, params or [])

    @property
    def env(self) -> str:
        return self.emulator.base_url


def _copy_db(built: Path, to: Path) -> Path:
    db = to / "work.duckdb"
    shutil.copy(built, db)
    shutil.copytree(built.with_name(built.name + ".target"), db.with_name(db.name + ".target"))
    return db


@pytest.fixture
def stage(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    db = _copy_db(built, tmp_path)
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    # the application user is a System Administrator: it may update the sample's read-only quotes and orders
    # (the refusals of other users are tests/test_record_state.py's)
    admin = RecordStatePolicy(admins=frozenset({CLIENT_ID}))
    with running_emulator(
        tmp_path / "emu.sqlite", seed_from=db, client_id=CLIENT_ID, client_secret=SECRET, record_state=admin
    ) as emulator:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_cert))
        monkeypatch.setenv("P2C_TENANT_ID", "p2c-emulator")
        monkeypatch.setenv("P2C_AUTHORITY", emulator.authority)
        monkeypatch.setenv("P2C_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("P2C_CLIENT_SECRET", SECRET)
        yield Stage(db, emulator, EmulatorState(emulator.state))


def _counts(stage: Stage) -> dict[str, int]:
    tables = ("account", "contact", "quote", "quotedetail", "salesorder", "salesorderdetail")
    return {t: stage.query(f"select count(*) from dualwrite.{t}")[0][0] for t in tables}


def _company_ids(stage: Stage) -> dict[str, str]:
    return {row["cdm_companycode"]: row["id"] for row in stage.state.rows("cdm_company")}


def test_upload_initializes_every_record_in_place(stage: Stage) -> None:
    targets = _counts(stage)
    before = {t: stage.state.count(t) for t in targets}
    uploaded = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--format", "json")
    assert uploaded.exit_code == ExitCode.OK, uploaded.output
    summary = json.loads(uploaded.stdout)
    assert {t["table"]: t["updated"] for t in summary["tables"]} == targets

    # nothing was created: the same records, updated by id
    assert {t: stage.state.count(t) for t in targets} == before
    assert sum(stage.state.api_writes("create", t) for t in targets) == 0
    assert stage.state.api_writes("update", "account") == targets["account"]

    companies = _company_ids(stage)
    accounts = {r["id"]: r for r in stage.state.rows("account")}
    expected = stage.query(
        "select lower(_source_record_id), msdyn_company, customertypecode, msdyn_partynumber, accountnumber"
        " from dualwrite.account"
    )
    for record_id, company, relationship, party, number in expected:
        written = accounts[record_id]
        assert written["_msdyn_company_value"] == companies[company], number
        assert (written["customertypecode"], written["msdyn_partynumber"]) == (relationship, party), number
    # only the initialized columns: the export's name and phone were not written again
    assert stage.state.api_writes("update", "account") == len(expected)

    lines = {r["id"]: r for r in stage.state.rows("salesorderdetail")}
    for record_id, company in stage.query(
        "select lower(_source_record_id), msdyn_company from dualwrite.salesorderdetail"
    ):
        assert lines[record_id]["_msdyn_company_value"] == companies[company]

    results = stage.p2c("results", "--db", str(stage.db), "--format", "json")
    assert results.exit_code == ExitCode.OK, results.output
    reconciliation = {r["table_name"]: r for r in json.loads(results.stdout)["reconciliation"]}
    for table, rows in targets.items():
        assert reconciliation[table] == {
            "table_name": table,
            "target_rows": rows,
            "updated": rows,
            "unchanged": 0,
            "failed": 0,
            "to_do": 0,
            "difference": 0,
            "not_in_build": 0,
        }


def test_the_trace_of_a_row_shows_its_upload_result(stage: Stage) -> None:
    [(number,)] = stage.query(
        "select accountnumber from dualwrite.account where msdyn_company = 'GBSI' order by 1 limit 1"
    )
    before = stage.p2c("lineage", "trace", "account", "GBSI", number, "--db", str(stage.db))
    assert before.exit_code == ExitCode.OK, before.output
    assert "upload: no upload result recorded yet" in before.stdout
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    after = stage.p2c("lineage", "trace", "account", "GBSI", number, "--db", str(stage.db))
    assert "upload: updated at " in after.stdout
    assert f"to {stage.env} (run " in after.stdout


def test_a_second_run_skips_what_is_done_and_a_plan_then_finds_it_unchanged(stage: Stage) -> None:
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    updates = stage.state.api_writes("update")
    again = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--format", "json")
    assert again.exit_code == ExitCode.OK
    tables = json.loads(again.stdout)["tables"]
    assert all(t["already_done"] == t["rows"] and t["updated"] == 0 for t in tables)
    assert stage.state.api_writes("update") == updates

    # a plan reads every record again, whatever earlier runs recorded: all unchanged now
    planned = stage.p2c(
        "plan", "--env", stage.env, "--db", str(stage.db), "--out", str(stage.db.parent / "p.json")
    )
    assert planned.exit_code == ExitCode.OK, planned.output
    plan = json.loads((stage.db.parent / "p.json").read_text(encoding="utf-8"))
    for table, entry in plan["tables"].items():
        assert entry["summary"]["update"] == 0, table


def test_plan_lists_changes_and_upload_applies_exactly_that_plan(stage: Stage) -> None:
    plan_path = stage.db.parent / "plan.json"
    planned = stage.p2c(
        "plan", "--env", stage.env, "--db", str(stage.db), "--table", "account", "--out", str(plan_path)
    )
    assert planned.exit_code == ExitCode.OK, planned.output
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    rows = plan["tables"]["account"]["rows"]
    assert {r["action"] for r in rows} == {"update"}
    first = rows[0]
    assert first["changes"]["_msdyn_company_value"]["current"] is None
    # only what differs: the relationship type the export kept is not sent again
    assert set(first["payload"]) >= {"msdyn_company@odata.bind", "msdyn_partynumber"}
    assert "name" not in first["payload"] and "telephone1" not in first["payload"]
    assert stage.state.api_writes("update") == 0  # a plan never writes

    # someone edits one of the planned records in Dataverse before the plan is applied
    changed = rows[1]["record_id"]
    session = _api(stage)
    edited = session.patch(
        f"{stage.emulator.service_root}accounts({changed})",
        json={"telephone1": "+1 555 0100"},
        headers={"If-Match": "*"},
    )
    assert edited.status_code == 204, edited.text

    applied = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--plan", str(plan_path))
    assert applied.exit_code == ExitCode.FAILED_ROWS, applied.output
    failed = stage.query(
        "select record_id, http_status, error_code from upload.results where status = 'failed'"
    )
    assert failed == [(changed, 412, "p2c:record_changed")]
    assert stage.state.api_writes("update") == len(rows)  # the plan's rows, the changed one refused


def test_bad_rows_fail_alone_with_their_reason(stage: Stage) -> None:
    [(bad_choice,), (bad_company,)] = stage.query(
        "select accountnumber from dualwrite.account where msdyn_company = 'USMF'"
        " order by accountnumber limit 2"
    )
    usmf = "msdyn_company = 'USMF' and accountnumber = ?"
    stage.execute(f"update dualwrite.account set customertypecode = 999 where {usmf}", [bad_choice])
    stage.execute(f"update dualwrite.account set msdyn_company = 'ZZZZ' where {usmf}", [bad_company])
    ghost = str(uuid.uuid4())
    [(contact,)] = stage.query("select msdyn_contactpersonid from dualwrite.contact order by 1 limit 1")
    stage.execute(
        "update dualwrite.contact set _source_record_id = ? where msdyn_contactpersonid = ?", [ghost, contact]
    )

    uploaded = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db))
    assert uploaded.exit_code == ExitCode.FAILED_ROWS, uploaded.output
    failed = stage.query(
        "select table_name, business_key, error_code from upload.results"
        " where status = 'failed' order by 1, 2"
    )
    # the account moved to an unknown company is no longer in USMF: the USMF rows that name it cannot bind
    # it by its record id, and its number is shared with GBSI's account, so they fail too, with the reason
    dependents = stage.query(
        "select 'contact', msdyn_contactpersonid from dualwrite.contact"
        " where msdyn_company = 'USMF' and parentcustomerid_account = ?"
        " union all select 'salesorder', msdyn_salesordernumber from dualwrite.salesorder"
        " where msdyn_company = 'USMF' and customerid_account = ?",
        [bad_company, bad_company],
    )
    assert dependents
    assert failed == sorted(
        [
            ("account", bad_choice, "0x8004431A"),
            ("account", bad_company, "p2c:reference_missing"),
            ("contact", contact, "p2c:not_found"),
            *((table, key, "p2c:reference_missing") for table, key in dependents),
        ]
    )
    targets = _counts(stage)
    updated = dict(
        stage.query("select table_name, count(*) from upload.results where status = 'updated' group by 1")
    )
    assert sum(targets.values()) - sum(updated.values()) == len(failed)

    listed = stage.p2c("results", "--db", str(stage.db), "--format", "csv")
    assert listed.exit_code == ExitCode.FAILED_ROWS
    assert listed.stdout.count("\n") == 1 + len(failed)  # header + the failed rows
    assert "0x8004431A" in listed.stdout


def test_a_company_already_set_to_another_company_is_a_conflict_never_overwritten(stage: Stage) -> None:
    [(record_id, number)] = stage.query(
        "select lower(_source_record_id), accountnumber from dualwrite.account where msdyn_company = 'USMF'"
        " order by accountnumber limit 1"
    )
    gbsi = _company_ids(stage)["GBSI"]
    session = _api(stage)
    preset = session.patch(
        f"{stage.emulator.service_root}accounts({record_id})",
        json={"msdyn_company@odata.bind": f"/cdm_companies({gbsi})"},
        headers={"If-Match": "*"},
    )
    assert preset.status_code == 204, preset.text
    plan_path = stage.db.parent / "plan.json"
    planned = stage.p2c(
        "plan", "--env", stage.env, "--db", str(stage.db), "--table", "account", "--out", str(plan_path)
    )
    assert planned.exit_code == ExitCode.FAILED_ROWS, planned.output  # the conflict the plan finds
    rows = json.loads(plan_path.read_text(encoding="utf-8"))["tables"]["account"]["rows"]
    conflicts = [r for r in rows if r["action"] == "conflict"]
    assert [(r["record_id"], r["code"]) for r in conflicts if r["code"] == "p2c:company_conflict"] == [
        (record_id, "p2c:company_conflict")
    ]
    # the GBSI account of the same number (if the sample has one) would now collide with that record's key
    for twin in (r for r in conflicts if r["code"] != "p2c:company_conflict"):
        assert (twin["business_key"], twin["code"]) == (number, "p2c:key_conflict")
        assert record_id in twin["reason"]

    uploaded = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--table", "account")
    assert uploaded.exit_code == ExitCode.FAILED_ROWS
    assert stage.state.row("account", record_id)["_msdyn_company_value"] == gbsi  # type: ignore[index]


def _plan_exit(plan_path: Path) -> ExitCode:
    """What `p2c plan` exits with for this plan: 1 when rows would fail (not found, conflicts...)."""
    tables = json.loads(plan_path.read_text(encoding="utf-8"))["tables"]
    failing = ("not_found", "conflict", "cannot_write", "read_only")
    would_fail = sum(t["summary"].get(kind, 0) for t in tables.values() for kind in failing)
    return ExitCode.FAILED_ROWS if would_fail else ExitCode.OK


def _plan(stage: Stage, table: str) -> tuple[Result, dict[str, Any]]:
    plan_path = stage.db.parent / f"plan-{table}.json"
    planned = stage.p2c(
        "plan", "--env", stage.env, "--db", str(stage.db), "--table", table, "--out", str(plan_path)
    )
    assert planned.exit_code == _plan_exit(plan_path), planned.output
    return planned, json.loads(plan_path.read_text(encoding="utf-8"))["tables"][table]


def test_a_party_number_already_used_in_the_company_is_a_conflict(stage: Stage) -> None:
    """Another account of the same company and relationship type already carries the party number an
    account is to get: after initialization both would sit on one party, so the plan refuses it."""
    (first, first_party, first_type), (other, _, _) = stage.query(
        "select lower(_source_record_id), msdyn_partynumber, customertypecode from dualwrite.account"
        " where msdyn_company = 'USMF' and msdyn_partynumber is not null order by accountnumber limit 2"
    )
    usmf = _company_ids(stage)["USMF"]
    preset = _api(stage).patch(
        f"{stage.emulator.service_root}accounts({other})",
        json={
            "msdyn_partynumber": first_party,
            "customertypecode": first_type,
            "msdyn_company@odata.bind": f"/cdm_companies({usmf})",
        },
        headers={"If-Match": "*"},
    )
    assert preset.status_code == 204, preset.text
    _, account = _plan(stage, "account")
    conflicts = {r["record_id"]: r for r in account["rows"] if r["action"] == "conflict"}
    assert list(conflicts) == [first]
    assert conflicts[first]["code"] == "p2c:party_number_used"
    assert first_party in conflicts[first]["reason"] and other in conflicts[first]["reason"]

    uploaded = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--table", "account")
    assert uploaded.exit_code == ExitCode.FAILED_ROWS
    assert stage.state.row("account", first).get("msdyn_partynumber") in (None, "")  # type: ignore[union-attr]


def test_an_alternate_key_another_record_already_has_is_a_conflict(stage: Stage) -> None:
    """A record made in Dataverse after the export already has (account number, company) of an exported
    account: the update would fail with a duplicate key, so the plan names the other record instead."""
    [(record_id, number)] = stage.query(
        "select lower(_source_record_id), accountnumber from dualwrite.account where msdyn_company = 'USMF'"
        " order by accountnumber limit 1"
    )
    usmf = _company_ids(stage)["USMF"]
    made = _api(stage).post(
        f"{stage.emulator.service_root}accounts",
        json={"name": "made after the export", "accountnumber": number,
              "msdyn_company@odata.bind": f"/cdm_companies({usmf})"},
    )  # fmt: skip
    assert made.status_code == 204, made.text
    other = made.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")").lower()
    _, account = _plan(stage, "account")
    conflicts = {r["record_id"]: r for r in account["rows"] if r["action"] == "conflict"}
    assert list(conflicts) == [record_id]
    assert conflicts[record_id]["code"] == "p2c:key_conflict"
    assert number in conflicts[record_id]["reason"] and other in conflicts[record_id]["reason"]


def test_an_environment_key_on_a_column_the_model_lacks_is_checked_too(stage: Stage) -> None:
    """The GAB key `msdyn_contactwithnocompany` (`msdyn_contacthasnocompany`, `msdyn_contactpersonid`) names
    a column the models do not make: it is read from the environment as it is, so an exported contact that
    would get the contact person id of another company-less contact is a conflict, not a failed write."""
    [(record_id, person)] = stage.query(
        "select lower(_source_record_id), msdyn_contactpersonid from dualwrite.contact"
        " where msdyn_company = 'USMF' order by msdyn_contactpersonid limit 1"
    )
    no_company = "192360000"  # True (dualwrite-target-schema.md)
    api = _api(stage)
    marked = api.patch(
        f"{stage.emulator.service_root}contacts({record_id})",
        json={"msdyn_contacthasnocompany": int(no_company)},
        headers={"If-Match": "*"},
    )
    assert marked.status_code == 204, marked.text
    made = api.post(
        f"{stage.emulator.service_root}contacts",
        json={"lastname": "made after the export", "msdyn_contactpersonid": person,
              "msdyn_contacthasnocompany": int(no_company)},
    )  # fmt: skip
    assert made.status_code == 204, made.text
    other = made.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")").lower()
    _, contact = _plan(stage, "contact")
    assert not [note for note in contact["notes"] if "is not checked" in note], contact["notes"]
    conflicts = {r["record_id"]: r for r in contact["rows"] if r["action"] == "conflict"}
    assert list(conflicts) == [record_id]
    assert conflicts[record_id]["code"] == "p2c:key_conflict"
    assert "msdyn_contactwithnocompany" in conflicts[record_id]["reason"]
    assert other in conflicts[record_id]["reason"]


def test_a_contract_key_the_environment_does_not_have_is_reported(stage: Stage) -> None:
    """The model contract's alternate key is a documented default: when the environment's keys differ, the
    plan says so (on stderr and in the plan) and checks the environment's keys."""
    manifest_path = stage.db.with_name(stage.db.name + ".target") / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    node = manifest["nodes"]["model.p2c_dualwrite.salesorder"]
    node["config"]["meta"]["dataverse"]["alternate_key"] = ["name", "msdyn_company"]
    if "dataverse" in node.get("meta", {}):
        node["meta"]["dataverse"]["alternate_key"] = ["name", "msdyn_company"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    planned, salesorder = _plan(stage, "salesorder")
    [note] = [n for n in salesorder["notes"] if not n.startswith("record state:")]  # its own note
    assert "(name, msdyn_company) is not a key of this environment" in note
    assert "msdyn_salesordernumber, msdyn_company" in note
    assert "note: salesorder: the model contract's alternate key" in planned.stderr


def test_without_the_lookup_in_the_metadata_the_contract_navigation_property_is_used(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment whose metadata lists no lookups for account: the model contract's navigation property
    is the documented default, said in the notes; the company lands. With a wrong name in the contract,
    Dataverse refuses the bind (0x80048d19) and the rows fail with that error: a wrong YAML key fails."""
    from p2c.dataverse.metadata import MetadataCache

    real = MetadataCache.lookups
    monkeypatch.setattr(
        MetadataCache, "lookups", lambda self, name: () if name == "account" else real(self, name)
    )
    uploaded = stage.p2c(
        "upload", "--env", stage.env, "--db", str(stage.db), "--table", "account", "--format", "json"
    )
    assert uploaded.exit_code == ExitCode.OK, uploaded.output
    notes = json.loads(uploaded.stdout)["notes"]["account"]
    assert any("navigation property msdyn_company is used" in note for note in notes), notes
    usmf = _company_ids(stage)["USMF"]
    [(record_id,)] = stage.query(
        "select lower(_source_record_id) from dualwrite.account where msdyn_company = 'USMF'"
        " order by accountnumber limit 1"
    )
    assert stage.state.row("account", record_id)["_msdyn_company_value"] == usmf  # type: ignore[index]

    manifest_path = stage.db.with_name(stage.db.name + ".target") / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    node = manifest["nodes"]["model.p2c_dualwrite.contact"]
    node["config"]["meta"]["dataverse"]["lookups"]["msdyn_company"]["navigation_property"] = "msdyn_Company"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setattr(
        MetadataCache, "lookups", lambda self, name: () if name == "contact" else real(self, name)
    )
    failed = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--table", "contact")
    assert failed.exit_code == ExitCode.FAILED_ROWS, failed.output
    codes = stage.query(
        "select distinct error_code from upload.results where table_name = 'contact' and status = 'failed'"
    )
    assert ("0x80048d19",) in codes


def test_dry_run_sends_no_write(stage: Stage) -> None:
    dry = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--dry-run", "--format", "json")
    assert dry.exit_code == ExitCode.OK, dry.output
    assert stage.state.api_writes("update") == 0
    tables = json.loads(dry.stdout)["tables"]
    assert all((t["would_update"], t["skipped"]) == (t["rows"], 0) for t in tables)  # each row once
    # a dry run does not count as done: the real run still does everything
    real = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--format", "json")
    assert all(t["already_done"] == 0 for t in json.loads(real.stdout)["tables"])


def test_no_secret_in_any_output_or_result(stage: Stage) -> None:
    outputs = [
        stage.p2c(
            "plan", "--env", stage.env, "--db", str(stage.db), "--out", str(stage.db.parent / "p.json")
        ),
        stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)),
        stage.p2c("results", "--db", str(stage.db), "--status", "updated", "--format", "json"),
    ]
    texts = [r.output for r in outputs] + [(stage.db.parent / "p.json").read_text(encoding="utf-8")]
    texts += ["\n".join(map(str, row)) for row in stage.query("select * from upload.results")]
    texts += ["\n".join(map(str, row)) for row in stage.query("select * from upload.runs")]
    assert not [t for t in texts if SECRET in t]


def test_without_a_build_or_credentials_upload_cannot_run(stage: Stage, tmp_path: Path) -> None:
    no_build = tmp_path / "empty.duckdb"
    duckdb.connect(str(no_build)).close()
    missing = stage.p2c("upload", "--env", stage.env, "--db", str(no_build))
    assert missing.exit_code == ExitCode.CANNOT_RUN
    assert "Traceback" not in missing.output

    wrong = CliRunner().invoke(
        app,
        ["upload", "--env", stage.env, "--db", str(stage.db)],
        env={"P2C_CLIENT_SECRET": "not-the-secret"},
    )
    assert wrong.exit_code == ExitCode.CANNOT_RUN, wrong.output
    assert "not-the-secret" not in wrong.output
    assert stage.state.api_writes("update") == 0


def _api(stage: Stage) -> Any:
    from emulator_fixtures import api_session

    return api_session(stage.emulator, CLIENT_ID)


# -- issue 19: what a user meets in `plan` and `upload` ---------------------------------------------------


def _records(stage: Stage) -> dict[str, list[dict[str, Any]]]:
    return {t: sorted(stage.state.rows(t), key=lambda r: str(r["id"])) for t in _counts(stage)}


def test_a_dry_run_with_or_without_a_plan_leaves_every_record_untouched(stage: Stage) -> None:
    plan_path = stage.db.parent / "plan.json"
    planned = stage.p2c("plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path))
    assert planned.exit_code == ExitCode.OK, planned.output
    before = _records(stage)
    for extra in (["--plan", str(plan_path)], []):
        dry = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--dry-run", *extra)
        assert dry.exit_code == ExitCode.OK, dry.output
        assert stage.state.api_writes("update") == 0, extra
        assert _records(stage) == before, extra
        assert "would update" in dry.stdout
    # the reviewed plan is then applied for real, every planned update sent
    applied = stage.p2c(
        "upload", "--env", stage.env, "--db", str(stage.db), "--plan", str(plan_path), "--format", "json"
    )
    assert applied.exit_code == ExitCode.OK, applied.output
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    to_update = sum(entry["summary"]["update"] for entry in plan["tables"].values())
    assert to_update and stage.state.api_writes("update") == to_update


def test_a_read_only_client_refuses_every_write(stage: Stage) -> None:
    from p2c.dataverse import ClientOptions, DataverseClient, UpdateRow

    [(record_id,)] = stage.query("select lower(_source_record_id) from dualwrite.account limit 1")
    options = ClientOptions(read_only=True)
    with DataverseClient.from_environment(stage.env, options=options) as client:
        try:
            results = client.update_many("account", [UpdateRow(record_id, {"telephone1": "+1 555 0199"})])
        except Exception as error:  # refused as a whole or row by row: either way nothing is sent
            assert "read-only" in str(error)
        else:
            assert [r.ok for r in results] == [False]
            assert "read-only" in results[0].message
    assert stage.state.api_writes("update") == 0
    assert stage.state.row("account", record_id)["telephone1"] != "+1 555 0199"  # type: ignore[index]


def test_plan_and_upload_refuse_a_database_whose_last_build_failed(stage: Stage) -> None:
    stage.execute("update p2c.builds set status = 'failed', failing = 2")
    plan_path = stage.db.parent / "plan.json"
    for args in (["plan", "--out", str(plan_path)], ["upload"]):
        refused = stage.p2c(*args, "--env", stage.env, "--db", str(stage.db))
        assert refused.exit_code == ExitCode.CANNOT_RUN, refused.output
        assert "FAILED (2 failing node(s))" in refused.stderr
        assert "--allow-unverified" in refused.stderr and "Traceback" not in refused.output
    assert not plan_path.exists()
    assert stage.state.api_writes("update") == 0
    allowed = stage.p2c(
        "upload", "--env", stage.env, "--db", str(stage.db), "--table", "account", "--allow-unverified"
    )
    assert allowed.exit_code == ExitCode.OK, allowed.output
    assert "NOT VERIFIED" in allowed.stderr
    assert stage.state.api_writes("update") == _counts(stage)["account"]


def test_an_outage_stops_the_run_cleanly_and_the_same_command_finishes_it(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from p2c.dataverse import DataverseClient
    from p2c.dataverse.errors import DataverseTransientError

    real = DataverseClient.update_many

    def down_at_contacts(self: DataverseClient, table: str, rows: Any) -> Any:
        if table == "contact":
            raise DataverseTransientError(
                "the service did not answer for 300 s (connection refused): gave up after the outage budget"
            )
        return real(self, table, rows)

    monkeypatch.setattr(DataverseClient, "update_many", down_at_contacts)
    args = ["upload", "--env", stage.env, "--db", str(stage.db), "--format", "json"]
    stopped = stage.p2c(*args)
    assert stopped.exit_code == ExitCode.CANNOT_RUN, stopped.output
    assert "Traceback" not in stopped.output and "internal error" not in stopped.output
    assert "run the same command again" in stopped.stderr
    assert "the service did not answer for 300 s" in stopped.stderr
    summary = json.loads(stopped.stdout)
    assert summary["stopped"]
    tables = {t["table"]: t for t in summary["tables"]}
    assert tables["account"]["updated"] == _counts(stage)["account"]
    [(status,)] = stage.query("select status from upload.runs")
    assert status == "interrupted"

    monkeypatch.setattr(DataverseClient, "update_many", real)
    again = stage.p2c(*args)
    assert again.exit_code == ExitCode.OK, again.output
    tables = {t["table"]: t for t in json.loads(again.stdout)["tables"]}
    assert tables["account"]["already_done"] == tables["account"]["rows"]
    assert tables["contact"]["updated"] == _counts(stage)["contact"]


def test_throttled_time_is_time_on_the_clock_not_the_sum_of_concurrent_waits(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row's request is held 30 s at the same moment: 30 s on the clock, the request-seconds apart."""
    from datetime import UTC, datetime

    from p2c.dataverse import DataverseClient
    from p2c.dataverse.results import RowResult, RowStatus, WriteMethod

    moment = datetime.now(UTC)

    def held_together(self: DataverseClient, table: str, rows: Any) -> Any:
        return [
            RowResult(row.record_id, RowStatus.UPDATED, 204, "", "", 2, 30.0, moment, moment,
                      WriteMethod.SINGLE, user=f"user{index}")
            for index, row in enumerate(rows)
        ]  # fmt: skip

    monkeypatch.setattr(DataverseClient, "update_many", held_together)
    uploaded = stage.p2c(
        "upload", "--env", stage.env, "--db", str(stage.db), "--table", "account", "--format", "json"
    )
    assert uploaded.exit_code == ExitCode.OK, uploaded.output
    summary = json.loads(uploaded.stdout)
    [account] = summary["tables"]
    assert account["throttled_s"] == 30.0
    assert account["throttle_request_s"] == 30.0 * _counts(stage)["account"]
    assert summary["throttled_s"] == 30.0
    [(recorded,)] = stage.query("select throttle_wait_s from upload.runs")
    assert recorded == 30.0


def test_plan_shows_per_table_what_it_would_do(stage: Stage) -> None:
    ghost = str(uuid.uuid4())
    [(contact,)] = stage.query("select msdyn_contactpersonid from dualwrite.contact order by 1 limit 1")
    stage.execute(
        "update dualwrite.contact set _source_record_id = ? where msdyn_contactpersonid = ?", [ghost, contact]
    )
    plan_path = stage.db.parent / "plan.json"
    args = ["plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path)]
    planned = stage.p2c(*args, "--format", "json")
    assert planned.exit_code == ExitCode.FAILED_ROWS, planned.output  # the record it does not find
    shown = {t["table"]: t for t in json.loads(planned.stdout)["tables"]}
    written = json.loads(plan_path.read_text(encoding="utf-8"))["tables"]
    for table, entry in written.items():
        for action in ("update", "unchanged", "not_found", "conflict", "cannot_write"):
            assert shown[table][action] == entry["summary"][action], (table, action)
        assert "failed" not in shown[table] and "skipped" not in shown[table]
    assert shown["contact"]["not_found"] == 1
    assert shown["contact"]["update"] == _counts(stage)["contact"] - 1

    text = stage.p2c(*args)
    assert text.exit_code == ExitCode.FAILED_ROWS, text.output
    header = next(line for line in text.stdout.splitlines() if "table" in line and "rows" in line)
    for title in ("to update", "unchanged", "not found", "conflicts", "cannot write"):
        assert title in header
    assert "skipped" not in text.stdout and "updated" not in header


def test_upload_of_a_plan_reports_planned_rows_that_left_the_build(stage: Stage) -> None:
    plan_path = stage.db.parent / "plan.json"
    planned = stage.p2c(
        "plan", "--env", stage.env, "--db", str(stage.db), "--table", "account", "--out", str(plan_path)
    )
    assert planned.exit_code == ExitCode.OK, planned.output
    [(gone, _number)] = stage.query(
        "select lower(_source_record_id), accountnumber from dualwrite.account order by 1 limit 1"
    )
    stage.execute("delete from dualwrite.account where lower(_source_record_id) = ?", [gone])
    args = ["upload", "--env", stage.env, "--db", str(stage.db), "--plan", str(plan_path)]
    applied = stage.p2c(*args, "--format", "json")
    assert applied.exit_code == ExitCode.OK, applied.output
    [dropped] = json.loads(applied.stdout)["dropped"]
    assert (dropped["table"], dropped["row_key"], dropped["action"]) == ("account", gone, "update")
    assert "no longer a target row" in dropped["reason"]
    assert "1 planned row(s) are no longer in the build" in applied.stderr
    assert stage.state.row("account", gone).get("_msdyn_company_value") is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[]", "not a p2c plan"),
        ('{"format": "something-else/9"}', "not a p2c plan"),
        ("not json at all", "cannot read the plan"),
        ("UNKNOWN_ACTION", "unknown action 'delete'"),
        ("OTHER_ENVIRONMENT", "was made for https://contoso.crm4.dynamics.com"),
        ("OTHER_DATABASE", "was made from the database"),
    ],
)
def test_a_plan_file_that_does_not_fit_is_a_usage_error_before_any_work(
    stage: Stage, content: str, expected: str
) -> None:
    from p2c.upload.runner import PLAN_FORMAT

    head = {
        "format": PLAN_FORMAT,
        "run_id": "r",
        "environment": stage.env,
        "organization_id": "o",
        "database": str(stage.db.resolve()),
        "options": {},
    }
    row = {"row_key": "x", "action": "update", "payload": {}, "etag": None}
    documents = {
        "UNKNOWN_ACTION": {**head, "tables": {"account": {"rows": [{**row, "action": "delete"}]}}},
        "OTHER_ENVIRONMENT": {**head, "environment": "https://contoso.crm4.dynamics.com", "tables": {}},
        "OTHER_DATABASE": {**head, "database": "/elsewhere/other.duckdb", "tables": {}},
    }
    plan_path = stage.db.parent / "odd-plan.json"
    text = json.dumps(seal_plan(documents[content])) if content in documents else content
    plan_path.write_text(text, encoding="utf-8")
    result = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--plan", str(plan_path))
    assert result.exit_code == ExitCode.CANNOT_RUN, result.output
    assert expected in result.stderr
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert stage.state.api_writes("update") == 0
    assert not stage.query("select * from information_schema.tables where table_schema = 'upload'")


def test_plan_out_a_folder_or_an_unwritable_path_fails_before_the_plan_runs(stage: Stage) -> None:
    folder = stage.db.parent / "plans"
    folder.mkdir()
    under_a_file = stage.db / "plan.json"  # the database file is no folder
    for out, expected in ((folder, "is a folder"), (under_a_file, "is a file, not a folder")):
        result = stage.p2c("plan", "--env", stage.env, "--db", str(stage.db), "--out", str(out))
        assert result.exit_code == ExitCode.CANNOT_RUN, result.output
        assert expected in result.stderr
    assert not stage.query("select * from information_schema.tables where table_schema = 'upload'")


def test_plain_output_has_no_progress_bars(stage: Stage) -> None:
    uploaded = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--table", "account")
    assert uploaded.exit_code == ExitCode.OK, uploaded.output
    assert "━" not in uploaded.output and "\x1b[" not in uploaded.output


# --- what "done" means: these values, this environment, still in Dataverse ---------------------------------


def _account_row(stage: Stage) -> tuple[str, str, str]:
    [(record_id, number, party)] = stage.query(
        "select lower(_source_record_id), accountnumber, msdyn_partynumber from dualwrite.account"
        " where msdyn_company = 'USMF' and msdyn_partynumber is not null order by accountnumber limit 1"
    )
    return record_id, number, party


def _results_of(stage: Stage, table: str, record_id: str) -> list[tuple[Any, ...]]:
    return stage.query(
        "select run_id, status, error_code, message from upload.results"
        " where table_name = ? and record_id = ? order by finished_at",
        [table, record_id],
    )


def test_a_value_corrected_in_the_export_is_sent_again(stage: Stage) -> None:
    """Done is remembered for the values a row carried: after the export is corrected and built again, the
    row whose value changed is sent, Dataverse holds the new value, and results and lineage say so."""
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    record_id, number, _ = _account_row(stage)
    # what `p2c load` + `p2c build` of a corrected export leaves in the mart: one value differs
    stage.execute(
        "update dualwrite.account set msdyn_partynumber = 'PTY-CORRECTED' where lower(_source_record_id) = ?",
        [record_id],
    )
    again = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--format", "json")
    assert again.exit_code == ExitCode.OK, again.output
    account = next(t for t in json.loads(again.stdout)["tables"] if t["table"] == "account")
    assert (account["updated"], account["already_done"]) == (1, account["rows"] - 1)
    assert stage.state.row("account", record_id)["msdyn_partynumber"] == "PTY-CORRECTED"  # type: ignore[index]
    assert [status for _, status, _, _ in _results_of(stage, "account", record_id)] == ["updated", "updated"]
    trace = stage.p2c("lineage", "trace", "account", "USMF", number, "--db", str(stage.db))
    assert "upload: updated at " in trace.stdout


def test_a_done_row_changed_in_dataverse_is_reported_and_sent_again(stage: Stage) -> None:
    """Every run compares done rows with Dataverse too: a value changed behind p2c's back is planned as
    `done_but_differs` and sent again by the upload; the rows that still match stay done before."""
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    record_id, _, party = _account_row(stage)
    edited = _api(stage).patch(
        f"{stage.emulator.service_root}accounts({record_id})",
        json={"msdyn_partynumber": "CHANGED-BEHIND"},
        headers={"If-Match": "*"},
    )
    assert edited.status_code == 204, edited.text
    _, account = _plan(stage, "account")
    [row] = account["rows"]
    assert (row["record_id"], row["action"], row["code"]) == (
        record_id,
        "done_but_differs",
        "p2c:done_but_differs",
    )
    assert row["changes"]["msdyn_partynumber"] == {"current": "CHANGED-BEHIND", "new": party}
    assert account["summary"]["already_done"] == account["summary"]["rows"] - 1

    again = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--format", "json")
    assert again.exit_code == ExitCode.OK, again.output
    assert stage.state.row("account", record_id)["msdyn_partynumber"] == party  # type: ignore[index]
    last = _results_of(stage, "account", record_id)[-1]
    assert last[1:3] == ("updated", "p2c:done_but_differs")
    listed = stage.p2c("results", "--db", str(stage.db), "--status", "updated", "--format", "json")
    codes = {(r["record_id"], r["error_code"]) for r in json.loads(listed.stdout)["rows"]}
    assert (record_id, "p2c:done_but_differs") in codes


def test_another_environment_at_the_same_url_is_not_done(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Done is kept per environment as WhoAmI identifies it (OrganizationId), not per URL: an environment
    reset or restored at the same URL starts from nothing done."""
    from p2c.dataverse import DataverseClient
    from p2c.dataverse.results import WhoAmI

    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    real = DataverseClient.whoami
    other = str(uuid.uuid4())
    monkeypatch.setattr(
        DataverseClient, "whoami", lambda self: WhoAmI(real(self).user_id, real(self).business_unit_id, other)
    )
    again = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--format", "json")
    assert again.exit_code == ExitCode.OK, again.output
    tables = json.loads(again.stdout)["tables"]
    # every row was read again and found holding its values: recorded unchanged there, none done before
    assert all(t["already_done"] == 0 and t["unchanged"] == t["rows"] for t in tables), tables
    assert stage.query("select count(distinct organization_id) from upload.runs") == [(2,)]
    report = json.loads(stage.p2c("results", "--db", str(stage.db), "--format", "json").stdout)
    assert all(r["unchanged"] == r["target_rows"] for r in report["reconciliation"])


def test_an_environment_reset_at_the_same_url_is_uploaded_again(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upload, then the environment is restored to its state before the upload at the same URL: the next
    plan and upload do not call it done; everything is sent again and Dataverse holds the values."""
    db = _copy_db(built, tmp_path)
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    monkeypatch.setenv("P2C_TENANT_ID", "p2c-emulator")
    monkeypatch.setenv("P2C_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("P2C_CLIENT_SECRET", SECRET)

    def emulator(state: str, port: int = 0) -> Any:
        return running_emulator(
            tmp_path / state,
            seed_from=db,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            port=port,
            record_state=RecordStatePolicy(admins=frozenset({CLIENT_ID})),
        )

    def run(emu: RunningEmulator, *args: str) -> Result:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_cert))
        monkeypatch.setenv("P2C_AUTHORITY", emu.authority)
        return CliRunner().invoke(app, [*args, "--env", emu.base_url, "--db", str(db), "--format", "json"])

    with emulator("first.sqlite") as first:
        assert run(first, "plan", "--out", str(tmp_path / "before.json")).exit_code == ExitCode.OK
        assert run(first, "upload").exit_code == ExitCode.OK
        url, port = first.base_url, int(first.base_url.rsplit(":", 1)[1].split("/")[0])
    with emulator("restored.sqlite", port) as restored:
        assert restored.base_url == url
        # a plan read from the environment before it was restored is not applied to it
        stale = run(restored, "upload", "--plan", str(tmp_path / "before.json"))
        assert stale.exit_code == ExitCode.CANNOT_RUN, stale.output
        assert "reset or restored at the same URL" in " ".join(stale.output.split())
        assert EmulatorState(restored.state).api_writes("update", "account") == 0
        planned = run(restored, "plan", "--out", str(tmp_path / "plan.json"))
        assert planned.exit_code == ExitCode.OK, planned.output
        assert all(t["already_done"] == 0 for t in json.loads(planned.stdout)["tables"])
        uploaded = run(restored, "upload")
        assert uploaded.exit_code == ExitCode.OK, uploaded.output
        tables = json.loads(uploaded.stdout)["tables"]
        assert all(t["updated"] == t["rows"] and t["already_done"] == 0 for t in tables), tables
        state = EmulatorState(restored.state)
        companies = {r["cdm_companycode"]: r["id"] for r in state.rows("cdm_company")}
        with duckdb.connect(str(db), read_only=True) as con:
            expected = con.execute(
                "select lower(_source_record_id), msdyn_company from dualwrite.account"
            ).fetchall()
        accounts = {r["id"]: r for r in state.rows("account")}
        assert all(accounts[rid]["_msdyn_company_value"] == companies[c] for rid, c in expected)


def test_results_keep_one_latest_outcome_per_record(stage: Stage) -> None:
    """A record failed under one row key (exported without its id) and was updated later under its id: the
    reconciliation and the failed rows count it once, by its latest outcome."""
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    record_id, number, _ = _account_row(stage)
    [(run_id,)] = stage.query("select run_id from upload.runs where command = 'upload'")
    stage.execute(
        "insert into upload.results (run_id, table_name, row_key, record_id, business_key, status,"
        " error_code, message, finished_at) values (?, 'account', 'accounts.xlsx##7', ?, ?, 'failed',"
        " 'p2c:not_identified', 'older', timestamp '2000-01-01')",
        [run_id, record_id, number],
    )
    listed = stage.p2c("results", "--db", str(stage.db), "--format", "json")
    assert listed.exit_code == ExitCode.OK, listed.output
    assert json.loads(listed.stdout)["rows"] == []


def test_the_next_tables_writes_start_while_the_last_ones_are_in_flight_and_tallies_stay_per_table(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pipeline over the chunks of every table: the contacts' first write goes out while the accounts'
    write is still in flight (the accounts' is held until then, for at most 10 s), and every table keeps its
    own tally, in dependency order, with one outcome per row."""
    import threading
    import time

    from p2c.dataverse import DataverseClient

    real = DataverseClient.update_many
    contacts_started = threading.Event()
    spans: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def traced(self: DataverseClient, table: str, rows: Any, **options: Any) -> Any:
        started = time.monotonic()
        if table == "contact":
            contacts_started.set()
        if table == "account":
            contacts_started.wait(timeout=10)
        try:
            return real(self, table, rows, **options)
        finally:
            with lock:
                spans.append((table, started, time.monotonic()))

    monkeypatch.setattr(DataverseClient, "update_many", traced)
    uploaded = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--format", "json")
    assert uploaded.exit_code == ExitCode.OK, uploaded.output

    first_contact = min(start for table, start, _ in spans if table == "contact")
    last_account_end = max(end for table, _, end in spans if table == "account")
    assert first_contact < last_account_end, "the contacts waited for the accounts' last write to end"

    targets = _counts(stage)
    summary = json.loads(uploaded.stdout)
    assert [t["table"] for t in summary["tables"]] == list(targets)  # dependency order, as before
    for tally in summary["tables"]:
        rows = targets[tally["table"]]
        assert (tally["rows"], tally["updated"], tally["failed"], tally["already_done"]) == (rows, rows, 0, 0)
    recorded = stage.query(
        "select table_name, count(*), count(distinct row_key) from upload.results group by 1"
    )
    assert {table: (n, distinct) for table, n, distinct in recorded} == {
        t: (n, n) for t, n in targets.items()
    }


# -- issue fix19: `upload --plan` accounts for every row, its dry run is the real run's forecast ----------


def _upload_json(stage: Stage, *args: str) -> tuple[Result, dict[str, dict[str, Any]]]:
    result = stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--format", "json", *args)
    return result, {t["table"]: t for t in json.loads(result.stdout)["tables"]}


def _reconciliation(stage: Stage) -> dict[str, dict[str, Any]]:
    listed = stage.p2c("results", "--db", str(stage.db), "--format", "json")
    assert "Traceback" not in listed.output, listed.output
    return {r["table_name"]: r for r in json.loads(listed.stdout)["reconciliation"]}


def _balanced(stage: Stage) -> dict[str, dict[str, Any]]:
    reconciliation = _reconciliation(stage)
    for table, row in reconciliation.items():
        parts = row["updated"] + row["unchanged"] + row["failed"] + row["to_do"]
        assert row["target_rows"] == parts and row["difference"] == 0, (table, row)
    return reconciliation


def _ghost_contact(stage: Stage) -> str:
    ghost = str(uuid.uuid4())
    [(contact,)] = stage.query("select msdyn_contactpersonid from dualwrite.contact order by 1 limit 1")
    stage.execute(
        "update dualwrite.contact set _source_record_id = ? where msdyn_contactpersonid = ?", [ghost, contact]
    )
    return ghost


def _write_plan(stage: Stage, name: str, *tables: str) -> Path:
    plan_path = stage.db.parent / name
    for_tables = [arg for table in tables for arg in ("--table", table)]
    planned = stage.p2c(
        "plan", "--env", stage.env, "--db", str(stage.db), *for_tables, "--out", str(plan_path)
    )
    assert planned.exit_code == _plan_exit(plan_path), planned.output
    return plan_path


def _cut_plan(plan_path: Path, table: str, keep: int) -> None:
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    plan["tables"][table]["rows"] = plan["tables"][table]["rows"][:keep]
    # a plan as a newer build would meet it (rows added since): cut, and sealed again as `p2c plan` would
    plan_path.write_text(json.dumps(seal_plan(plan)), encoding="utf-8")


def test_upload_of_a_plan_records_its_failed_rows_and_the_rows_left_out(stage: Stage) -> None:
    ghost = _ghost_contact(stage)
    plan_path = _write_plan(stage, "plan.json", "account", "contact")
    _cut_plan(plan_path, "account", 2)
    targets = _counts(stage)

    applied, tables = _upload_json(stage, "--plan", str(plan_path))
    assert applied.exit_code == ExitCode.FAILED_ROWS, applied.output
    account, contact = tables["account"], tables["contact"]
    assert (account["updated"], account["not_in_plan"]) == (2, targets["account"] - 2)
    assert (contact["failed"], contact["not_found"], contact["updated"]) == (1, 1, targets["contact"] - 1)
    assert "left out" in applied.stderr and "p2c results" in applied.stderr
    failed = stage.query(
        "select record_id, error_code from upload.results join upload.runs using (run_id)"
        " where results.status = 'failed' and not dry_run"
    )
    assert failed == [(ghost, "p2c:not_found")]
    assert stage.state.api_writes("update") == 2 + targets["contact"] - 1

    reconciliation = _balanced(stage)
    assert reconciliation["account"]["to_do"] == targets["account"] - 2
    assert reconciliation["contact"]["failed"] == 1


def test_upload_of_a_plan_of_unchanged_rows_records_them_and_refuses_an_outdated_plan(stage: Stage) -> None:
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--table", "account").exit_code == 0
    stage.execute("delete from upload.results")  # nothing done before: every row is read and found unchanged
    plan_path = _write_plan(stage, "plan.json", "account")
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    assert {r["action"] for r in plan["tables"]["account"]["rows"]} == {"unchanged"}
    targets = _counts(stage)
    writes = stage.state.api_writes("update")

    applied, tables = _upload_json(stage, "--plan", str(plan_path))
    assert applied.exit_code == ExitCode.OK, applied.output
    assert tables["account"]["unchanged"] == targets["account"]
    assert _balanced(stage)["account"]["unchanged"] == targets["account"]

    # a value changed in DuckDB since this plan: the row is an update now, which nobody reviewed
    stage.execute("delete from upload.results")
    [(outdated,)] = stage.query("select _source_record_id from dualwrite.account order by 1 limit 1")
    stage.execute(
        "update dualwrite.account set msdyn_partynumber = 'PN-NEW' where _source_record_id = ?", [outdated]
    )
    again, tables = _upload_json(stage, "--plan", str(plan_path))
    assert again.exit_code == ExitCode.FAILED_ROWS, again.output
    assert (tables["account"]["plan_outdated"], tables["account"]["failed"]) == (1, 1)
    [(code, message)] = stage.query(
        "select error_code, message from upload.results join upload.runs using (run_id)"
        " where results.status = 'failed' and not dry_run"
    )
    assert code == "p2c:plan_outdated" and "make a new plan" in message
    assert stage.state.api_writes("update") == writes
    _balanced(stage)


def test_a_plan_row_changed_in_duckdb_has_its_own_code(stage: Stage) -> None:
    plan_path = _write_plan(stage, "plan.json", "account")
    [(changed,)] = stage.query("select _source_record_id from dualwrite.account order by 1 limit 1")
    stage.execute(
        "update dualwrite.account set msdyn_partynumber = 'PN-NEW' where _source_record_id = ?", [changed]
    )
    applied, _ = _upload_json(stage, "--plan", str(plan_path))
    assert applied.exit_code == ExitCode.FAILED_ROWS, applied.output
    [(code, message)] = stage.query(
        "select error_code, message from upload.results join upload.runs using (run_id)"
        " where results.status = 'failed' and not dry_run"
    )
    assert code == "p2c:plan_row_changed" and "changed in DuckDB" in message


def test_a_dry_run_of_a_plan_forecasts_exactly_what_the_upload_of_it_does(stage: Stage) -> None:
    _ghost_contact(stage)
    plan_path = _write_plan(stage, "plan.json", "account", "contact")
    _cut_plan(plan_path, "account", 2)
    dry, forecast = _upload_json(stage, "--plan", str(plan_path), "--dry-run")
    assert stage.state.api_writes("update") == 0
    assert set(forecast) == {"account", "contact"}  # the plan's tables, not every table of the build
    for table in forecast.values():  # every row counted once
        once = table["would_update"] + table["unchanged"] + table["failed"] + table["not_in_plan"]
        assert once + table["already_done"] == table["rows"], table
    applied, done = _upload_json(stage, "--plan", str(plan_path))
    assert dry.exit_code == applied.exit_code == ExitCode.FAILED_ROWS, (dry.output, applied.output)
    assert forecast["account"]["would_update"] == 2
    for name, table in done.items():
        expected = {**table, "would_update": table["updated"], "updated": 0}
        keys = ("would_update", "updated", "unchanged", "failed", "not_found", "conflict", "not_in_plan")
        assert {k: forecast[name][k] for k in keys} == {k: expected[k] for k in keys}, name


def test_the_plan_shows_rows_done_but_changed_in_dataverse(stage: Stage) -> None:
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db)).exit_code == ExitCode.OK
    record_id, _, _ = _account_row(stage)
    edited = _api(stage).patch(
        f"{stage.emulator.service_root}accounts({record_id})",
        json={"msdyn_partynumber": "CHANGED-BEHIND"},
        headers={"If-Match": "*"},
    )
    assert edited.status_code == 204, edited.text
    args = ["plan", "--env", stage.env, "--db", str(stage.db), "--table", "account"]
    shown = stage.p2c(*args, "--out", str(stage.db.parent / "p.json"), "--format", "json")
    [account] = json.loads(shown.stdout)["tables"]
    assert account["done_but_differs"] == 1
    as_csv = stage.p2c(*args, "--out", str(stage.db.parent / "p.json"), "--format", "csv")
    assert "done_but_differs" in as_csv.stdout.splitlines()[0]
    as_table = stage.p2c(*args, "--out", str(stage.db.parent / "p.json"))
    assert "differs" in as_table.stdout
    uploaded, tables = _upload_json(stage)
    assert uploaded.exit_code == ExitCode.OK, uploaded.output
    assert (tables["account"]["done_but_differs"], tables["account"]["updated"]) == (1, 1)


def test_without_a_database_the_commands_say_so_before_the_build(tmp_path: Path) -> None:
    missing = tmp_path / "p2c.duckdb"
    commands = (
        ["results"],
        ["plan", "--env", "https://contoso.crm4.dynamics.com", "--out", str(tmp_path / "p.json")],
        ["upload", "--env", "https://contoso.crm4.dynamics.com", "--dry-run"],
    )
    for command in commands:
        result = CliRunner().invoke(app, [*command, "--db", str(missing)])
        assert result.exit_code == ExitCode.CANNOT_RUN, (command, result.output)
        assert "no database" in result.stderr and "p2c load" in result.stderr, result.stderr
        assert "manifest.json" not in result.stderr


def test_results_say_what_kind_of_rows_there_are_none_of(stage: Stage) -> None:
    assert stage.p2c("upload", "--env", stage.env, "--db", str(stage.db), "--table", "account").exit_code == 0
    shown = stage.p2c("results", "--db", str(stage.db))
    assert "no failed rows" in shown.output
    skipped = stage.p2c("results", "--db", str(stage.db), "--status", "skipped")
    assert "no rows with status skipped" in skipped.output


def test_writes_in_flight_at_a_stop_are_said_and_settled_apart_by_the_next_run(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from p2c.dataverse import DataverseClient
    from p2c.dataverse.errors import DataverseTransientError

    real = DataverseClient.update_many

    def answer_lost_at_contacts(self: DataverseClient, table: str, rows: Any) -> Any:
        answered = real(self, table, rows)
        if table == "contact":  # Dataverse wrote them, the client gave up before their answers came back
            raise DataverseTransientError(
                "the service did not answer for 300 s: gave up after the outage budget"
            )
        return answered

    monkeypatch.setattr(DataverseClient, "update_many", answer_lost_at_contacts)
    stopped, tables = _upload_json(stage)
    assert stopped.exit_code == ExitCode.CANNOT_RUN, stopped.output
    contacts = _counts(stage)["contact"]
    assert stage.state.api_writes("update", "contact") == contacts
    assert tables["contact"]["updated"] == 0
    [(run_id,)] = stage.query("select run_id from upload.runs")
    assert f"{contacts} more row(s) were being sent" in stopped.stderr, stopped.stderr
    assert "the next run reads them back" in stopped.stderr

    monkeypatch.setattr(DataverseClient, "update_many", real)
    again, tables = _upload_json(stage)
    assert again.exit_code == ExitCode.OK, again.output
    assert (tables["contact"]["settled"], tables["contact"]["updated"]) == (contacts, 0)
    assert f"{contacts} row(s) written by the interrupted run {run_id} were confirmed" in again.stderr
    assert stage.state.api_writes("update", "contact") == contacts
    _balanced(stage)


def test_a_stopped_run_records_every_write_dataverse_answered(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks written beside the one that met the outage (other tables' too: one pipeline carries them
    all) were answered: the stopped run records them as its own, not leaving them for the next run."""
    import threading
    import time

    from p2c.dataverse import DataverseClient
    from p2c.dataverse.errors import DataverseTransientError

    real = DataverseClient.update_many
    answered: set[str] = set()
    lock = threading.Lock()
    first_contact = threading.Event()

    def outage_at_the_first_contacts(self: DataverseClient, table: str, rows: Any) -> Any:
        if table == "contact" and not first_contact.is_set():
            first_contact.set()
            time.sleep(1.0)  # the chunks sent after it are answered before it gives up
            raise DataverseTransientError(
                "the service did not answer for 300 s: gave up after the outage budget"
            )
        results = real(self, table, rows)
        with lock:
            answered.update(r.record_id.lower() for r in results if r.ok)
        return results

    monkeypatch.setattr(DataverseClient, "update_many", outage_at_the_first_contacts)
    stopped, _ = _upload_json(stage)
    assert stopped.exit_code == ExitCode.CANNOT_RUN, stopped.output
    recorded = {
        str(record_id).lower()
        for (record_id,) in stage.query("select record_id from upload.results where status = 'updated'")
    }
    assert answered, "no write was answered before the stop"
    assert answered <= recorded, sorted(answered - recorded)[:5]

    monkeypatch.setattr(DataverseClient, "update_many", real)
    again, _ = _upload_json(stage)
    assert again.exit_code == ExitCode.OK, again.output
    _balanced(stage)


def test_a_dry_run_of_a_plan_sees_a_record_changed_in_dataverse_since_the_plan(stage: Stage) -> None:
    """The upload of the plan would meet a 412 on that record (its If-Match is the plan's ETag): the dry run
    says so, with the same code, instead of "would update"."""
    plan_path = stage.db.parent / "plan-etag.json"
    planned = stage.p2c("plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path))
    assert planned.exit_code == ExitCode.OK, planned.output
    record_id, _, _ = _account_row(stage)
    edited = _api(stage).patch(
        f"{stage.emulator.service_root}accounts({record_id})",
        json={"telephone1": "+1 555 0100"},
        headers={"If-Match": "*"},
    )
    assert edited.status_code == 204, edited.text
    args = ["--plan", str(plan_path), "--table", "account"]
    dry, _ = _upload_json(stage, "--dry-run", *args)
    real, _ = _upload_json(stage, *args)
    assert dry.exit_code == real.exit_code == ExitCode.FAILED_ROWS, (dry.output, real.output)
    outcomes = stage.query(
        "select u.dry_run, r.error_code from upload.results r join upload.runs u using (run_id)"
        " where r.record_id = ? and u.command = 'upload'",
        [record_id],
    )
    assert sorted(outcomes) == [(False, "p2c:record_changed"), (True, "p2c:record_changed")], outcomes


def test_a_plan_whose_rows_would_fail_exits_1(stage: Stage) -> None:
    """A plan is a finding: rows the upload would fail (here a record deleted in Dataverse) make it exit 1."""
    record_id, _, _ = _account_row(stage)
    deleted = _api(stage).delete(
        f"{stage.emulator.service_root}accounts({record_id})", headers={"If-Match": "*"}
    )
    assert deleted.status_code == 204, deleted.text
    plan_path = stage.db.parent / "plan-missing.json"
    planned = stage.p2c("plan", "--env", stage.env, "--db", str(stage.db), "--out", str(plan_path))
    assert planned.exit_code == ExitCode.FAILED_ROWS, planned.output
    document = json.loads(plan_path.read_text(encoding="utf-8"))
    assert document["tables"]["account"]["summary"]["not_found"] == 1
