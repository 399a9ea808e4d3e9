"""Where every upload's outcome is kept: `upload.runs` (one row per `p2c plan`/`p2c upload`) and
`upload.results` (one row per target row and run), in the same DuckDB file as the data.

A row counts as done once a run recorded it `updated` or `unchanged` for the same environment: the next run
of the same command skips it, so a run killed at any moment (even `kill -9`) is resumed by running it again.
Results are committed chunk by chunk, after the chunk's requests came back; a chunk whose results were not yet
committed is simply sent again, which is safe because every write is an update of an existing record by id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import duckdb
import pyarrow as pa

SCHEMA = "upload"

RUNS_DDL = f"""
create table if not exists {SCHEMA}.runs (
    run_id varchar primary key,
    command varchar not null,          -- plan | upload
    environment varchar not null,
    tables varchar[] not null,
    dry_run boolean not null,
    plan_file varchar,
    status varchar not null,           -- running | completed | failed | interrupted
    started_at timestamp not null,
    finished_at timestamp,
    rows_updated bigint default 0,
    rows_unchanged bigint default 0,
    rows_failed bigint default 0,
    rows_skipped bigint default 0,
    throttle_wait_s double default 0
)"""

RESULTS_DDL = f"""
create table if not exists {SCHEMA}.results (
    run_id varchar not null,
    table_name varchar not null,
    row_key varchar not null,          -- the record id, or file#sheet#row for a row exported without one
    record_id varchar,
    business_key varchar,
    company varchar,
    status varchar not null,           -- updated | unchanged | failed | skipped
    http_status integer,
    error_code varchar,
    message varchar,
    attempts integer,
    method varchar,
    app_user varchar,
    columns_written varchar[],
    started_at timestamp,
    finished_at timestamp
)"""


class OutcomeStatus(StrEnum):
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # every initialized value was already in Dataverse: nothing was sent
    FAILED = "failed"
    SKIPPED = "skipped"  # not sent on purpose: a dry run, or not part of the applied plan


DONE = (OutcomeStatus.UPDATED, OutcomeStatus.UNCHANGED)


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass
class Outcome:
    """One target row's result in one run."""

    table_name: str
    row_key: str
    record_id: str | None
    business_key: str
    company: str | None
    status: OutcomeStatus
    http_status: int | None = None
    error_code: str = ""
    message: str = ""
    attempts: int = 0
    method: str = ""
    app_user: str = ""
    columns_written: tuple[str, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None


def ensure_upload_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(RUNS_DDL)
    con.execute(RESULTS_DDL)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def close_stale_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Runs still `running` while this process holds the database's only write lock were killed (no other
    run can be writing now): mark them `interrupted`, so that `p2c results` does not show them running."""
    [(count,)] = con.execute(
        f"select count(*) from {SCHEMA}.runs where status = ?", [RunStatus.RUNNING.value]
    ).fetchall()
    if count:
        con.execute(
            f"update {SCHEMA}.runs set status = ? where status = ?",
            [RunStatus.INTERRUPTED.value, RunStatus.RUNNING.value],
        )
    return int(count)


def start_run(
    con: duckdb.DuckDBPyConnection,
    command: str,
    environment: str,
    tables: Sequence[str],
    *,
    dry_run: bool,
    plan_file: str | None,
) -> str:
    run_id = uuid.uuid4().hex[:12]
    con.execute(
        f"insert into {SCHEMA}.runs (run_id, command, environment, tables, dry_run, plan_file, status, "
        "started_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, command, environment, list(tables), dry_run, plan_file, RunStatus.RUNNING.value, now()],
    )
    return run_id


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: str, status: RunStatus, counts: dict[str, int], throttle_s: float
) -> None:
    con.execute(
        f"update {SCHEMA}.runs set status = ?, finished_at = ?, rows_updated = ?, rows_unchanged = ?, "
        "rows_failed = ?, rows_skipped = ?, throttle_wait_s = ? where run_id = ?",
        [
            status.value,
            now(),
            counts.get(OutcomeStatus.UPDATED, 0),
            counts.get(OutcomeStatus.UNCHANGED, 0),
            counts.get(OutcomeStatus.FAILED, 0),
            counts.get(OutcomeStatus.SKIPPED, 0),
            throttle_s,
            run_id,
        ],
    )


def record_outcomes(con: duckdb.DuckDBPyConnection, run_id: str, outcomes: Sequence[Outcome]) -> None:
    """Insert one chunk's outcomes in one transaction, by column name (through Arrow: chunks are large)."""
    if not outcomes:
        return
    columns: dict[str, Any] = {
        "run_id": pa.array([run_id] * len(outcomes), pa.string()),
        "table_name": pa.array([o.table_name for o in outcomes], pa.string()),
        "row_key": pa.array([o.row_key for o in outcomes], pa.string()),
        "record_id": pa.array([o.record_id for o in outcomes], pa.string()),
        "business_key": pa.array([o.business_key for o in outcomes], pa.string()),
        "company": pa.array([o.company for o in outcomes], pa.string()),
        "status": pa.array([o.status.value for o in outcomes], pa.string()),
        "http_status": pa.array([o.http_status for o in outcomes], pa.int32()),
        "error_code": pa.array([o.error_code for o in outcomes], pa.string()),
        "message": pa.array([o.message for o in outcomes], pa.string()),
        "attempts": pa.array([o.attempts for o in outcomes], pa.int32()),
        "method": pa.array([o.method for o in outcomes], pa.string()),
        "app_user": pa.array([o.app_user for o in outcomes], pa.string()),
        "columns_written": pa.array([list(o.columns_written) for o in outcomes], pa.list_(pa.string())),
        "started_at": pa.array([_naive(o.started_at) for o in outcomes], pa.timestamp("us")),
        "finished_at": pa.array([_naive(o.finished_at) for o in outcomes], pa.timestamp("us")),
    }
    chunk = pa.table(columns)
    con.register("_p2c_outcomes", chunk)
    try:
        con.execute("begin")
        con.execute(f"insert into {SCHEMA}.results by name select * from _p2c_outcomes")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_p2c_outcomes")


def _naive(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def done_rows_sql(table: str) -> tuple[str, list[Any]]:
    """A subquery of the row keys already done for `table` (by any earlier run against this environment);
    `?` is the environment."""
    statuses = ", ".join(f"'{s.value}'" for s in DONE)
    sql = (
        f"select r.row_key from {SCHEMA}.results r join {SCHEMA}.runs u using (run_id) "
        f"where u.environment = ? and u.dry_run = false and r.table_name = '{table}' "
        f"and r.status in ({statuses})"
    )
    return sql, []


def has_upload_schema(con: duckdb.DuckDBPyConnection) -> bool:
    [found] = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'results'",
        [SCHEMA],
    ).fetchall()
    return bool(found[0])
