"""Where every upload's outcome is kept: `upload.runs` (one row per `p2c plan`/`p2c upload`),
`upload.results` (one row per target row and run) and `upload.intents` (the writes in flight), in the same
DuckDB file as the data.

A row counts as done only for the exact values it carried (`values_hash`, a hash of the desired values) in
the exact environment (`runs.organization_id`, WhoAmI's OrganizationId: an environment reset or restored at
the same URL is another environment). Even then every run reads the record again: a done row whose record
no longer holds those values is planned and sent again (`p2c:done_but_differs`).

Before a chunk's updates are sent, their intent (run, table, row key, record id, values hash) is committed;
the chunk's outcomes replace it once its requests came back. A run killed in between (even `kill -9`) leaves
its intents: the next run reads those records back and records them `updated` by the killed run when
Dataverse holds the values, or sends them again. Every write is an update of an existing record by id, so a
second send is safe."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import duckdb

from loaders.catalog import cursor_of
from p2c.upload.codes import NOT_IN_PLAN

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
    throttle_wait_s double default 0,
    organization_id varchar,           -- WhoAmI's OrganizationId: which environment, whatever its URL
    pid integer,                       -- the process that ran it, to tell a killed run from a running one
    host varchar
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
    finished_at timestamp,
    values_hash varchar,               -- the desired values the outcome is for (prepare.values_hash)
    retryable boolean                  -- a failure that may pass on a later run (throttled, 5xx)
)"""

INTENTS_DDL = f"""
create table if not exists {SCHEMA}.intents (
    run_id varchar not null,
    table_name varchar not null,
    row_key varchar not null,
    record_id varchar,
    values_hash varchar,
    created_at timestamp not null
)"""
# columns added since the first release: an existing database gains them, its history kept
MIGRATIONS = {
    "runs": {"organization_id": "varchar", "pid": "integer", "host": "varchar"},
    "results": {"values_hash": "varchar", "retryable": "boolean"},
}


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
    values_hash: str | None = None
    retryable: bool = False
    run_id: str = ""  # another run's: a write of a killed run, settled by reading it back


def ensure_upload_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(RUNS_DDL)
    con.execute(RESULTS_DDL)
    con.execute(INTENTS_DDL)
    for table, columns in MIGRATIONS.items():
        for column, kind in columns.items():
            con.execute(f"alter table {SCHEMA}.{table} add column if not exists {column} {kind}")


def readable_sql(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """`upload.<table>` for reading, with the columns of later versions as NULL when a database written by an
    older p2c lacks them (a read-only connection cannot add them; the next plan or upload does)."""
    [(present,)] = con.execute(
        "select list(column_name) from information_schema.columns where table_schema = ? and table_name = ?",
        [SCHEMA, table],
    ).fetchall()
    missing = [(c, kind) for c, kind in MIGRATIONS.get(table, {}).items() if c not in (present or [])]
    if not missing:
        return f"{SCHEMA}.{table}"
    extra = ", ".join(f"cast(null as {kind}) as {column}" for column, kind in missing)
    return f"(select *, {extra} from {SCHEMA}.{table})"


def environment_key_sql(alias: str = "u") -> str:
    """The identity of a run's environment: its organization id, or its URL for runs recorded before the
    organization id was (or when WhoAmI gave none)."""
    return f"coalesce(nullif({alias}.organization_id, ''), {alias}.environment)"


def environment_identity(url: str, organization_id: str | None) -> str:
    return organization_id or url


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def close_stale_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Runs still `running` while this process holds the database's only write lock were killed (no other
    run can be writing now): mark them `interrupted`, so that `p2c results` does not show them running."""
    stale = [
        str(run_id)
        for (run_id,) in con.execute(
            f"select run_id from {SCHEMA}.runs where status = ?", [RunStatus.RUNNING.value]
        ).fetchall()
    ]
    if stale:
        con.execute(
            f"update {SCHEMA}.runs set status = ? where status = ?",
            [RunStatus.INTERRUPTED.value, RunStatus.RUNNING.value],
        )
        # its counts as far as it recorded them (the finished counts were never written)
        count_runs(con, stale)
    return len(stale)


def count_runs(con: duckdb.DuckDBPyConnection, run_ids: Sequence[str]) -> None:
    """Each run's counts in `upload.runs`, from its rows in `upload.results`: what it did, or for a plan
    or dry run (`dry_run`) what it would do: its rows it would update count as `rows_updated`, and only the
    rows it left out on purpose (not in the applied plan) as `rows_skipped`. The writes of a killed run
    that a later run settled are recorded as the killed run's, so recounting it counts them too."""
    if not run_ids:
        return
    con.execute(
        f"""
        update {SCHEMA}.runs set
            rows_updated = c.updated, rows_unchanged = c.unchanged, rows_failed = c.failed,
            rows_skipped = c.skipped
        from ({run_counts_sql()}) c
        where {SCHEMA}.runs.run_id = c.run_id
        """,
        [list(run_ids)],
    )


