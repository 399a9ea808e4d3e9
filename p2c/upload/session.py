"""What the `plan`, `upload` and `results` commands share: the database (with its build checked), the model
contracts of its build, and the Dataverse client. Nothing here prints: p2c/upload/render.py does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console

from p2c.build.record import read_evidence, target_dir_for
from p2c.contract.artifacts import load_artifacts
from p2c.contract.dataverse import TableContract, contract_problems, read_contracts
from p2c.database import check_existing, open_existing
from p2c.dataverse import BulkMode, ClientOptions, DataverseClient
from p2c.dataverse.throttle import HARD_MAX_PARALLEL
from p2c.errors import ArtifactsMissing, ContractError, P2CError, UsageError
from p2c.output import Column, OutputFormat, emit_json, render_rows
from p2c.upload.live import LiveStatus, database_path, status_path
from p2c.upload.progress import RunWatch
from p2c.upload.report import ROW_COLUMNS, RUN_COLUMNS, ResultsReport, build_report
from p2c.upload.runner import Runner
from p2c.upload.store import OutcomeStatus

# DuckDB's buffer pool for the upload: rows stream from it, so a small pool suffices, and it is most of the
# process's memory (1M rows: 485 MiB peak at 256MB with two chunks in flight, 508 MiB with four)
UPLOAD_MEMORY_LIMIT = "192MB"
BULK_MODES = {"auto": BulkMode.AUTO, "batch": BulkMode.BATCH, "single": BulkMode.SINGLE}
ALLOW_UNVERIFIED = "--allow-unverified"


class BuildNotVerified(P2CError):
    """The database has no successful build that covers its landed data: its rows are not sent (the same
    check as `p2c lineage pack`'s, p2c.build.record.BuildEvidence.problems)."""


@dataclass
class Session:
    con: duckdb.DuckDBPyConnection
    client: DataverseClient
    contracts: dict[str, TableContract]
    runner: Runner
    build_problems: list[str] = field(default_factory=list)  # accepted with --allow-unverified


@dataclass(frozen=True)
class ConnectionSettings:
    """How the client talks to Dataverse (the `upload` options; a plan uses the defaults)."""

    bulk: str = "auto"
    batch_size: int = 100
    parallel: int = 16
    bypass_business_logic: bool = False
    suppress_flows: bool = False
    device_code: bool = False
    retry_for_s: float | None = None  # how long an unreachable service is retried before the run stops
    leave_read_only: bool = False  # never write records in read-only states, even when the caller may


def contracts_of(db_path: Path) -> dict[str, TableContract]:
    """The dualwrite contracts of the build of this database (its own dbt artifacts). A database that does
    not exist is said so first: its missing build artifacts are only a consequence."""
    check_existing(db_path)
    try:
        artifacts = load_artifacts(target_dir_for(db_path))
    except ArtifactsMissing:
        # loaded, never built (or its build's artifacts removed): the build is what is missing
        raise ArtifactsMissing(
            f"{db_path} has no build to upload: its dbt artifacts ({target_dir_for(db_path)}) are missing",
            hint="run `p2c build` first",
        ) from None
    contracts = read_contracts(artifacts)
    problems = [problem for contract in contracts.values() for problem in contract_problems(contract)]
    if problems:
        raise ContractError("the model contract is incomplete: " + "; ".join(problems))
    if not contracts:
        raise UsageError(f"the build of {db_path} has no dualwrite tables", hint="run `p2c build` first")
    return contracts


def client_options(settings: ConnectionSettings, *, read_only: bool) -> ClientOptions:
    if not 1 <= settings.parallel <= HARD_MAX_PARALLEL:
        raise UsageError(
            f"--parallel {settings.parallel}: expected 1 to {HARD_MAX_PARALLEL} requests per user"
        )
    if settings.bulk not in BULK_MODES:
        raise UsageError(f"--bulk {settings.bulk!r}: one of {', '.join(BULK_MODES)}")
    if settings.retry_for_s is not None and settings.retry_for_s < 0:
        raise UsageError(f"--retry-for {settings.retry_for_s:g}: give the seconds to keep trying, 0 or more")
    extra: dict[str, Any] = {}
    if settings.retry_for_s is not None:
        extra["outage_budget_s"] = settings.retry_for_s
    return ClientOptions(
        bulk_mode=BULK_MODES[settings.bulk],
        batch_size=settings.batch_size,
        max_parallel_per_user=settings.parallel,
        bypass_business_logic="CustomSync,CustomAsync" if settings.bypass_business_logic else "",
        suppress_flows=settings.suppress_flows,
        read_only=read_only,
        **extra,
    )


def build_problems(con: duckdb.DuckDBPyConnection, db_path: Path, *, allow_unverified: bool) -> list[str]:
    """Why the database's rows are not vouched for by its last build; refused unless allowed."""
    problems = read_evidence(con, db_path).problems
    if problems and not allow_unverified:
        raise BuildNotVerified(
            "refusing to send rows that no successful build vouches for:\n  - " + "\n  - ".join(problems),
            hint=f"run `p2c build` on this database (and fix what fails), or pass {ALLOW_UNVERIFIED} if you "
            "know these rows are right",
        )
    return problems


@contextmanager
def open_session(
    db_path: Path,
    environment: str | None,
    options: ClientOptions,
    *,
    device_code: bool = False,
    allow_unverified: bool = False,
    watch: RunWatch | None = None,
) -> Iterator[Session]:
    contracts = contracts_of(db_path)
    with ExitStack() as stack:
        con = open_existing(db_path, read_only=False)
        stack.callback(con.close)
        problems = build_problems(con, db_path, allow_unverified=allow_unverified)
        # DuckDB would otherwise keep up to 80% of RAM of table pages cached; the upload streams its rows,
        # so a small buffer pool is enough and keeps a million-row upload's memory flat
        con.execute(f"set memory_limit = '{UPLOAD_MEMORY_LIMIT}'")
        con.execute("set preserve_insertion_order = false")
        client = DataverseClient.from_environment(environment, options=options, device_code=device_code)
        stack.callback(client.close)
        # the status file `p2c results --follow` reads, from the first request on (sign-in can take long)
        found = database_path(con)
        live = LiveStatus(status_path(found), None, client.environment_url, None) if found else None
        watch = watch or RunWatch()
        watch.live = live
        client.events = watch
        if live is not None:
            live.write()
        # every application user signs in (a token and a WhoAmI each) before anything is read or written
        client.sign_in()
        runner = Runner(con, client, contracts, progress=watch, live=live)
        yield Session(con, client, contracts, runner, problems)


def read_results(
    db_path: Path, *, run_id: str | None, status: str | None, tables: tuple[str, ...]
) -> ResultsReport:
    contracts = contracts_of(db_path)
    con = open_existing(db_path, read_only=True)
    try:
        report = build_report(con, contracts, run_id=run_id, status=status, tables=tables)
        # shown all the same (a plan refuses): the figures are of the build, not of what was loaded since
        report.build_problems = read_evidence(con, db_path).problems
        return report
    finally:
        con.close()


def print_results(report: ResultsReport, fmt: OutputFormat, console: Console) -> None:
    if fmt is OutputFormat.JSON:
        emit_json(
            {
                "environment": report.environment,
                "organization_id": report.organization_id,
                "run_id": report.run_id,
                "notice": report.notice,
                "build_problems": report.build_problems,
                "not_in_build": report.not_in_build,
                "in_flight": report.in_flight,
                "runs": report.runs,
                "reconciliation": report.reconciliation,
                "rows": report.rows,
            }
        )
        return
    if fmt is OutputFormat.CSV:
        # one table per invocation in CSV: the rows asked for (by default the failed ones)
        render_rows(report.rows, [Column(c) for c in ROW_COLUMNS], fmt)
        return
    render_rows(report.runs, [Column(c) for c in RUN_COLUMNS], fmt, title="upload runs")
    if report.run_id:
        kind = "what it would do, nothing sent" if report.dry_run else "what it did"
        title = f"run {report.run_id} -> {report.environment} ({kind})"
    else:
        title = f"reconciliation against {report.environment} (organization {report.organization_id or '?'})"
    render_rows(
        report.reconciliation,
        [Column(c, numeric=c != "table_name") for c in report.reconciliation_columns],
        fmt,
        title=title,
    )
    for notice in report.notices:
        console.print(f"note: {notice}", highlight=False, markup=False, soft_wrap=True)
    if report.rows:
        render_rows(report.rows, [Column(c) for c in ROW_COLUMNS], fmt, title="rows")
    else:
        shown = report.status or OutcomeStatus.FAILED.value
        kind = "no failed rows" if shown == OutcomeStatus.FAILED.value else f"no rows with status {shown}"
        console.print(kind, highlight=False)
