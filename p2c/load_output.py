"""What `p2c load` prints, in the three formats of p2c.output, and what it says when Ctrl-C stops it.

On a terminal the table is loaders.report's rich table; piped, the same columns as plain text with every value
whole; `--format json|csv` one row per file (or sheet) on stdout. Failed files and messages go to stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from loaders.landing import LoadResult
from loaders.load import LandingRun
from loaders.report import REJECTS_SHOWN, describe_reject, print_landing_report
from p2c.output import Column, OutputFormat, emit_csv, emit_json, print_table, stdout_console

LOAD_COLUMNS = (
    Column("file"),
    Column("sheet"),
    Column("entity"),
    Column("type"),
    Column("read", numeric=True),
    Column("landed", numeric=True),
    Column("rejected", numeric=True),
    Column("status"),
    Column("notes"),
)
FIELDS = (
    "file",
    "sheet",
    "entity",
    "detected_by",
    "file_type",
    "encoding",
    "delimiter",
    "company",
    "rows_read",
    "rows_landed",
    "rows_rejected",
    "status",
    "error",
    "sha256",
    "unknown_headers",
    "duplicate_headers",
)


def _notes(result: LoadResult) -> list[str]:
    notes = []
    if result.detected_by and result.detected_by != "headers":
        notes.append(f"entity by {result.detected_by}")
    if result.unknown_headers:
        notes.append("unknown headers: " + ", ".join(result.unknown_headers))
    if result.duplicate_headers:
        notes.append("duplicate headers: " + "; ".join(result.duplicate_headers))
    if result.error:
        notes.append(result.error)
    return notes


def table_row(result: LoadResult) -> dict[str, Any]:
    kind = result.file_type or ""
    if result.file_type == "csv" and result.encoding:
        kind += f" {result.encoding} {'tab' if result.delimiter == chr(9) else result.delimiter}"
    return {
        "file": result.file,
        "sheet": result.sheet,
        "entity": result.entity,
        "type": kind,
        "read": result.rows_read,
        "landed": result.rows_landed,
        "rejected": result.rows_rejected,
        "status": str(result.status),
        "notes": _notes(result),
    }


def record(result: LoadResult) -> dict[str, Any]:
    """One file (or sheet) for scripts: its outcome, and its rejected rows with row, line and reason."""
    row: dict[str, Any] = {name: getattr(result, name) for name in FIELDS}
    row["status"] = str(result.status)
    row["rejects"] = [
        {
            "data_row": reject.data_row,
            "line": reject.line,
            "column_position": reject.column_position,
            "column_name": reject.column_name,
            "reason": reject.reason,
        }
        for reject in result.rejects
    ]
    return row


def render_landing(
    run: LandingRun, fmt: OutputFormat, db_path: Path, err_console: Console, *, interrupted: bool = False
) -> None:
    if fmt == OutputFormat.JSON:
        emit_json(
            {
                "database": str(db_path),
                "load_id": run.load_id,
                "interrupted": interrupted,
                "failed": len(run.failed),
                "files": [record(r) for r in run.results],
            }
        )
    elif fmt == OutputFormat.CSV:
        emit_csv([record(r) for r in run.results], [Column(name) for name in FIELDS])
    else:
        console = stdout_console()
        if console.is_terminal:
            print_landing_report(run, console, err_console)
            return
        print_table([table_row(r) for r in run.results], LOAD_COLUMNS, title=f"p2c load {run.load_id}")
        for result in run.results:
            for reject in result.rejects[:REJECTS_SHOWN]:
                console.out(f"rejected: {describe_reject(result, reject)}", highlight=False)
            if len(result.rejects) > REJECTS_SHOWN:
                more = len(result.rejects) - REJECTS_SHOWN
                console.out(f"rejected: {result.file}: {more} more rows, see raw._rejects", highlight=False)
    for result in run.failed:
        where = result.file + (f" [sheet {result.sheet}]" if result.sheet else "")
        err_console.print(f"[red]error:[/] {where}: {result.error}", highlight=False, soft_wrap=True)
