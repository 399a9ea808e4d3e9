"""What commands print for people and for scripts: one `--format table|json|csv` option and one renderer.

- `table` (the default): on a terminal a rich table; when stdout is not a terminal (a pipe, `> file.txt`) a
  plain aligned text table whose values are never cut, wrapped or ellipsized, so a saved output can be
  searched for a whole file name.
- `json`: one JSON document on stdout, nothing else on stdout (messages and progress go to stderr).
- `csv`: one header row and the rows, on stdout.

Progress belongs on stderr, and only when stderr is a terminal (`progress_console()`).

    from p2c.output import FormatOption, OutputFormat, Column, render_rows, emit_json
    def results(fmt: FormatOption = None): ...
        render_rows(rows, [Column("file"), Column("rows", numeric=True)], resolve_format(fmt), title="...")"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = [
    "Column",
    "FormatOption",
    "OutputFormat",
    "cell_text",
    "emit_csv",
    "emit_json",
    "plain_table",
    "print_table",
    "progress_console",
    "render_rows",
    "resolve_format",
    "stdout_console",
]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        help="table (default; never cut when piped), json or csv on stdout; messages go to stderr.",
        case_sensitive=False,
        show_default=False,
    ),
]


def resolve_format(value: OutputFormat | str | None) -> OutputFormat:
    return OutputFormat(value) if value else OutputFormat.TABLE


@dataclass(frozen=True)
class Column:
    key: str
    header: str | None = None
    numeric: bool = False

    @property
    def title(self) -> str:
        return self.header or self.key


def cell_text(value: Any) -> str:
    """A value as a person reads it: missing is empty (never `None`), lists joined, numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | Path | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "\n".join(cell_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def stdout_console() -> Console:
    """The console for data on stdout: rich on a terminal; elsewhere no colour codes and no width limit."""
    probe = Console()
    if probe.is_terminal:
        return probe
    return Console(width=100_000, color_system=None, soft_wrap=True, highlight=False)


def progress_console() -> Console | None:
    """stderr, when it is a terminal; None (no progress at all) otherwise: logs never mix with data."""
    console = Console(stderr=True)
    return console if console.is_terminal else None


def emit_json(document: Any, stream: IO[str] | None = None) -> None:
    out = stream or sys.stdout
    json.dump(document, out, indent=2, ensure_ascii=False, default=_json_default)
    out.write("\n")
    out.flush()


def emit_csv(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], stream: IO[str] | None = None
) -> None:
    out = stream or sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in rows:
        writer.writerow([cell_text(row.get(c.key)).replace("\n", "; ") for c in columns])
    out.flush()


def plain_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], title: str | None = None
) -> str:
    """An aligned text table with every value whole: multi-line values take several lines, nothing is cut."""
    cells = [[cell_text(row.get(c.key)).splitlines() or [""] for c in columns] for row in rows]
    widths = [len(c.title) for c in columns]
    for row_cells in cells:
        for index, lines in enumerate(row_cells):
            widths[index] = max(widths[index], *(len(line) for line in lines))

    def line(parts: Sequence[str]) -> str:
        padded = [
            part.rjust(widths[i]) if columns[i].numeric else part.ljust(widths[i])
            for i, part in enumerate(parts)
        ]
        return "  ".join(padded).rstrip()

    out = [title] if title else []
    out.append(line([c.title for c in columns]))
    out.append(line(["-" * w for w in widths]))
    for row_cells in cells:
        height = max(len(lines) for lines in row_cells)
        for n in range(height):
            out.append(line([lines[n] if n < len(lines) else "" for lines in row_cells]))
    return "\n".join(out) + "\n"


def rich_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], title: str | None = None
) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.title, justify="right" if column.numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(cell_text(row.get(c.key)) for c in columns))
    return table


def render_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    fmt: OutputFormat,
    *,
    title: str | None = None,
    console: Console | None = None,
) -> None:
    """Print rows in the chosen format on stdout (or `console` for the table format)."""
    if fmt == OutputFormat.JSON:
        emit_json([{c.key: row.get(c.key) for c in columns} for row in rows])
    elif fmt == OutputFormat.CSV:
        emit_csv(rows, columns)
    else:
        print_table(rows, columns, title=title, console=console)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    console: Console | None = None,
) -> None:
    console = console or stdout_console()
    if console.is_terminal:
        console.print(rich_table(rows, columns, title))
    else:
        console.out(plain_table(rows, columns, title), end="", highlight=False)
