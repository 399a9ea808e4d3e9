"""`p2c results`: what the uploads did, from `upload.runs` and `upload.results`.

Three views: the runs (one line each; a run still marked running whose process is gone is shown
interrupted), the reconciliation per table (every target row ends updated, unchanged or failed — the latest
outcome of each record in the environment, known by its organization id — or is still to do; the difference
is 0 when nothing was lost or counted twice), and the rows of one status (by default the failed ones, with the
Dataverse error code and message, and whether the failure is retryable: transient, or terminal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from p2c.contract.dataverse import TableContract
from p2c.errors import UsageError
from p2c.upload.codes import NOT_IN_PLAN
from p2c.upload.live import process_alive
from p2c.upload.rows import row_key_sql
from p2c.upload.store import (
    SCHEMA,
    OutcomeStatus,
    RunStatus,
    environment_key_sql,
    has_upload_schema,
    readable_sql,
    run_counts_sql,
)

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
    "not_in_build",
)
# `--run`: the rows of that run (a plan or dry run: what it would do); the others it did not record (done
# before by an earlier run, or not reached)
RUN_RECONCILIATION_COLUMNS = (
    "table_name",
    "target_rows",
    "updated",
    "unchanged",
    "failed",
    "skipped",
    "not_in_run",
    "difference",
    "not_in_build",
)
# what an outcome of rows no longer in the build was, in words: "40 contact rows written by run R"
OUTCOME_WORDS = {
    OutcomeStatus.UPDATED.value: "written",
    OutcomeStatus.UNCHANGED.value: "found holding their values",
    OutcomeStatus.FAILED.value: "that failed",
    OutcomeStatus.SKIPPED.value: "planned",
}


@dataclass
class ResultsReport:
    runs: list[dict[str, Any]]
    reconciliation: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    environment: str | None
    status: str | None = None  # the --status asked for (None: the failed rows)
    organization_id: str | None = None  # WhoAmI's OrganizationId of the environment reconciled
    run_id: str | None = None  # `--run`: the reconciliation counts that run's rows only
    dry_run: bool = False  # that run was a plan or dry run: its counts are what it would do
    # said plainly: the organization reconciled is not the one the last upload wrote to (a reset)
    notice: str | None = None
    # outcomes of rows the build no longer has (unloaded or filtered since), per table, run and status: the
    # reconciliation counts target rows only, so without these a run's counts and it would not add up
    not_in_build: list[dict[str, Any]] = field(default_factory=list)
    # why the build does not vouch for the database (e.g. files unloaded after it): the figures are stale
    build_problems: list[str] = field(default_factory=list)
    # writes a stopped or killed run sent without its answer recorded, per run: Dataverse may hold them
    in_flight: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reconciliation_columns(self) -> tuple[str, ...]:
        return RUN_RECONCILIATION_COLUMNS if self.run_id else RECONCILIATION_COLUMNS

    @property
    def failed_rows(self) -> int:
        return sum(int(r["failed"]) for r in self.reconciliation)

    @property
    def notices(self) -> list[str]:
        """What the tables alone would not say, in the order a reader needs it."""
        stale = [f"the build does not cover this database's data: {p}" for p in self.build_problems]
        left = [
            f"{g['rows']} {g['table_name']} rows {OUTCOME_WORDS.get(g['status'], g['status'])} by run "
            f"{g['run_id']} are no longer in the build: unloaded or filtered since"
            for g in self.not_in_build
        ]
        unsettled = [
            f"{g['writes']} write(s) of run {g['run_id']} were in flight when it stopped (committed to be "
            "sent, no answer recorded: Dataverse may hold some or all of them); they count as to do until "
            "the next `p2c upload` reads them back and settles them"
            for g in self.in_flight
        ]
        return stale + ([self.notice] if self.notice else []) + unsettled + left


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def latest_outcomes_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The last outcome of every record per environment (its identity, `environment_key`), over the runs
    that wrote (not plans, not dry runs): one record is never both updated and failed."""
    return (
        f"select u.environment, u.organization_id, {environment_key_sql()} as environment_key, r.* "
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
            f"select {', '.join(RUN_COLUMNS)}, pid, host, organization_id, "
            f"{environment_key_sql('runs')} as environment_key "
            f"from {readable_sql(con, 'runs')} runs "
            + ("where run_id = ? " if run_id else "")
            + "order by started_at",
            [run_id] if run_id else [],
        )
    )
    if run_id and not runs:
        raise UsageError(f"no run {run_id!r} in this database")
    # the environment as the latest run (plan, dry run or upload) found it: after a reset at the same URL a
    # plan already meets the new organization, and the old one's outcomes are not this environment's
    latest = runs[-1] if runs else None
    environment = latest["environment"] if latest else None
    environment_key = latest["environment_key"] if latest else None
    organization = latest.get("organization_id") if latest else None
    notice = None if run_id else _other_organization(runs)
    killed = [r["run_id"] for r in runs if _shown_status(r) != r["status"]]
    if killed:
        # a killed run not closed yet (a read-only connection cannot close it): its counts as far as it
        # recorded them, as the next plan or upload will store them (`close_stale_runs`)
        recounted = {str(row[0]): row[1:] for row in con.execute(run_counts_sql(), [killed]).fetchall()}
        for run in runs:
            if run["run_id"] in recounted:
                counts = recounted[run["run_id"]]
                names = ("rows_updated", "rows_unchanged", "rows_failed", "rows_skipped")
                run.update(zip(names, counts, strict=True))
    for run in runs:
        run["status"] = _shown_status(run)
        for internal in ("pid", "host", "environment_key", "organization_id"):
            run.pop(internal)
    chosen = [contract for name, contract in contracts.items() if not tables or name in tables]
    if run_id:
        reconciliation = [_reconcile_run(con, contract, run_id) for contract in chosen]
    else:
        reconciliation = [_reconcile(con, contract, environment_key) for contract in chosen]
    not_in_build = [
        group
        for contract in chosen
        for group in _not_in_build(con, contract, run_id=run_id, environment_key=environment_key)
    ]
    for table in reconciliation:
        table["not_in_build"] = sum(g["rows"] for g in not_in_build if g["table_name"] == table["table_name"])
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
    return ResultsReport(
        runs,
        reconciliation,
        rows,
        environment,
        status,
        organization,
        run_id,
        bool(latest and latest["dry_run"]) if run_id else False,
        notice,
        not_in_build,
        in_flight=[] if run_id else _in_flight(con),
    )


