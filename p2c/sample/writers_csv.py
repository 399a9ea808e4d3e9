"""Streaming CSV writer for the export shapes users hand us: Excel's "CSV UTF-8" in a Swedish or English
locale, an older Windows-1252 save, and the Web API / Power Query shape."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from p2c.sample.dataset import EXTRA_FIELDS
from p2c.sample.formats import Record


@dataclass(frozen=True)
class CsvShape:
    delimiter: str
    encoding: str  # a Python codec: "utf-8-sig" writes the byte order mark Excel puts first
    line_terminator: str


# Excel saving "CSV UTF-8" where the list separator is ";" (Swedish and most European locales).
EXCEL_UTF8_SEMICOLON = CsvShape(";", "utf-8-sig", "\r\n")
# The same file saved as plain "CSV" by an older Excel on Windows: the ANSI code page, no BOM.
EXCEL_CP1252_SEMICOLON = CsvShape(";", "cp1252", "\r\n")
# Excel "CSV UTF-8" in a US-English locale (only written by the CSV-only large runs).
EXCEL_UTF8_COMMA = CsvShape(",", "utf-8-sig", "\r\n")
# Power Query / a Web API dump: comma, UTF-8 without BOM, LF.
WEBAPI = CsvShape(",", "utf-8", "\n")


class CsvExport:
    """One CSV file written a record at a time: memory does not grow with the file."""

    def __init__(
        self, path: Path, header: Sequence[str], render: Callable[[Record], list[str]], shape: CsvShape
    ) -> None:
        self.path = path
        self.rows = 0
        self._render = render
        # newline="" hands line endings to the csv module: the terminator is exactly the shape's, and a
        # newline inside a quoted field stays a bare "\n" as Excel writes it.
        self._handle = path.open("w", encoding=shape.encoding, newline="")
        self._writer = csv.writer(
            self._handle, delimiter=shape.delimiter, lineterminator=shape.line_terminator
        )
        self._writer.writerow(header)

    def write(self, record: Record) -> None:
        row = self._render(record)
        extra = record.get(EXTRA_FIELDS)
        if extra:
            row.extend(extra)  # type: ignore[arg-type]
        self._writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CsvExport:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
