"""The exact CSV parser: Python's csv module over a decoded stream, one record at a time.

DuckDB's reader is the fast path; this one runs when DuckDB refuses a file (ragged rows, undecodable
bytes, stray quotes). It keeps every data row number exact, because it counts rejected records too, and
reports each reject with its physical line and column."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from loaders.sniff import SAMPLE_BYTES, UTF8_MULTIBYTE, detect_encoding

# Excel caps a cell at 32,767 characters, but a CSV can carry more: only DuckDB's 2 MB line limit applies.
csv.field_size_limit(1 << 30)
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Reject:
    data_row: int
    line: int
    column_position: int | None
    column_name: str | None
    reason: str
    record: str


@dataclass
class ExactParse:
    rows_read: int = 0
    rows_landed: int = 0
    rejects: list[Reject] | None = None


def _undecodable(value: str) -> bool:
    # surrogateescape turns each undecodable byte into a lone surrogate U+DC80..U+DCFF.
    return any("\udc80" <= char <= "\udcff" for char in value)


def _show(fields: list[str], delimiter: str) -> str:
    return delimiter.join(fields).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def parse_exact(
    path: Path, encoding: str, delimiter: str, names: list[str], result: ExactParse
) -> Iterator[pa.RecordBatch]:
    """Yield record batches (c0..cN as strings, plus _source_row) and fill `result` with counts and
    rejects. Blank lines are not records (DuckDB skips them too); empty fields are NULL."""
    width = len(names)
    result.rejects = []
    schema = pa.schema([pa.field(f"c{i}", pa.string()) for i in range(width)] + [("_source_row", pa.int64())])
    columns: list[list[str | None]] = [[] for _ in range(width)]
    row_numbers: list[int] = []
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=False)
        header_seen = False
        data_row = 0
        previous_line = 0
        for fields in reader:
            first_line, previous_line = previous_line + 1, reader.line_num
            if not fields:
                continue
            if not header_seen:
                header_seen = True
                continue
            data_row += 1
            reject = _check(fields, width, names, encoding)
            if reject is not None:
                position, reason = reject
                name = names[position - 1] if position is not None and position <= width else None
                result.rejects.append(
                    Reject(data_row, first_line, position, name, reason, _show(fields, delimiter))
                )
                continue
            for index, value in enumerate(fields):
                columns[index].append(value if value != "" else None)
            row_numbers.append(data_row)
            if len(row_numbers) >= BATCH_ROWS:
                yield _batch(schema, columns, row_numbers)
                columns, row_numbers = [[] for _ in range(width)], []
    result.rows_read = data_row
    result.rows_landed = data_row - len(result.rejects)
    yield _batch(schema, columns, row_numbers)


def _check(fields: list[str], width: int, names: list[str], encoding: str) -> tuple[int | None, str] | None:
    if len(fields) > width:
        return width + 1, f"too many fields: expected {width}, found {len(fields)}"
    if len(fields) < width:
        return len(fields) + 1, f"too few fields: expected {width}, found {len(fields)}"
    for index, value in enumerate(fields):
        if _undecodable(value):
            bad = bytes(ord(char) - 0xDC00 for char in value if "\udc80" <= char <= "\udcff")
            return index + 1, f"bytes not valid in {encoding}: {bad!r}"
    return None


def _batch(schema: pa.Schema, columns: list[list[str | None]], row_numbers: list[int]) -> pa.RecordBatch:
    arrays = [pa.array(values, type=pa.string()) for values in columns]
    arrays.append(pa.array(row_numbers, type=pa.int64()))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def full_encoding_guess(path: Path) -> str:
    """The encoding judged on the whole file, for the exact parser (the sniffer saw only the first MiB).
    Streams in 1 MiB chunks: a damaged 200 MB file must not be held in memory."""
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
        guess = detect_encoding(head, complete=len(head) < SAMPLE_BYTES)
        if guess != "utf-8":
            return guess  # a BOM, UTF-16 or already cp1252: the start of the file is conclusive
        decoder = codecs.getincrementaldecoder("utf-8")()
        multibyte, invalid = UTF8_MULTIBYTE.search(head) is not None, False
        chunk = head
        while chunk:
            if not invalid:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    invalid = True
            multibyte = multibyte or UTF8_MULTIBYTE.search(chunk) is not None
            chunk = handle.read(SAMPLE_BYTES)
        if not invalid:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                invalid = True
    # Invalid bytes and no valid multi-byte sequence anywhere: a cp1252 file whose first MiB was ASCII.
    return "cp1252" if invalid and not multibyte else "utf-8"


def transcode_to_utf8(path: Path, encoding: str, target: Path) -> None:
    """Re-encode a cp1252 / UTF-16 file as UTF-8 for DuckDB, which reads only UTF-8 (and latin-1, which is
    not cp1252: it has no euro sign). Strict: an undecodable byte raises, and the exact parser takes over."""
    with (
        path.open(encoding=encoding, errors="strict", newline="") as source,
        target.open("w", encoding="utf-8", newline="") as sink,
    ):
        first = True
        while chunk := source.read(1 << 20):
            sink.write(chunk.lstrip("\ufeff") if first else chunk)
            first = False
