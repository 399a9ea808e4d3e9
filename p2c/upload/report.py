"""`p2c results`: what the uploads did, from `upload.runs` and `upload.results`.

Three views: the runs (one line each; a run still marked running whose process is gone is shown
interrupted), the reconciliation per table (every target row ends updated, unchanged or failed — the latest
outcome of each record in the environment, known by its organization id — or is still to do; the difference
is 0 when nothing was lost or counted twice), and the rows of one status (by default the failed ones, with the
Dataverse error code and message, and whether the failure is retryable: transient, or terminal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from p2c.contract.dataverse import TableContract
from p2c.errors import UsageError
from p2c.upload.live import process_alive
from p2c.upload.rows import row_key_sql
from p2c.upload.store import OutcomeStatus, RunStatus, environment_key_sql, has_upload_schema, readable_sql

RUN_COLUMNS = (
    "run_id",
    "command",
    "environment",
    "status",
    "dry_run",
    "started_at",
    "finished_at",
    "rows_updated",
    "rows_unchanged",
    "rows_failed",
    "rows_skipped",
    "throttle_wait_s",
)
ROW_COLUMNS = (
    "run_id",
    "table_name",
    "business_key",
    "company",
    "record_id",
    "status",
    "http_status",
    "error_code",
    "message",
    "retryable",
    "attempts",
    "method",
    "app_user",
    "finished_at",
)
RECONCILIATION_COLUMNS = (
    "table_name",
    "target_rows",
    "updated",
    "unchanged",
    "failed",
    "to_do",
    "difference",
)


@dataclass
class ResultsReport:
    runs: list[dict[str, Any]]
    reconciliation: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    environment: str | None
    status: str | None = None  # the --status asked for (None: the failed rows)

    @property
    def failed_rows(self) -> int:
        return sum(int(r["failed"]) for r in self.reconciliation)


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def latest_outcomes_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The last outcome of every record per environment (its identity, `environment_key`), over the runs
    that wrote (not plans, not dry runs): one record is never both updated and failed."""
    return (
        f"select u.environment, {environment_key_sql()} as environment_key, r.* "
        f"from {readable_sql(con, 'results')} r join {readable_sql(con, 'runs')} u using (run_id) "
        "where u.dry_run = false and r.status <> 'skipped' "
        f"qualify row_number() over (partition by {environment_key_sql()}, r.table_name, "
        "coalesce(r.record_id, r.row_key) order by r.finished_at desc nulls last, u.started_at desc) = 1"
    )


def _shown_status(run: dict[str, Any]) -> str:
    """A run recorded running whose process is gone was killed: interrupted (before any new run closes it)."""
    status = str(run["status"])
    pid = run.get("pid")
    gone = isinstance(pid, int) and process_alive(pid, run.get("host")) is False
    return RunStatus.INTERRUPTED.value if status == RunStatus.RUNNING.value and gone else status


def build_report(
    con: duckdb.DuckDBPyConnection,
    contracts: dict[str, TableContract],
    *,
    run_id: str | None = None,
    status: str | None = None,
    tables: tuple[str, ...] = (),
) -> ResultsReport:
    if not has_upload_schema(con):
        raise UsageError(
            "no upload has been run on this database yet", hint="run `p2c upload --env URL` first"
        )
    if status is not None and status not in {s.value for s in OutcomeStatus}:
        raise UsageError(f"--status {status!r}: one of {', '.join(s.value for s in OutcomeStatus)}")
    unknown = sorted(set(tables) - set(contracts))
    if unknown:
        raise UsageError(f"unknown table(s) {', '.join(unknown)}; the tables are {', '.join(contracts)}")
    runs = _dicts(
        con.execute(
            f"select {', '.join(RUN_COLUMNS)}, pid, host, {environment_key_sql('runs')} as environment_key "
            f"from {readable_sql(con, 'runs')} runs "
            + ("where run_id = ? " if run_id else "")
            + "order by started_at",
            [run_id] if run_id else [],
        )
    )
    if run_id and not runs:
        raise UsageError(f"no run {run_id!r} in this database")
    writing_runs = [r for r in runs if not r["dry_run"]]
    latest = (writing_runs or runs)[-1] if runs else None
    environment = latest["environment"] if latest else None
    environment_key = latest["environment_key"] if latest else None
    for run in runs:
        run["status"] = _shown_status(run)
        for internal in ("pid", "host", "environment_key"):
            run.pop(internal)
    reconciliation = [
        _reconcile(con, contract, environment_key)
        for name, contract in contracts.items()
        if not tables or name in tables
    ]
    where = ["r.status = ?"]
    params: list[Any] = [status or OutcomeStatus.FAILED.value]
    if run_id:
        where.append("r.run_id = ?")
        params.append(run_id)
    if tables:
        where.append("r.table_name in (" + ", ".join("?" for _ in tables) + ")")
        params.extend(tables)
    source = f"{readable_sql(con, 'results')} r" if run_id else f"({latest_outcomes_sql(con)}) r"
    if not run_id and environment_key is not None:
        where.append("r.environment_key = ?")
        params.append(environment_key)
    rows = _dicts(
        con.execute(
            f"select {', '.join('r.' + c for c in ROW_COLUMNS)} from {source} where {' and '.join(where)} "
            "order by r.table_name, r.business_key",
            params,
        )
    )
    return ResultsReport(runs, reconciliation, rows, environment, status)


def _reconcile(
    con: duckdb.DuckDBPyConnection, contract: TableContract, environment_key: str | None
) -> dict[str, Any]:
    key = row_key_sql(contract)
    [row] = con.execute(
        f"""
        with target as (select {key} as row_key from {contract.relation.sql_name} t),
        latest as (select * from ({latest_outcomes_sql(con)}) where environment_key = ? and table_name = ?)
        select
            count(*) as target_rows,
            count(*) filter (where latest.status = 'updated') as updated,
            count(*) filter (where latest.status = 'unchanged') as unchanged,
            count(*) filter (where latest.status = 'failed') as failed,
            count(*) filter (where latest.status is null) as to_do
        from target left join latest using (row_key)
        """,
        [environment_key or "", contract.table],
    ).fetchall()
    assert row is not None
    target_rows, updated, unchanged, failed, to_do = (int(v) for v in row)
    return {
        "table_name": contract.table,
        "target_rows": target_rows,
        "updated": updated,
        "unchanged": unchanged,
        "failed": failed,
        "to_do": to_do,
        "difference": target_rows - updated - unchanged - failed - to_do,
    }


def upload_result_of(
    con: duckdb.DuckDBPyConnection, table: str, record_id: str | None, row_key: str | None
) -> dict[str, Any] | None:
    """The latest upload outcome of one row (for `p2c lineage trace`), or None."""
    if not has_upload_schema(con) or not (record_id or row_key):
        return None
    found = _dicts(
        con.execute(
            f"select * from ({latest_outcomes_sql(con)}) where table_name = ? and row_key = ? "
            "order by finished_at desc limit 1",
            [table, record_id.lower() if record_id else row_key],
        )
    )
    return found[0] if found else None