def run_counts_sql() -> str:
    """(run_id, updated, unchanged, failed, skipped) of the runs `?` (a list), from their recorded rows."""
    would_update = (
        f"r.status = '{OutcomeStatus.SKIPPED.value}' and coalesce(r.error_code, '') <> '{NOT_IN_PLAN}'"
    )
    updated = f"r.status = '{OutcomeStatus.UPDATED.value}' or (u.dry_run and {would_update})"
    skipped = f"r.status = '{OutcomeStatus.SKIPPED.value}' and not (u.dry_run and {would_update})"
    return f"""
        select u.run_id,
            count(r.run_id) filter (where {updated}) as updated,
            count(r.run_id) filter (where r.status = '{OutcomeStatus.UNCHANGED.value}') as unchanged,
            count(r.run_id) filter (where r.status = '{OutcomeStatus.FAILED.value}') as failed,
            count(r.run_id) filter (where {skipped}) as skipped
        from {SCHEMA}.runs u left join {SCHEMA}.results r using (run_id)
        where u.run_id in (select unnest(?))
        group by u.run_id
    """


def record_run_environment(con: duckdb.DuckDBPyConnection, run_id: str, organization_id: str) -> None:
    con.execute(
        f"update {SCHEMA}.runs set organization_id = ? where run_id = ? and organization_id is null",
        [organization_id, run_id],
    )


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
        "started_at, pid, host) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            command,
            environment,
            list(tables),
            dry_run,
            plan_file,
            RunStatus.RUNNING.value,
            now(),
            os.getpid(),
            socket.gethostname(),
        ],
    )
    return run_id


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    status: RunStatus,
    throttle_s: float,
    settled_runs: Sequence[str] = (),
) -> None:
    """Close the run with its counts taken from what it recorded (`count_runs`); the killed runs whose
    writes it settled are counted again, those writes being theirs."""
    con.execute(
        f"update {SCHEMA}.runs set status = ?, finished_at = ?, throttle_wait_s = ? where run_id = ?",
        [status.value, now(), throttle_s, run_id],
    )
    count_runs(con, [run_id, *settled_runs])