def _in_flight(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Open intents per run: writes sent whose answers no run has recorded or settled yet."""
    [(present,)] = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'intents'",
        [SCHEMA],
    ).fetchall()
    if not present:
        return []
    return _dicts(
        con.execute(
            f"select run_id, count(*) as writes from {SCHEMA}.intents "
            "group by run_id order by min(created_at)"
        )
    )


def _not_in_build(
    con: duckdb.DuckDBPyConnection,
    contract: TableContract,
    *,
    run_id: str | None,
    environment_key: str | None,
) -> list[dict[str, Any]]:
    """The outcomes (the environment's latest per record, or with `--run` that run's) whose row the build no
    longer has: its file unloaded, or the row filtered out since. They are true of Dataverse all the same."""
    if run_id:
        outcomes = (
            f"select * from {readable_sql(con, 'results')} where run_id = ? and table_name = ? "
            "qualify row_number() over (partition by row_key order by finished_at desc nulls last) = 1"
        )
        params = [run_id, contract.table]
    else:
        outcomes = f"select * from ({latest_outcomes_sql(con)}) where environment_key = ? and table_name = ?"
        params = [environment_key or "", contract.table]
    return _dicts(
        con.execute(
            f"""
            with target as (select {row_key_sql(contract)} as row_key from {contract.relation.sql_name} t)
            select table_name, run_id, status, count(*) as rows
            from ({outcomes}) outcome
            where not exists (select 1 from target where target.row_key = outcome.row_key)
            group by all
            order by run_id, status
            """,
            params,
        )
    )


def _other_organization(runs: list[dict[str, Any]]) -> str | None:
    """When the last upload wrote to another organization than the latest run met (the environment was reset
    or restored at the same URL, or another one planned since), say so: its outcomes are not reconciled."""
    latest = runs[-1] if runs else None
    uploads = [r for r in runs if not r["dry_run"]]
    if latest is None or not uploads or uploads[-1]["environment_key"] == latest["environment_key"]:
        return None
    last = uploads[-1]
    return (
        f"the last upload (run {last['run_id']}) wrote to organization "
        f"{last.get('organization_id') or '?'} at {last['environment']}; the latest run ({latest['command']} "
        f"{latest['run_id']}) met organization {latest.get('organization_id') or '?'} at "
        f"{latest['environment']} (reset or restored, or another environment): reconciled against that one, "
        "where nothing recorded by the earlier organization counts"
    )


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


def _reconcile_run(con: duckdb.DuckDBPyConnection, contract: TableContract, run_id: str) -> dict[str, Any]:
    """One run's rows of a table (its latest outcome per row within the run, the writes a later run settled
    for it included): for a plan or dry run `updated` is what it would update (`skipped` then holds only the
    rows an applied plan left out); `not_in_run` the target rows it recorded nothing for."""
    key = row_key_sql(contract)
    would = f"r.status = 'skipped' and coalesce(r.error_code, '') <> '{NOT_IN_PLAN}' and r.dry_run"
    [row] = con.execute(
        f"""
        with target as (select {key} as row_key from {contract.relation.sql_name} t),
        mine as (
            select r.row_key, r.status, r.error_code, u.dry_run
            from {readable_sql(con, "results")} r join {readable_sql(con, "runs")} u using (run_id)
            where r.run_id = ? and r.table_name = ?
            qualify row_number() over (partition by r.row_key order by r.finished_at desc nulls last) = 1
        )
        select
            count(*),
            count(*) filter (where r.status = 'updated' or ({would})),
            count(*) filter (where r.status = 'unchanged'),
            count(*) filter (where r.status = 'failed'),
            count(*) filter (where r.status = 'skipped' and not ({would})),
            count(*) filter (where r.status is null)
        from target left join mine r using (row_key)
        """,
        [run_id, contract.table],
    ).fetchall()
    target_rows, updated, unchanged, failed, skipped, not_in_run = (int(v) for v in row)
    return {
        "table_name": contract.table,
        "target_rows": target_rows,
        "updated": updated,
        "unchanged": unchanged,
        "failed": failed,
        "skipped": skipped,
        "not_in_run": not_in_run,
        "difference": target_rows - updated - unchanged - failed - skipped - not_in_run,
    }


@dataclass(frozen=True)
class RowOutcomes:
    """One row's upload outcomes as `p2c lineage trace` tells them: in the organization the latest run met
    (the one `p2c results` reconciles), and a later one recorded in another organization (the environment
    was reset or restored at the same URL since: that outcome is not true of the records there)."""

    organization_id: str | None  # the organization the latest run met (its URL for runs recorded without)
    environment: str | None
    here: dict[str, Any] | None  # the latest outcome in that organization; None: not yet written there
    elsewhere: dict[str, Any] | None  # a later outcome in another organization, or None


def upload_result_of(
    con: duckdb.DuckDBPyConnection, table: str, record_id: str | None, row_key: str | None
) -> RowOutcomes | None:
    """The row's latest upload outcomes (for `p2c lineage trace`); None before any plan or upload."""
    if not has_upload_schema(con) or not (record_id or row_key):
        return None
    latest = _dicts(
        con.execute(
            f"select environment, organization_id, {environment_key_sql('runs')} as environment_key "
            f"from {readable_sql(con, 'runs')} runs order by started_at desc limit 1"
        )
    )
    if not latest:
        return None
    [met] = latest
    found = _dicts(
        con.execute(
            f"select * from ({latest_outcomes_sql(con)}) where table_name = ? and row_key = ? "
            "order by finished_at desc nulls last",
            [table, record_id.lower() if record_id else row_key],
        )
    )
    here = next((f for f in found if f["environment_key"] == met["environment_key"]), None)
    elsewhere = found[0] if found and found[0]["environment_key"] != met["environment_key"] else None
    return RowOutcomes(met["organization_id"] or None, met["environment"], here, elsewhere)
