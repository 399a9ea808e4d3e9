"""Streaming writer for Dynamics 365 "Export to Excel" static worksheets (xlsxwriter, constant_memory mode).

What makes the file look like Dynamics': the first three columns are the hidden `(Do Not Modify)` record id,
row checksum and modified-on columns; headers are display names in the user's language; lookups hold names;
choices hold labels; dates are real Excel dates and money real numbers with a number format; and the very
hidden metadata sheet (`hiddenSheet`) in Dynamics' own format (see `metadata_cell`, docs/loading.md)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from p2c.sample.formats import Column, Kind, Record
from p2c.sample.labels import choice_label, choice_labels

HIDDEN_COLUMNS = 3
METADATA_SHEET = "hiddenSheet"
# The pseudo logical name Dynamics gives the row checksum column in the metadata sheet.
CHECKSUM_PSEUDO_NAME = "checksumLogicalName"
# Relationship ids of the sample's related-table columns: fixed, like a tenant's relationship metadata ids.
_RELATIONSHIP_NAMESPACE = uuid.UUID("6f1d3c52-8a4e-4b7f-9c2d-0e5a7b3f1d24")


def metadata_logical_name(table_name: str, logical_name: str) -> str:
    """The name the metadata sheet gives a column: `checksumLogicalName` for the row checksum,
    `<relationship id>.<column>` for a related table's column (the sample's `<lookup>__<column>`)."""
    if logical_name == "rowchecksum":
        return CHECKSUM_PSEUDO_NAME
    lookup, related, column = logical_name.partition("__")
    if related:
        return f"{uuid.uuid5(_RELATIONSHIP_NAMESPACE, f'{table_name}.{lookup}')}.{column}"
    return logical_name


def _encode(display_name: str) -> str:
    """Percent-encoded as Dynamics writes it: every character but letters, digits and `_.-~`, lower-case
    hex (`%28Do%20Not%20Modify%29`, `%2f`)."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(display_name, safe=""))


def metadata_cell(table_name: str, columns: Sequence[tuple[str, str]]) -> str:
    """Cell A1 of the metadata sheet: `<table>:<88-character base64>:<logical>=<display>&...` for (logical
    name, display name) pairs. The base64 value (64 bytes, meaning undocumented) is a hash here: same
    columns, same file."""
    pairs = "&".join(f"{metadata_logical_name(table_name, n)}={_encode(d)}" for n, d in columns)
    token = base64.b64encode(hashlib.sha512(f"{table_name}:{pairs}".encode()).digest()).decode("ascii")
    return f"{table_name}:{token}:{pairs}"


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
        self._metadata = metadata_cell(
            table_name, [(column.logical_name, text) for column, text in zip(columns, headers, strict=True)]
        )
        # Rows 2..n of the metadata sheet: the labels of each choice column of the view, in view order.
        self._choice_rows = [
            choice_labels(table_name, column.logical_name, language_code)
            for column in columns
            if column.kind is Kind.CHOICE
        ]
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
        # Dynamics workbooks end with a very hidden sheet of export metadata: A1 names the table and every
        # column's logical name, rows 2..n list the choice columns' labels (they feed the drop-downs).
        metadata = self._workbook.add_worksheet(METADATA_SHEET)
        metadata.write_string(0, 0, self._metadata)
        for row, labels in enumerate(self._choice_rows, start=1):
            for col, label in enumerate(labels):
                metadata.write_string(row, col, label)
        metadata.very_hidden()
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
