"""What a file is, by its content: workbook or text, which encoding, which delimiter, which header.

Only the first bytes are inspected here, so a 200 MB file costs nothing extra; the full read later
confirms the guess (an invalid byte further down sends the file to the exact parser, see csv_exact)."""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from loaders.errors import LoaderError

SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t")
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, .doc, and password-protected workbooks
# A UTF-8 multi-byte sequence: its presence next to invalid bytes means "UTF-8 with damage", not cp1252.
UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


class FileTypeError(LoaderError):
    """A file that is neither a CSV text file nor an .xlsx workbook."""


@dataclass(frozen=True)
class TextFormat:
    encoding: str  # a Python codec name; 'utf-8' and 'utf-8-sig' DuckDB reads directly
    delimiter: str
    header: list[str]


def detect_file_type(path: Path, head: bytes) -> str:
    """'xlsx' or 'csv' from the magic bytes, whatever the file is called."""
    if head.startswith(ZIP_MAGIC):
        return "xlsx"
    if head.startswith(OLE2_MAGIC):
        raise FileTypeError(
            "legacy Excel 97-2003 workbook (.xls) or a password-protected workbook: "
            "open it in Excel and save it as .xlsx or CSV"
        )
    if not head:
        raise FileTypeError("empty file: there is no header row")
    if b"\x00" in head[:4096] and not _looks_utf16(head):
        raise FileTypeError("binary file (NUL bytes): not a CSV export and not an .xlsx workbook")
    return "csv"


def _looks_utf16(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    sample = head[:4096]
    # UTF-16 text without BOM: ASCII characters leave every other byte NUL.
    return len(sample) >= 4 and (
        sample[1::2].count(0) > len(sample) // 4 or sample[0::2].count(0) > len(sample) // 4
    )


def detect_encoding(head: bytes, *, complete: bool) -> str:
    """Guess the codec from a BOM, NUL patterns and UTF-8 validity. `complete` says whether `head` is the
    whole file (then a truncated multi-byte sequence at the end is an error, not a sample boundary)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _looks_utf16(head):
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
        return "utf-8"
    except UnicodeDecodeError:
        # Valid multi-byte sequences next to invalid bytes: a damaged UTF-8 file whose bad rows are rejected.
        return "utf-8" if UTF8_MULTIBYTE.search(head) else "cp1252"


def normalize_encoding(name: str) -> str:
    """--encoding accepts any Python codec name; a UTF-8 BOM is skipped either way."""
    try:
        canonical = codecs.lookup(name).name
    except LookupError as error:
        raise FileTypeError(f"unknown encoding {name!r}") from error
    return "utf-8-sig" if canonical == "utf-8" else canonical


def _first_record_delimiter(text: str) -> str:
    """Count the candidate delimiters outside quotes in the first record (the header)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def sniff_text(head: bytes, *, complete: bool, encoding: str | None = None) -> TextFormat:
    """Encoding, delimiter and header record of a CSV file from its first bytes."""
    encoding = encoding or detect_encoding(head, complete=complete)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=complete)
    text = text.lstrip("\ufeff")
    delimiter = _first_record_delimiter(text)
    for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False):
        if record:
            return TextFormat(encoding, delimiter, record)
        break
    raise FileTypeError("no header row: the first line is empty")
