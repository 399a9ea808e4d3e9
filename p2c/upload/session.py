"""What the `plan`, `upload` and `results` commands share: the database, the model contracts of its build,
the Dataverse client, and how their outcome is printed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console

from p2c.build.record import target_dir_for
from p2c.contract.artifacts import load_artifacts
from p2c.contract.dataverse import TableContract, contract_problems, read_contracts
from p2c.database import open_existing
from p2c.dataverse import BulkMode, ClientOptions, DataverseClient
from p2c.errors import ContractError, UsageError
from p2c.output import Column, OutputFormat, emit_json, progress_console, render_rows
from p2c.upload.progress import TableBars
from p2c.upload.report import RECONCILIATION_COLUMNS, ROW_COLUMNS, RUN_COLUMNS, ResultsReport, build_report
from p2c.upload.runner import Progress, Runner, RunSummary

# DuckDB's buffer pool for the upload: rows stream from it, so a small pool suffices, and it is most of the
# process's memory (1M rows: 485 MiB peak at 256MB with two chunks in flight, 508 MiB with four)
UPLOAD_MEMORY_LIMIT = "192MB"
BULK_MODES = {"auto": BulkMode.AUTO, "batch": BulkMode.BATCH, "single": BulkMode.SINGLE}


@dataclass
class Session:
    con: duckdb.DuckDBPyConnection
    client: DataverseClient
    contracts: dict[str, TableContract]
    runner: Runner


def contracts_of(db_path: Path) -> dict[str, TableContract]:
    """The dualwrite contracts of the build of this database (its own dbt artifacts)."""
    contracts = read_contracts(load_artifacts(target_dir_for(db_path)))
    problems = [problem for contract in contracts.values() for problem in contract_problems(contract)]
    if problems:
        raise ContractError("the model contract is incomplete: " + "; ".join(problems))
    if not contracts:
        raise UsageError(f"the build of {db_path} has no dualwrite tables", hint="run `p2c build` first")
    return contracts


def _client_options(bulk: str, batch_size: int, parallel: int, **headers: bool) -> ClientOptions:
    if bulk not in BULK_MODES:
        raise UsageError(f"--bulk {bulk!r}: one of {', '.join(BULK_MODES)}")
    return ClientOptions(
        bulk_mode=BULK_MODES[bulk],
        batch_size=batch_size,
        max_parallel_per_user=parallel,
        bypass_business_logic="CustomSync,CustomAsync" if headers.get("bypass_business_logic") else "",
        suppress_flows=bool(headers.get("suppress_flows")),
    )


@contextmanager
def open_session(
    db_path: Path,
    environment: str | None,
    *,
    bulk: str = "auto",
    batch_size: int = 100,
    parallel: int = 16,
    bypass_business_logic: bool = False,
    suppress_flows: bool = False,
    device_code: bool = False,
) -> Iterator[Session]:
    options = _client_options(
        bulk, batch_size, parallel, bypass_business_logic=bypass_business_logic, suppress_flows=suppress_flows
    )
    contracts = contracts_of(db_path)
    with ExitStack() as stack:
        con = open_existing(db_path, read_only=False)
        stack.callback(con.close)
        # DuckDB would otherwise keep up to 80% of RAM of table pages cached; the upload streams its rows,
        # so a small buffer pool is enough and keeps a million-row upload's memory flat
        con.execute(f"set memory_limit = '{UPLOAD_MEMORY_LIMIT}'")
        con.execute("set preserve_insertion_order = false")
        client = DataverseClient.from_environment(environment, options=options, device_code=device_code)
        stack.callback(client.close)
        console = progress_console()
        progress: Progress | None = None
        if console is not None:
            progress = stack.enter_context(TableBars(console))
        yield Session(con, client, contracts, Runner(con, client, contracts, progress=progress))


SUMMARY_COLUMNS = (
    Column("table"),
    Column("rows", numeric=True),
    Column("already_done", "done before", numeric=True),
    Column("updated", numeric=True),
    Column("unchanged", numeric=True),
    Column("failed", numeric=True),
    Column("skipped", numeric=True),
    Column("not_found", "not found", numeric=True),
    Column("conflict", "conflicts", numeric=True),
    Column("cannot_write", "cannot write", numeric=True),
    Column("rows_per_s", "rows/s", numeric=True),
    Column("throttle_wait_s", "throttled s", numeric=True),
)


def summary_rows(summary: RunSummary) -> list[dict[str, Any]]:
    rows = []
    for tally in summary.tables:
        processed = tally.total - tally.already_done
        rows.append(
            {
                "table": tally.table,
                "rows": tally.total,
                "already_done": tally.already_done,
                **{status: tally.by_status.get(status, 0) for status in ("updated", "unchanged", "failed")},
                "skipped": tally.by_status.get("skipped", 0),
                "not_found": tally.by_decision.get("not_found", 0),
                "conflict": tally.by_decision.get("conflict", 0),
                "cannot_write": tally.by_decision.get("cannot_write", 0),
                "rows_per_s": round(processed / tally.seconds) if tally.seconds > 0 else 0,
                "throttle_wait_s": round(tally.throttle_wait_s, 1),
            }
        )
    return rows


def print_run_summary(summary: RunSummary, fmt: OutputFormat, console: Console, err: Console) -> None:
    rows = summary_rows(summary)
    if fmt is OutputFormat.JSON:
        emit_json(
            {
                "run_id": summary.run_id,
                "command": summary.command,
                "environment": summary.environment,
                "dry_run": summary.dry_run,
                "tables": rows,
                "notes": {t.table: t.notes for t in summary.tables if t.notes},
            }
        )
        return
    title = f"p2c {summary.command} {summary.run_id} -> {summary.environment}"
    render_rows(rows, SUMMARY_COLUMNS, fmt, title=title + (" (dry run)" if summary.dry_run else ""))
    for tally in summary.tables:
        for note in tally.notes:
            err.print(f"note: {note}", highlight=False, soft_wrap=True)
    if summary.failed:
        err.print(
            f"{summary.failed} row(s) failed: `p2c results --run {summary.run_id}` lists them with why",
            highlight=False,
        )


def read_results(
    db_path: Path, *, run_id: str | None, status: str | None, tables: tuple[str, ...]
) -> ResultsReport:
    contracts = contracts_of(db_path)
    con = open_existing(db_path, read_only=True)
    try:
        return build_report(con, contracts, run_id=run_id, status=status, tables=tables)
    finally:
        con.close()


def print_results(report: ResultsReport, fmt: OutputFormat, console: Console) -> None:
    if fmt is OutputFormat.JSON:
        emit_json(
            {
                "environment": report.environment,
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
    render_rows(
        report.reconciliation,
        [Column(c, numeric=c != "table_name") for c in RECONCILIATION_COLUMNS],
        fmt,
        title=f"reconciliation against {report.environment}",
    )
    if report.rows:
        render_rows(report.rows, [Column(c) for c in ROW_COLUMNS], fmt, title="rows")
    else:
        console.print("no rows of that status", highlight=False)