def record_outcomes(
    con: duckdb.DuckDBPyConnection, run_id: str, outcomes: Sequence[Outcome], *, settles: bool = True
) -> None:
    """Insert one chunk's outcomes in one transaction, by column name (list parameters unnested side by side,
    not Arrow: its first use costs a second of imports, paid while the first writes wait); the intents of
    those rows (of this run, or of a killed one) are settled by them in the same transaction. Only a run
    that writes settles (`settles`): a plan or dry run read the records but wrote nothing, so the intents
    stay for the next upload to settle."""
    if not outcomes:
        return
    columns: dict[str, tuple[str, list[Any]]] = {
        "run_id": ("varchar", [o.run_id or run_id for o in outcomes]),
        "table_name": ("varchar", [o.table_name for o in outcomes]),
        "row_key": ("varchar", [o.row_key for o in outcomes]),
        "record_id": ("varchar", [o.record_id for o in outcomes]),
        "business_key": ("varchar", [o.business_key for o in outcomes]),
        "company": ("varchar", [o.company for o in outcomes]),
        "status": ("varchar", [o.status.value for o in outcomes]),
        "http_status": ("integer", [o.http_status for o in outcomes]),
        "error_code": ("varchar", [o.error_code for o in outcomes]),
        "message": ("varchar", [o.message for o in outcomes]),
        "attempts": ("integer", [o.attempts for o in outcomes]),
        "method": ("varchar", [o.method for o in outcomes]),
        "app_user": ("varchar", [o.app_user for o in outcomes]),
        "columns_written": ("varchar[]", [list(o.columns_written) for o in outcomes]),
        "started_at": ("timestamp", [_naive(o.started_at) for o in outcomes]),
        "finished_at": ("timestamp", [_naive(o.finished_at) for o in outcomes]),
        "values_hash": ("varchar", [o.values_hash for o in outcomes]),
        "retryable": ("boolean", [o.retryable for o in outcomes]),
    }
    try:
        con.execute("begin")
        con.execute(
            f"insert into {SCHEMA}.results by name select "
            + ", ".join(f"unnest(?::{kind}[]) as {name}" for name, (kind, _) in columns.items()),
            [values for _, values in columns.values()],
        )
        if settles:
            con.execute(
                f"delete from {SCHEMA}.intents i using (select unnest(?::varchar[]) as table_name, "
                "unnest(?::varchar[]) as row_key) o "
                "where i.table_name = o.table_name and i.row_key = o.row_key",
                [columns["table_name"][1], columns["row_key"][1]],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _naive(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def latest_outcome_sql(table: str) -> str:
    """The latest outcome (status, values hash, run) of each row of `table` in one environment (`?`: its
    identity) by the runs that wrote (not plans, not dry runs)."""
    return (
        f"select r.row_key, r.status, r.values_hash, r.run_id from {SCHEMA}.results r "
        f"join {SCHEMA}.runs u using (run_id) "
        f"where u.dry_run = false and {environment_key_sql()} = ? and r.table_name = '{table}' "
        "and r.status <> 'skipped' "
        "qualify row_number() over (partition by r.row_key "
        "order by r.finished_at desc nulls last, u.started_at desc) = 1"
    )


def open_intents_sql(table: str) -> str:
    """The writes of `table` left in flight by other runs in one environment (`?`: its identity; `?`: this
    run's id), the latest per row."""
    return (
        f"select i.row_key, i.values_hash, i.run_id from {SCHEMA}.intents i "
        f"join {SCHEMA}.runs u using (run_id) "
        f"where {environment_key_sql()} = ? and i.table_name = '{table}' and i.run_id <> ? "
        "qualify row_number() over (partition by i.row_key order by i.created_at desc) = 1"
    )


def intents_in_flight(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """The rows whose writes `run_id` had sent, or was sending, without an answer recorded (a stopped run):
    Dataverse may hold them; the next run reads them back and settles them."""
    [(count,)] = con.execute(f"select count(*) from {SCHEMA}.intents where run_id = ?", [run_id]).fetchall()
    return int(count)


def drop_stale_intents(con: duckdb.DuckDBPyConnection, table: str, run_id: str) -> None:
    """Once a table was gone through: the intents other runs left for rows that are no longer targets (or
    were found done before) have nothing left to settle."""
    con.execute(f"delete from {SCHEMA}.intents where table_name = ? and run_id <> ?", [table, run_id])


class IntentLog:
    """Commits the intents of a chunk before its requests are sent, from the writer threads: on its own
    DuckDB connection (a cursor of the runner's), one insert at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = cursor_of(con)
        self._lock = threading.Lock()

    def add(self, run_id: str, table: str, rows: Sequence[tuple[str, str | None, str | None]]) -> None:
        """`rows`: (row key, record id, values hash) of each row about to be sent."""
        if not rows:
            return
        with self._lock:
            # list parameters, unnested side by side: no Arrow (whose first use costs a second of imports)
            self._con.execute(
                f"insert into {SCHEMA}.intents (run_id, table_name, row_key, record_id, values_hash, "
                "created_at) select ?, ?, unnest(?::varchar[]), unnest(?::varchar[]), "
                "unnest(?::varchar[]), ?",
                [run_id, table, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], now()],
            )

    def close(self) -> None:
        with self._lock:
            self._con.close()


def has_upload_schema(con: duckdb.DuckDBPyConnection) -> bool:
    [found] = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'results'",
        [SCHEMA],
    ).fetchall()
    return bool(found[0])
