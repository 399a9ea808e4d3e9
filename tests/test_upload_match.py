"""`--match`: rows exported without their record id, identified by columns the user names (issue 19).

Against the emulator seeded from the landed sample, through the real CLI. The sample's contacts all carry
their record id, so each test takes it away from some of them in its copy of the database: the records are
still in Dataverse, and only a unique match by the named columns may find them."""

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
from p2c.dataverse.client import DataverseClient
from p2c.emulator.record_state import RecordStatePolicy
from p2c.emulator.server import RunningEmulator, running_emulator
from p2c.emulator.state import EmulatorState
from p2c.errors import ExitCode

SECRET = "match-test-secret-5c1e"
CLIENT_ID = "p2c-match-test"
ROW_KEY = "_source_file || '#' || coalesce(_source_sheet, '') || '#' || cast(_source_row as varchar)"


@dataclass
class Stage:
    db: Path
    emulator: RunningEmulator
    state: EmulatorState

    def p2c(self, *args: str) -> Result:
        return CliRunner().invoke(app, list(args))

    def plan(self, *args: str) -> tuple[Result, dict[str, Any]]:
        path = self.db.parent / "plan.json"
        result = self.p2c("plan", "--env", self.env, "--db", str(self.db), "--out", str(path), *args)
        plan = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        return result, plan

    def upload(self, *args: str) -> Result:
        return self.p2c("upload", "--env", self.env, "--db", str(self.db), *args)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with duckdb.connect(str(self.db)) as con:
            con.execute(sql, params or [])

    @property
    def env(self) -> str:
        return self.emulator.base_url

    def patch(self, entity_set: str, record_id: str, values: dict[str, Any]) -> None:
        from emulator_fixtures import api_session

        answer = api_session(self.emulator, CLIENT_ID).patch(
            f"{self.emulator.service_root}{entity_set}({record_id})", json=values, headers={"If-Match": "*"}
        )
        assert answer.status_code == 204, answer.text


