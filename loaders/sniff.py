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
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, .doc, and encrypted workbooks
# Names of OLE2 directory entries (UTF-16LE) that tell an encrypted .xlsx from a legacy .xls: both a password
# and a sensitivity label (Purview / IRM) wrap the workbook as an `EncryptedPackage` stream with a
# `\x06DataSpaces` storage; a password adds `EncryptionInfo` (StrongEncryption transform), a label the DRM
# transform and no EncryptionInfo.
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_DATA_SPACES = "\x06DataSpaces".encode("utf-16-le")
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
_DRM_MARKERS = tuple(name.encode("utf-16-le") for name in ("DRMEncrypted", "DRMTransform", "\tDRMContent"))
_PASSWORD_MARKERS = tuple(name.encode("utf-16-le") for name in ("StrongEncryption",))
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
        kind = ole2_kind(path, head)
        if kind == "label":
            raise FileTypeError(
                "workbook encrypted by a sensitivity label (Microsoft Purview / IRM): it cannot be read "
                "without the label's rights; in Excel remove the label (or save a copy without it, or with a "
                "label that does not encrypt) and load that copy"
            )
        if kind == "password":
            raise FileTypeError(
                "password-protected workbook: open it in Excel, remove the password (File > Info > Protect "
                "Workbook > Encrypt with Password) or save an unprotected copy, and load that"
            )
        raise FileTypeError(
            "legacy Excel 97-2003 workbook (.xls): open it in Excel and save it as .xlsx or CSV"
        )
    if not head:
        raise FileTypeError("empty file: there is no header row")
    for magic, kind in BINARY_MAGIC:
        if head.startswith(magic):
            raise FileTypeError(f"binary file ({kind}): not a CSV export and not an .xlsx workbook")
    if _control_bytes(head[:4096]) and not _looks_utf16(head):
        raise FileTypeError("binary file (control bytes): not a CSV export and not an .xlsx workbook")
    if b"\x00" in head[:4096] and not _looks_utf16(head):
        raise FileTypeError("binary file (NUL bytes): not a CSV export and not an .xlsx workbook")
    return "csv"


# Files people pick by mistake; refused by content, whatever they are called and even with --entity.
BINARY_MAGIC = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program (ELF)"),
)
_TEXT_CONTROLS = {9, 10, 12, 13, 26}  # tab, newline, form feed, carriage return, DOS end of file


def _control_bytes(sample: bytes) -> bool:
    """More than 1% C0 control bytes other than tab and line breaks: no export text looks like that."""
    controls = sum(1 for byte in sample if byte < 32 and byte not in _TEXT_CONTROLS)
    return controls > max(len(sample) // 100, 2)


def ole2_kind(path: Path, head: bytes) -> str:
    """'label', 'password' or 'legacy' for an OLE2 file, from the names of its directory entries. The
    directory may lie anywhere: beyond the sample the file is scanned (only files about to be refused)."""
    found: set[bytes] = set()
    wanted = (_ENCRYPTED_PACKAGE, _DATA_SPACES, _ENCRYPTION_INFO, *_DRM_MARKERS, *_PASSWORD_MARKERS)
    overlap = max(len(name) for name in wanted)

    def scan(chunk: bytes) -> None:
        found.update(name for name in wanted if name in chunk)

    scan(head)
    if len(head) >= SAMPLE_BYTES and path.is_file():
        with path.open("rb") as handle:
            handle.seek(len(head) - overlap)
            while chunk := handle.read(SAMPLE_BYTES + overlap):
                scan(chunk)
                if len(chunk) <= overlap:
                    break
                handle.seek(-overlap, 1)
    if _ENCRYPTED_PACKAGE not in found and _DATA_SPACES not in found:
        return "legacy"
    if any(marker in found for marker in _DRM_MARKERS):
        return "label"
    if _ENCRYPTION_INFO in found or any(marker in found for marker in _PASSWORD_MARKERS):
        return "password"
    return "label"


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
