"""What the uploader remembers, without an emulator: how a refused write is labelled, and an upload history
written by an older p2c (its schema is migrated, its rows kept, and read as they are by `p2c results`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from p2c.dataverse.results import RowResult, RowStatus, WriteMethod
from p2c.upload.prepare import Decision, Judged, Prepared
from p2c.upload.report import build_report
from p2c.upload.rows import TargetRow
from p2c.upload.runner import _written
from p2c.upload.store import ensure_upload_schema

RECORD = "1b514ffd-bfec-4c6b-874c-403e17a7bd54"


def _judged() -> Judged:
    row = TargetRow("account", RECORD, RECORD, "USMF", "ACC-1", {}, {})
    prepared = Prepared(row, RECORD, desired={"msdyn_partynumber": "P1"})
    return Judged(prepared, Decision.UPDATE, payload={"x": 1})


def _refused(code: str, message: str) -> RowResult:
    moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return RowResult(RECORD, RowStatus.FAILED, 412, code, message, 1, 0.0, moment, moment, WriteMethod.SINGLE)


@pytest.mark.parametrize(
    ("if_match", "code", "message", "expected_code", "says"),
    [
        # a duplicate key is a duplicate key, with or without a plan
        ("*", "0x80060892", "Entity Key msdynce_AccountNumber violated", "0x80060892", "duplicate key"),
        ('W/"7"', "0x80060892", "Entity Key violated", "0x80060892", "duplicate key"),
        ("*", "0x80040237", "A record with matching key values already exists.", "0x80040237", "duplicate"),
        # only a failed ETag precondition of a plan's row is "changed since the plan"
        ('W/"7"', "0x80060882", "The version of the existing record doesn't match", "p2c:record_changed",
         "changed in Dataverse since the plan"),
        ("*", "", "Precondition failed", "", "Precondition failed"),
    ],
)  # fmt: skip
def test_a_412_is_labelled_by_its_dataverse_code(
    if_match: str, code: str, message: str, expected_code: str, says: str
) -> None:
    outcome = _written(_judged(), _refused(code, message), if_match)
    assert outcome.error_code == expected_code
    assert says in outcome.message
    if expected_code != "p2c:record_changed":
        assert "since the plan" not in outcome.message


def test_a_transient_failure_is_kept_retryable() -> None:
    result = _refused("", "Service unavailable")
    result.http_status, result.retryable = 503, True
    assert _written(_judged(), result).retryable is True
    assert _written(_judged(), _refused("0x80060892", "dup")).retryable is False


OLD_RUNS = """create table upload.runs (run_id varchar primary key, command varchar not null,
    environment varchar not null, tables varchar[] not null, dry_run boolean not null, plan_file varchar,
    status varchar not null, started_at timestamp not null, finished_at timestamp,
    rows_updated bigint default 0, rows_unchanged bigint default 0, rows_failed bigint default 0,
    rows_skipped bigint default 0,
    throttle_wait_s double default 0)"""
OLD_RESULTS = """create table upload.results (run_id varchar not null, table_name varchar not null,
    row_key varchar not null, record_id varchar, business_key varchar, company varchar,
    status varchar not null, http_status integer, error_code varchar, message varchar, attempts integer,
    method varchar,
    app_user varchar, columns_written varchar[], started_at timestamp, finished_at timestamp)"""


def _old_database(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema upload")
        con.execute(OLD_RUNS)
        con.execute(OLD_RESULTS)
        con.execute(
            "insert into upload.runs (run_id, command, environment, tables, dry_run, status, started_at)"
            " values ('old1', 'upload', 'https://x.crm4.dynamics.com', ['account'], false, 'completed',"
            " timestamp '2025-05-01')"
        )
        con.execute(
            "insert into upload.results (run_id, table_name, row_key, record_id, business_key, status,"
            " http_status, error_code, message, finished_at) values ('old1', 'account', ?, ?, 'ACC-1',"
            " 'failed', 400, '0x8004431A', 'bad choice', timestamp '2025-05-01')",
            [RECORD, RECORD],
        )
    return path


def test_an_older_upload_history_is_read_as_it_is(tmp_path: Path) -> None:
    db = _old_database(tmp_path / "old.duckdb")
    with duckdb.connect(str(db), read_only=True) as con:
        report = build_report(con, {})
    assert [r["run_id"] for r in report.runs] == ["old1"]
    [row] = report.rows
    assert (row["record_id"], row["error_code"], row["retryable"]) == (RECORD, "0x8004431A", None)


def test_an_older_upload_schema_is_migrated_and_its_history_kept(tmp_path: Path) -> None:
    db = _old_database(tmp_path / "old.duckdb")
    with duckdb.connect(str(db)) as con:
        ensure_upload_schema(con)
        ensure_upload_schema(con)  # twice: nothing left to add
        columns = {
            (table, column)
            for table, column in con.execute(
                "select table_name, column_name from information_schema.columns where table_schema = 'upload'"
            ).fetchall()
        }
        assert {("runs", "organization_id"), ("runs", "pid"), ("results", "values_hash"),
                ("results", "retryable"), ("intents", "values_hash")} <= columns  # fmt: skip
        assert con.execute("select count(*) from upload.results").fetchall() == [(1,)]
        assert con.execute("select status from upload.runs").fetchall() == [("completed",)]