@pytest.fixture
def stage(sample_build: SampleBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    assert sample_build.steps["build"].exit_code == 0
    db = tmp_path / "work.duckdb"
    shutil.copy(sample_build.db, db)
    shutil.copytree(sample_build.target, db.with_name(db.name + ".target"))
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    with running_emulator(
        tmp_path / "emu.sqlite",
        seed_from=db,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        record_state=RecordStatePolicy(admins=frozenset({CLIENT_ID})),  # read-only records: test_record_state
    ) as emulator:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_cert))
        monkeypatch.setenv("P2C_TENANT_ID", "p2c-emulator")
        monkeypatch.setenv("P2C_AUTHORITY", emulator.authority)
        monkeypatch.setenv("P2C_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("P2C_CLIENT_SECRET", SECRET)
        yield Stage(db, emulator, EmulatorState(emulator.state))


@dataclass(frozen=True)
class Contact:
    record_id: str
    row_key: str
    email: str
    person_id: str


def _without_ids(
    stage: Stage, count: int, *, with_parent: bool = False, keep: tuple[str, ...] = ()
) -> list[Contact]:
    """`count` contacts whose record id the export lost (the records stay in Dataverse), none of `keep`."""
    parent = " and parentcustomerid_account is not null" if with_parent else ""
    rows = stage.query(
        f"select lower(_source_record_id), {ROW_KEY}, emailaddress1, msdyn_contactpersonid"
        " from dualwrite.contact where _source_record_id is not null"
        f" and lower(_source_record_id) not in (select unnest(?)) {parent}"
        f" order by msdyn_contactpersonid, msdyn_company limit {count}",
        [list(keep) or [""]],
    )
    contacts = [Contact(*row) for row in rows]
    stage.execute(
        "update dualwrite.contact set _source_record_id = null where lower(_source_record_id) in"
        " (select unnest(?))",
        [[c.record_id for c in contacts]],
    )
    return contacts


def _rows(plan: dict[str, Any], table: str = "contact") -> dict[str, dict[str, Any]]:
    return {row["row_key"]: row for row in plan["tables"][table]["rows"]}


def _result(stage: Stage, row_key: str) -> tuple[Any, ...]:
    [found] = stage.query(
        "select status, record_id, error_code, message from upload.results where table_name = 'contact'"
        " and row_key = ? order by finished_at desc limit 1",
        [row_key],
    )
    return found


def test_a_contact_without_its_record_id_is_identified_by_email_and_updated_by_id(stage: Stage) -> None:
    [lost] = _without_ids(stage, 1)
    before = stage.state.count("contact")
    unmatched = stage.upload("--table", "contact")
    assert unmatched.exit_code == ExitCode.FAILED_ROWS, unmatched.output
    assert _result(stage, lost.row_key)[:3] == ("failed", None, "p2c:not_identified")

    matched = stage.upload("--table", "contact", "--match", "contact=emailaddress1")
    assert matched.exit_code == ExitCode.OK, matched.output
    status, record_id, code, message = _result(stage, lost.row_key)
    assert (status, record_id, code) == ("updated", lost.record_id, "")
    assert "identified by emailaddress1" in message and lost.email in message
    record = stage.state.row("contact", lost.record_id)
    assert record is not None and record["msdyn_contactpersonid"] == lost.person_id
    assert stage.state.count("contact") == before  # an update by id: nothing created
    assert stage.state.api_writes("create") == 0


def test_rows_are_matched_many_per_query(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    lost = _without_ids(stage, 12)
    filters: list[str] = []
    query = DataverseClient.query

    def counted(self: DataverseClient, entity_set: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        if entity_set == "contacts" and "emailaddress1" in (kwargs.get("filter") or ""):
            filters.append(kwargs["filter"])
        return query(self, entity_set, **kwargs)

    monkeypatch.setattr(DataverseClient, "query", counted)
    planned, plan = stage.plan("--table", "contact", "--match", "contact=emailaddress1")
    assert planned.exit_code == ExitCode.OK, planned.output
    rows = _rows(plan)
    assert {rows[c.row_key]["record_id"] for c in lost} == {c.record_id for c in lost}
    assert len(filters) == 1, filters  # twelve rows, one query


def test_no_record_with_the_values_is_not_found_with_the_columns_tried(stage: Stage) -> None:
    [lost] = _without_ids(stage, 1)
    stage.execute(
        f"update dualwrite.contact set emailaddress1 = 'o''brien@nowhere.example' where {ROW_KEY} = ?",
        [lost.row_key],
    )
    planned, plan = stage.plan("--table", "contact", "--match", "contact=emailaddress1")
    assert planned.exit_code == ExitCode.FAILED_ROWS, planned.output  # the row not found
    row = _rows(plan)[lost.row_key]
    assert (row["action"], row["code"], row["record_id"]) == ("not_found", "p2c:not_found", None)
    assert 'emailaddress1 = "o\'brien@nowhere.example"' in row["reason"]
    assert "--match contact=emailaddress1" in row["reason"]


def test_two_dataverse_records_with_the_values_are_ambiguous(stage: Stage) -> None:
    [lost] = _without_ids(stage, 1)
    [(other,)] = stage.query(
        "select lower(_source_record_id) from dualwrite.contact where _source_record_id is not null"
        " order by 1 limit 1"
    )
    stage.patch("contacts", other, {"emailaddress1": lost.email.upper()})  # Dataverse compares without case
    planned, plan = stage.plan("--table", "contact", "--match", "contact=emailaddress1")
    assert planned.exit_code == ExitCode.FAILED_ROWS, planned.output  # the row ambiguous
    row = _rows(plan)[lost.row_key]
    assert (row["action"], row["code"], row["record_id"]) == ("cannot_write", "p2c:ambiguous_match", None)
    assert row["reason"].startswith("2 contact records have emailaddress1")
    uploaded = stage.upload("--table", "contact", "--match", "contact=emailaddress1")
    assert uploaded.exit_code == ExitCode.FAILED_ROWS
    assert _result(stage, lost.row_key)[:3] == ("failed", None, "p2c:ambiguous_match")


def test_two_source_rows_identifying_one_record_are_both_reported_and_neither_sent(stage: Stage) -> None:
    first, second = _without_ids(stage, 2)
    same_email = f"update dualwrite.contact set emailaddress1 = ? where {ROW_KEY} = ?"
    stage.execute(same_email, [first.email, second.row_key])
    # and a third row, exported with its id, whose record another id-less row's e-mail finds
    [(kept_id, kept_email)] = stage.query(
        "select lower(_source_record_id), emailaddress1 from dualwrite.contact"
        " where _source_record_id is not null order by 1 limit 1"
    )
    [third] = _without_ids(stage, 1, keep=(kept_id,))
    stage.execute(same_email, [kept_email, third.row_key])
    before = {c.record_id: stage.state.row("contact", c.record_id) for c in (first, second)}

    uploaded = stage.upload("--table", "contact", "--match", "contact=emailaddress1")
    assert uploaded.exit_code == ExitCode.FAILED_ROWS, uploaded.output
    for lost, other in ((first, second), (second, first)):
        status, record_id, code, message = _result(stage, lost.row_key)
        assert (status, record_id, code) == ("failed", None, "p2c:match_shared")
        assert first.record_id in message and other.row_key in message
    assert {c.record_id: stage.state.row("contact", c.record_id) for c in (first, second)} == before
    status, _, code, message = _result(stage, third.row_key)
    assert (status, code) == ("failed", "p2c:match_shared") and kept_id in message
    kept = stage.query("select status from upload.results where record_id = ?", [kept_id])
    assert kept == [("updated",)]  # the row exported with its id is updated as always


def test_an_empty_match_column_never_matches(stage: Stage) -> None:
    [lost] = _without_ids(stage, 1)
    stage.execute(f"update dualwrite.contact set emailaddress1 = null where {ROW_KEY} = ?", [lost.row_key])
    # a record without an e-mail in Dataverse is no match for a row without one
    stage.patch("contacts", lost.record_id, {"emailaddress1": None})
    planned, plan = stage.plan("--table", "contact", "--match", "contact=emailaddress1")
    assert planned.exit_code == ExitCode.FAILED_ROWS, planned.output  # the row not identified
    row = _rows(plan)[lost.row_key]
    assert (row["code"], row["record_id"]) == ("p2c:not_identified", None)
    assert "emailaddress1 is empty" in row["reason"]


def test_first_and_last_name_and_parent_account_identify_a_contact(stage: Stage) -> None:
    [lost] = _without_ids(stage, 1, with_parent=True)
    planned, plan = stage.plan("--table", "contact", "--match", "contact=firstname,lastname,parentcustomerid")
    assert planned.exit_code == ExitCode.OK, planned.output
    row = _rows(plan)[lost.row_key]
    assert (row["action"], row["record_id"]) == ("update", lost.record_id)
    [(parent_id,)] = stage.query(
        "select lower(a._source_record_id) from dualwrite.contact c join dualwrite.account a"
        " on a.accountnumber = c.parentcustomerid_account and a.msdyn_company = c.msdyn_company"
        f" where {ROW_KEY.replace('_source', 'c._source')} = ?",
        [lost.row_key],
    )
    assert row["identified_by"]["values"]["_parentcustomerid_value"] == parent_id


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ("nosuch=emailaddress1", "nosuch is not a dualwrite table"),
        ("contact=nosuchcolumn", "the contact model has no column nosuchcolumn"),
        ("contact=_source_file", "the contact model has no column _source_file"),
        ("contact", "expected TABLE=COLUMN"),
        ("contact=emailaddress1,", "expected TABLE=COLUMN"),
    ],
)
def test_an_unknown_table_or_column_is_a_usage_error_before_any_work(
    stage: Stage, rule: str, said: str
) -> None:
    for command in ("plan", "upload"):
        args = ["--out", str(stage.db.parent / "plan.json")] if command == "plan" else []
        result = stage.p2c(command, "--env", stage.env, "--db", str(stage.db), "--match", rule, *args)
        assert result.exit_code == ExitCode.CANNOT_RUN, result.output
        assert said in result.output and "Traceback" not in result.output
    assert not (stage.db.parent / "plan.json").exists()
    runs = stage.query(
        "select count(*) from information_schema.tables where table_schema = 'upload' and table_name = 'runs'"
    )
    if runs[0][0]:
        assert stage.query("select count(*) from upload.runs") == [(0,)]
    assert stage.state.api_writes("update") == 0


def test_a_column_the_environment_lacks_or_cannot_compare_is_a_usage_error(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    dated = stage.upload("--match", "salesorder=requestdeliveryby")
    assert dated.exit_code == ExitCode.CANNOT_RUN, dated.output
    assert "salesorder.requestdeliveryby is a DateTime column" in dated.output

    from p2c.dataverse.metadata import MetadataCache

    attributes = MetadataCache.attributes

    def without_email(self: MetadataCache, logical_name: str) -> dict[str, str]:
        return {k: v for k, v in attributes(self, logical_name).items() if k != "emailaddress1"}

    monkeypatch.setattr(MetadataCache, "attributes", without_email)
    lacking = stage.upload("--match", "contact=emailaddress1")
    assert lacking.exit_code == ExitCode.CANNOT_RUN, lacking.output
    assert "the environment's contact table has no column emailaddress1" in lacking.output
    assert stage.state.api_writes("update") == 0


def test_the_plan_records_how_each_row_was_identified_and_upload_plan_applies_it(stage: Stage) -> None:
    [lost] = _without_ids(stage, 1)
    planned, plan = stage.plan("--table", "contact", "--match", "contact=emailaddress1")
    assert planned.exit_code == ExitCode.OK, planned.output
    row = _rows(plan)[lost.row_key]
    assert row["action"] == "update"
    assert row["identified_by"] == {
        "match": "contact=emailaddress1",
        "values": {"emailaddress1": lost.email},
        "record_id": lost.record_id,
    }
    plan_path = str(stage.db.parent / "plan.json")

    other_rule = stage.upload("--plan", plan_path, "--match", "contact=firstname,lastname")
    assert other_rule.exit_code == ExitCode.CANNOT_RUN, other_rule.output
    assert "identified contact rows by --match contact=emailaddress1" in other_rule.output

    applied = stage.upload("--plan", plan_path)  # the plan's rule, without repeating it
    assert applied.exit_code == ExitCode.OK, applied.output
    status, record_id, _, message = _result(stage, lost.row_key)
    assert (status, record_id) == ("updated", lost.record_id)
    assert "--match contact=emailaddress1" in message


def test_upload_plan_refuses_a_row_now_identified_as_another_record(stage: Stage) -> None:
    [lost] = _without_ids(stage, 1)
    # a contact of the environment that is not in the export
    [(other,)] = stage.query(
        "select lower(_source_record_id) from dualwrite.contact where _source_record_id is not null"
        " order by 1 limit 1"
    )
    stage.execute("delete from dualwrite.contact where lower(_source_record_id) = ?", [other])
    planned, _ = stage.plan("--table", "contact", "--match", "contact=emailaddress1")
    assert planned.exit_code == ExitCode.OK, planned.output
    # since the plan, the record lost its e-mail and the other record took it
    stage.patch("contacts", lost.record_id, {"emailaddress1": "moved@elsewhere.example"})
    stage.patch("contacts", other, {"emailaddress1": lost.email})
    applied = stage.upload("--plan", str(stage.db.parent / "plan.json"), "--table", "contact")
    assert applied.exit_code == ExitCode.FAILED_ROWS, applied.output
    status, record_id, code, message = _result(stage, lost.row_key)
    assert (status, record_id, code) == ("failed", None, "p2c:record_changed")
    assert other in message and lost.record_id in message
