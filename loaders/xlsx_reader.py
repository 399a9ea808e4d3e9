"""Read .xlsx workbooks with fastexcel (calamine, Rust) straight into Arrow, every cell as text.

Each sheet is read with header_row=None so the header row comes back as data: fastexcel would otherwise
rename duplicate or empty headers itself, and the loader must see and report them. All columns are read as
strings (dtypes="string"): fastexcel renders a number as its shortest decimal text at Excel's 15
significant digits (1234.5, 0.3, 42), a date or date-time cell as ISO 8601 "YYYY-MM-DD HH:MM:SS", a
boolean cell as true/false. docs/loading.md explains why that is the text kept.

Very hidden sheets are read too (Dynamics' metadata sheet is one, see loaders.metadata); `state` says which
sheets a user can see, `tables` which hold an Excel table (Dynamics puts its export in one)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import fastexcel

from loaders.errors import LoaderError

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Sheet:
    index: int
    name: str
    visible: bool
    header: list[str]
    data: pa.Table  # columns c0..cN, as strings, the header row removed
    state: str = "visible"  # visible | hidden | veryhidden
    tables: tuple[str, ...] = ()  # the Excel tables (ListObjects) on the sheet


class PendingWorkbook(Protocol):
    """A workbook being parsed in another thread (a Future, or loaders.early_read.EarlyParse)."""

    def result(self) -> list[Sheet]: ...


class WorkbookError(LoaderError):
    """A zip file that is not a readable .xlsx workbook."""


def read_sheets(path: Path) -> Iterator[Sheet]:
    try:
        reader = fastexcel.read_excel(str(path))
    except Exception as error:  # fastexcel raises its own exception types per failure
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WorkbookError(f"not a readable .xlsx workbook ({first_line})") from error
    tables = _tables_by_sheet(reader)
    for index, name in enumerate(reader.sheet_names):
        sheet = reader.load_sheet(index, header_row=None, dtypes="string")
        # pyarrow (~0.1 s to import) only now: `p2c load` starts this parse before the CLI's own imports
        # (loaders.early_read), and the parse should not wait for it
        import pyarrow as pa

        state = str(sheet.visible)
        visible = state == "visible"
        on_sheet = tables.get(name, ())
        batch = sheet.to_arrow()
        if batch.num_rows == 0:
            yield Sheet(index, name, visible, [], pa.table({}), state, on_sheet)
            continue
        header = ["" if value is None else str(value) for value in batch.slice(0, 1).to_pylist()[0].values()]
        table = pa.Table.from_batches([batch.slice(1)])
        table = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
        yield Sheet(index, name, visible, header, table, state, on_sheet)


def _tables_by_sheet(reader: fastexcel.ExcelReader) -> dict[str, tuple[str, ...]]:
    """Sheet name -> its Excel tables; a workbook without any costs one call."""
    try:
        if not reader.table_names():
            return {}
        return {name: tuple(reader.table_names(name)) for name in reader.sheet_names}
    except Exception:  # the tables only help to recognise the export sheet: never fail a workbook on them
        return {}


def read_workbook(path: Path) -> list[Sheet]:
    """All sheets at once: the loader parses the next workbook in a thread while DuckDB lands the current
    one (calamine releases the GIL while it parses)."""
    return list(read_sheets(path))
