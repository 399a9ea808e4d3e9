"""File type, encoding and delimiter detection from the first bytes of a file."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from loaders.sniff import FileTypeError, detect_encoding, detect_file_type, normalize_encoding, sniff_text


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"", "empty file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "legacy Excel 97-2003"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ],
)
def test_detect_file_type_rejects_what_is_not_an_export(head: bytes, message: str) -> None:
    with pytest.raises(FileTypeError, match=message):
        detect_file_type(Path("accounts.csv"), head)


def test_detect_file_type_by_content_not_name() -> None:
    assert detect_file_type(Path("accounts.csv"), b"PK\x03\x04rest") == "xlsx"
    assert detect_file_type(Path("accounts.xlsx"), b"Account Number\r\n") == "csv"
    assert detect_file_type(Path("a.csv"), "Name\r\n".encode("utf-16-le")) == "csv"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (codecs.BOM_UTF8 + "Namn;Ort\r\nÅsa;Malmö\r\n".encode(), "utf-8-sig"),
        ("Namn;Ort\r\nÅsa;Malmö\r\n".encode("utf-16"), "utf-16"),
        ("Namn;Ort\r\nÅsa;Malmö\r\n".encode("utf-16-le"), "utf-16-le"),
        ("Namn;Ort\r\nÅsa;Malmö\r\n".encode("utf-16-be"), "utf-16-be"),
        ("Namn;Ort\r\nÅsa;Malmö €\r\n".encode("cp1252"), "cp1252"),
        ("Namn;Ort\r\nÅsa;Malmö\r\n".encode(), "utf-8"),
        # Real UTF-8 next to one damaged byte: UTF-8 whose bad row is rejected, not cp1252 mojibake.
        ("Namn;Ort\r\nÅsa;Malmö\r\n".encode() + b"x;\xff\r\n", "utf-8"),
    ],
)
def test_detect_encoding(data: bytes, expected: str) -> None:
    assert detect_encoding(data, complete=True) == expected


def test_sample_boundary_inside_a_multibyte_character_is_not_an_error() -> None:
    assert detect_encoding("Malmö".encode()[:-1], complete=False) == "utf-8"


@pytest.mark.parametrize(
    ("text", "delimiter", "header"),
    [
        ('a,b;c,"d;e"\n1,2', ",", ["a", "b;c", "d;e"]),
        ("a;b;c,d\r\n", ";", ["a", "b", "c,d"]),
        ("a\tb\tc\n", "\t", ["a", "b", "c"]),
        ('"multi\nline",b\n', ",", ["multi\nline", "b"]),
        ("single\n", ",", ["single"]),
    ],
)
def test_sniff_text_delimiter_and_header(text: str, delimiter: str, header: list[str]) -> None:
    fmt = sniff_text(text.encode(), complete=True)
    assert (fmt.delimiter, fmt.header) == (delimiter, header)


def test_normalize_encoding() -> None:
    assert normalize_encoding("UTF8") == "utf-8-sig"
    assert normalize_encoding("windows-1252") == "cp1252"
    with pytest.raises(FileTypeError, match="unknown encoding 'klingon'"):
        normalize_encoding("klingon")
