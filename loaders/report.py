"""What `p2c load` prints: one line per landed file or sheet, and the first rejected rows of each file."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from loaders.csv_exact import Reject
from loaders.landing import LoadResult
from loaders.load import LandingRun

# Rejected rows printed per file; all of them are in raw._rejects.
REJECTS_SHOWN = 5


def print_landing_report(run: LandingRun, console: Console, err_console: Console) -> None:
    """The summary table and the rejects on `console`; the files that failed, with why, on `err_console`."""
    console.print(summary_table(run.results, run.load_id))
    for result in run.results:
        for reject in result.rejects[:REJECTS_SHOWN]:
            console.print(f"[yellow]rejected:[/] {describe_reject(result, reject)}", highlight=False)
        if len(result.rejects) > REJECTS_SHOWN:
            more = len(result.rejects) - REJECTS_SHOWN
            console.print(
                f"[yellow]rejected:[/] {result.file}: {more} more rows, see raw._rejects", highlight=False
            )
    for result in run.failed:
        where = result.file + (f" [sheet {result.sheet}]" if result.sheet else "")
        err_console.print(f"[red]error:[/] {where}: {result.error}", highlight=False)


def describe_reject(result: LoadResult, reject: Reject) -> str:
    """File, data row, physical line and column of one rejected row, in words."""
    column = ""
    if reject.column_position is not None:
        column = f", column {reject.column_position}" + (
            f" ({reject.column_name})" if reject.column_name else ""
        )
    return f"{result.file}: data row {reject.data_row} (line {reject.line}){column}: {reject.reason}"


def summary_table(results: list[LoadResult], load_id: str) -> Table:
    table = Table(title=f"p2c load {load_id}", show_lines=False)
    for header in ("file", "sheet", "entity", "type", "read", "landed", "rejected", "status", "notes"):
        table.add_column(header, justify="right" if header in ("read", "landed", "rejected") else "left")
    styles = {"landed": "green", "replaced": "cyan", "unchanged": "dim", "skipped": "dim", "failed": "red"}
    for r in results:
        kind = r.file_type or ""
        if r.file_type == "csv" and r.encoding:
            kind += f" {r.encoding} {'tab' if r.delimiter == chr(9) else r.delimiter}"
        notes = []
        if r.detected_by and r.detected_by != "headers":
            notes.append(f"entity by {r.detected_by}")
        if r.unknown_headers:
            notes.append("unknown headers: " + ", ".join(r.unknown_headers))
        if r.duplicate_headers:
            notes.append("duplicate headers: " + "; ".join(r.duplicate_headers))
        if r.error:
            notes.append(r.error)
        table.add_row(
            Path(r.file).name,
            r.sheet or "",
            r.entity or "",
            kind,
            str(r.rows_read),
            str(r.rows_landed),
            str(r.rows_rejected),
            f"[{styles.get(r.status, '')}]{r.status}[/]",
            "\n".join(notes),
        )
    return table
