"""Excel workbooks: every visible sheet, cells as the text fastexcel renders, hidden sheets skipped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xlsxwriter

Run = Callable[..., Any]
Query = Callable[..., list[tuple[Any, ...]]]


def write_workbook(path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    accounts = book.add_worksheet("Konton")
    headers = [
        "(Ändra inte) Konto",
        "(Ändra inte) Ändrad den",
        "Kontonummer",
        "Kontonamn",
        "Kreditgräns",
        "Status",
    ]
    accounts.write_row(0, 0, headers)
    accounts.write_string(1, 0, "a-1")
    accounts.write_datetime(1, 1, dt.datetime(2024, 1, 15, 13, 45, 10), stamp)
    accounts.write_string(1, 2, "K001")
    accounts.write_string(1, 3, "=SUM(A1:A9)")  # a text cell that looks like a formula lands unchanged
    accounts.write_number(1, 4, 1234.5)
    accounts.write_string(1, 5, "Aktiv")
    accounts.write_string(2, 0, "a-2")
    accounts.write_datetime(2, 1, dt.datetime(2024, 2, 29), date)
    accounts.write_string(2, 2, "K002")
    accounts.write_string(2, 3, "x" * 32_767)
    accounts.write_number(2, 4, 0.1 + 0.2)
    accounts.write_number(3, 4, 42)  # a row with one number only
    contacts = book.add_worksheet("Contacts")
    contacts.write_row(0, 0, ["(Do Not Modify) Contact", "First Name", "Last Name", "Is Active Customer"])
    contacts.write_row(1, 0, ["c-1", "Åsa", "Ek", "Ja"])
    hidden = book.add_worksheet("hiddenSheet")
    hidden.write_row(0, 0, ["entity metadata"])
    hidden.hide()
    book.add_worksheet("Empty")
    book.close()
    return path


def test_every_visible_sheet_lands_in_its_entity(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    path = write_workbook(tmp_path / "export.xlsx")
    results = load_run(path, company="USMF")
    assert [(r.sheet, r.entity, r.status, r.rows_read, r.rows_landed, r.error) for r in results] == [
        ("Konton", "account", "landed", 3, 3, None),
        ("Contacts", "contact", "landed", 1, 1, None),
        ("hiddenSheet", None, "skipped", 0, 0, "hidden sheet"),
        ("Empty", None, "skipped", 0, 0, "empty sheet"),
    ]
    assert load_query(
        "select accountid, modifiedon, accountnumber, left(name, 12), length(name), creditlimit, statecode, "
        "_source_sheet, _source_row, _company from raw.account order by _source_row"
    ) == [
        ("a-1", "2024-01-15 13:45:10", "K001", "=SUM(A1:A9)", 11, "1234.5", "Aktiv", "Konton", 1, "USMF"),
        ("a-2", "2024-02-29 00:00:00", "K002", "xxxxxxxxxxxx", 32_767, "0.3", None, "Konton", 2, "USMF"),
        (None, None, None, None, None, "42", None, "Konton", 3, "USMF"),
    ]
    assert load_query(
        "select contactid, firstname, lastname, msdynce_isactivecustomer, _source_sheet, _source_row, "
        "_source_file from raw.contact"
    ) == [("c-1", "Åsa", "Ek", "Ja", "Contacts", 1, str(path.resolve()))]
    assert load_query("select sheet, status, file_type from raw._loads order by started_at, sheet") == [
        ("Contacts", "landed", "xlsx"),
        ("Empty", "skipped", "xlsx"),
        ("Konton", "landed", "xlsx"),
        ("hiddenSheet", "skipped", "xlsx"),
    ]


def test_a_workbook_with_a_sheet_of_no_entity_fails_as_a_whole(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    path = tmp_path / "mixed.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Accounts").write_row(0, 0, ["Account Number", "Account Name"])
    book.add_worksheet("Notes").write_row(0, 0, ["Remember", "the milk"])
    book.close()
    [result] = load_run(path)
    assert (result.status, result.sheet, result.error) == (
        "failed",
        None,
        "sheet 'Notes': no header is a known column of any entity; pass --entity to load it anyway",
    )
    assert load_query("select count(*) from raw._files") == [(0,)]


def test_duplicate_and_empty_headers_in_a_sheet(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    path = tmp_path / "dup.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Account")
    sheet.write_row(0, 0, ["Account Number", "Account Number", None, "Notes"])
    sheet.write_row(1, 0, ["A1", "A1-copy", "no header", "n"])
    book.close()
    [result] = load_run(path)
    assert result.duplicate_headers == ["'Account Number' (column 2) -> accountnumber__2"]
    assert result.unknown_headers == ["", "Notes"]
    assert load_query("select accountnumber, accountnumber__2, column_3, Notes from raw.account") == [
        ("A1", "A1-copy", "no header", "n")
    ]


def test_legacy_xls_and_disguised_files_are_refused_by_content(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    xls = tmp_path / "accounts.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    png = tmp_path / "accounts.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    broken_zip = tmp_path / "broken.xlsx"
    broken_zip.write_bytes(b"PK\x03\x04 not really a workbook")
    results = load_run(xls, png, broken_zip)
    assert [r.status for r in results] == ["failed", "failed", "failed"]
    assert results[0].error.startswith("legacy Excel 97-2003 workbook (.xls)")
    assert results[1].error.startswith("binary file (a PNG image)")
    assert results[2].file_type == "xlsx"
    assert results[2].error.startswith("not a readable .xlsx workbook (")
    assert load_query("select count(*) from raw._files") == [(0,)]


def test_workbook_reload_unchanged_then_replaced(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    path = write_workbook(tmp_path / "export.xlsx")
    load_run(path)
    assert [r.status for r in load_run(path)] == ["unchanged"]
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Konton").write_row(0, 0, ["Kontonummer", "Kontonamn"])
    book.get_worksheet_by_name("Konton").write_row(1, 0, ["K9", "Nio AB"])
    book.close()
    results = load_run(path)
    assert [(r.sheet, r.status, r.rows_landed) for r in results] == [("Konton", "replaced", 1)]
    assert load_query("select accountnumber, name, _source_row from raw.account") == [("K9", "Nio AB", 1)]
    # The contact sheet of the old version is gone with it.
    assert load_query("select count(*) from raw.contact") == [(0,)]
