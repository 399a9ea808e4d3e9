"""Streaming writer for Dynamics 365 "Export to Excel" static worksheets (xlsxwriter, constant_memory mode).

What makes the file look like Dynamics': the first three columns are the hidden `(Do Not Modify)` record id,
row checksum and modified-on columns; headers are display names in the user's language; lookups hold names;
choices hold labels; dates are real Excel dates and money real numbers with a number format."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from p2c.sample.formats import Column, Kind, Record
from p2c.sample.labels import choice_label

HIDDEN_COLUMNS = 3

CellWriter = Callable[[Worksheet, int, int, object], None]


class XlsxExport:
    """One workbook written a record at a time. Call `sheet(name)` before the records of each sheet; rows are
    flushed to disk as they are written (constant_memory), so a sheet must be finished before the next one."""

    def __init__(
        self,
        path: Path,
        table_name: str,
        columns: Sequence[Column],
        headers: Sequence[str],
        language_code: int,
        created: dt.datetime,
    ) -> None:
        self.path = path
        self.rows = 0
        self._table_name = table_name
        self._headers = headers
        self._workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                # Cell text is data: never turn "=..." into a formula or "http..." into a link.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        # A fixed creation time (xlsxwriter already fixes the zip entries' times): same input, same bytes.
        self._workbook.set_properties({"created": created, "author": "Dynamics 365"})
        formats = {
            Kind.DATE: self._workbook.add_format({"num_format": "m/d/yyyy"}),
            Kind.DATETIME: self._workbook.add_format({"num_format": "m/d/yyyy h:mm AM/PM"}),
            Kind.MONEY: self._workbook.add_format({"num_format": "#,##0.00"}),
            Kind.DECIMAL: self._workbook.add_format({"num_format": "0.00"}),
        }
        self._cells = [
            (col, column.logical_name, _cell_writer(table_name, column, language_code, formats))
            for col, column in enumerate(columns)
        ]
        self._sheet: Worksheet | None = None
        self._row = 0

    def sheet(self, name: str) -> None:
        sheet = self._workbook.add_worksheet(name)
        sheet.set_column(0, HIDDEN_COLUMNS - 1, None, None, {"hidden": True})
        sheet.set_column(HIDDEN_COLUMNS, len(self._headers) - 1, 22)
        for col, text in enumerate(self._headers):
            sheet.write_string(0, col, text)
        self._sheet, self._row = sheet, 0

    def write(self, record: Record) -> None:
        if self._sheet is None:
            raise RuntimeError("XlsxExport.sheet(name) must be called before the first record")
        self._row += 1
        for col, name, write in self._cells:
            value = record.get(name)
            if value is not None:
                write(self._sheet, self._row, col, value)
        self.rows += 1

    def close(self) -> None:
        # Dynamics workbooks also carry a hidden sheet of export metadata (its exact content is undocumented:
        # here only the table name). The loader must skip it, not read it as data.
        metadata = self._workbook.add_worksheet("hiddenSheet")
        metadata.write_string(0, 0, self._table_name)
        metadata.hide()
        self._workbook.close()

    def __enter__(self) -> XlsxExport:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _cell_writer(
    table_name: str, column: Column, language_code: int, formats: dict[Kind, Format]
) -> CellWriter:
    kind = column.kind
    if kind is Kind.CHOICE:
        # Cache the labels: a vocabulary lookup per cell would dominate large runs.
        labels: dict[object, str] = {}

        def write_choice(sheet: Worksheet, row: int, col: int, value: object) -> None:
            if value not in labels:
                labels[value] = choice_label(table_name, column.logical_name, int(value), language_code)  # type: ignore[call-overload]
            sheet.write_string(row, col, labels[value])

        return write_choice
    if kind in (Kind.DATE, Kind.DATETIME):
        date_format = formats[kind]

        def write_date(sheet: Worksheet, row: int, col: int, value: object) -> None:
            sheet.write_datetime(row, col, value, date_format)

        return write_date
    if kind in (Kind.MONEY, Kind.DECIMAL):
        number_format = formats[kind]

        def write_amount(sheet: Worksheet, row: int, col: int, value: object) -> None:
            sheet.write_number(row, col, value, number_format)

        return write_amount
    if kind is Kind.INTEGER:
        return lambda sheet, row, col, value: sheet.write_number(row, col, value)
    return lambda sheet, row, col, value: sheet.write_string(row, col, str(value))
