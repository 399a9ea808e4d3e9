"""Dynamics 365 "Export to Excel" workbooks as Dynamics writes them and as users leave them: the very hidden
metadata sheet names every column, user sheets are skipped, label-encrypted files are refused.

The workbooks are generated here in the layout docs/loading.md describes (from real exports): data sheet
first, then `hiddenSheet` (very hidden) whose A1 is `<table>:<base64>:<logical>=<percent-encoded display>&...`
and whose rows 2..n are the labels of the view's choice columns."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import xlsxwriter

Run = Callable[..., Any]
Query = Callable[..., list[tuple[Any, ...]]]

MANAGER_RELATIONSHIP = "0b5e6a1c-3d2f-4e6a-9b8c-1a2b3c4d5e6f"
COMPANY_RELATIONSHIP = "7befeabe-bf01-4207-97f8-7a96e05d2332"


def metadata_a1(table: str, pairs: Sequence[tuple[str, str]]) -> str:
    token = base64.b64encode(hashlib.sha512(table.encode()).digest()).decode()
    assert len(token) == 88 and token.endswith("==")
    encoded = "&".join(
        f"{logical}={quote(display, safe='').replace('%2F', '%2f')}" for logical, display in pairs
    )
    return f"{table}:{token}:{encoded}"


def write_export(
    path: Path,
    sheet_name: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str | None]],
    a1: str | None,
    choice_rows: Sequence[Sequence[str]] = (),
    user_sheets: Sequence[tuple[int, str, Sequence[Sequence[str]]]] = (),
    table: bool = True,
    metadata_visible: bool = False,
) -> Path:
    """A workbook like Dynamics' export; `user_sheets` (position, name, rows) are sheets a user added;
    `metadata_visible`: the metadata sheet as a user who unhid it left it."""
    book = xlsxwriter.Workbook(str(path))
    order: list[tuple[int, str]] = [(10, "data"), (20, "meta")] + [
        (pos, f"user{i}") for i, (pos, _, _) in enumerate(user_sheets)
    ]
    for _, what in sorted(order):
        if what == "data":
            sheet = book.add_worksheet(sheet_name)
            sheet.write_row(0, 0, header)
            for r, row in enumerate(rows, start=1):
                for c, value in enumerate(row):
                    if value is not None:
                        sheet.write_string(r, c, value)
            if table:
                sheet.add_table(
                    0, 0, len(rows), len(header) - 1, {"columns": [{"header": h} for h in header]}
                )
        elif what == "meta" and a1 is not None:
            meta = book.add_worksheet("hiddenSheet")
            meta.write_string(0, 0, a1)
            for r, labels in enumerate(choice_rows, start=1):
                meta.write_row(r, 0, labels)
            if not metadata_visible:
                meta.very_hidden()
        elif what.startswith("user"):
            _, name, cells = user_sheets[int(what[4:])]
            user = book.add_worksheet(name)
            for r, row in enumerate(cells):
                user.write_row(r, 0, row)
            user.activate()
    book.close()
    return path


CONTACT_HEADER = [
    "(Do Not Modify) Contact",
    "(Do Not Modify) Row Checksum",
    "(Do Not Modify) Modified On",
    " Full Name",
    "Job Title",
    "HT Account Number",
    "Company Name",
    "Email (Company Name) (Contact)",
    "Email (Manager) (Contact)",
    "Status",
    "Tier",
]
# Not in column order (Dynamics does that too): matched by display name.
CONTACT_PAIRS = [
    ("contactid", "(Do Not Modify) Contact"),
    ("checksumLogicalName", "(Do Not Modify) Row Checksum"),
    ("modifiedon", "(Do Not Modify) Modified On"),
    ("fullname", " Full Name"),
    ("so_htaccountnumber", "HT Account Number"),
    ("jobtitle", "Job Title"),
    ("parentcustomerid", "Company Name"),
    (f"{COMPANY_RELATIONSHIP}.emailaddress1", "Email (Company Name) (Contact)"),
    (f"{MANAGER_RELATIONSHIP}.emailaddress1", "Email (Manager) (Contact)"),
    ("statecode", "Status"),
    ("so_tier", "Tier"),
]
CONTACT_ROWS: list[list[str | None]] = [
    [
        "c-1",
        "sum1",
        "2025-01-02 03:04:05",
        "Åsa Ek",
        "Buyer",
        "HT-001",
        "Fabrikam",
        "info@fabrikam.example",
        "boss@example.com",
        "Active",
        "Gold",
    ],
    ["c-2", "sum2", "2025-01-03 03:04:05", "Bo Al", None, "HT-002", None, None, None, "Inactive", "Silver"],
]


def test_the_metadata_sheet_names_every_column(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    path = write_export(
        tmp_path / "All Contacts 11-2-2025 12-13-36 PM.xlsx",
        "All Contacts",
        CONTACT_HEADER,
        CONTACT_ROWS,
        metadata_a1("contact", CONTACT_PAIRS),
        choice_rows=[["Active", "Inactive"], ["Gold", "Silver", "Bronze"]],
    )
    results = load_run(path, company="USMF")
    assert [(r.sheet, r.entity, r.detected_by, r.status, r.rows_landed, r.error) for r in results] == [
        ("All Contacts", "contact", "metadata sheet", "landed", 2, None),
        ("hiddenSheet", None, None, "skipped", 0, "metadata sheet of a Dynamics export of table contact"),
    ]
    names = [
        "contactid",
        "rowchecksum",
        "modifiedon",
        "fullname",
        "jobtitle",
        "so_htaccountnumber",
        "parentcustomerid",
        "parentcustomerid__emailaddress1",
        f"{MANAGER_RELATIONSHIP}.emailaddress1",
        "statecode",
        "so_tier",
    ]
    assert results[0].unknown_headers == []
    assert results[0].headers == [
        {"position": i, "header": h, "logical_name": n, "how": "metadata-sheet"}
        for i, (h, n) in enumerate(zip(CONTACT_HEADER, names, strict=True), start=1)
    ]
    columns = ", ".join(f'"{n}"' for n in names)
    assert load_query(
        f"select {columns}, _source_sheet, _source_row, _company from raw.contact order by 1"
    ) == [
        (*CONTACT_ROWS[0], "All Contacts", 1, "USMF"),
        (*CONTACT_ROWS[1], "All Contacts", 2, "USMF"),
    ]
    assert load_query(
        "select headers[5].how, headers[5].logical_name, detected_by from raw._loads where status = 'landed'"
    ) == [("metadata-sheet", "jobtitle", "metadata sheet")]
    assert load_query(
        'select file, sheet, entity, metadata_row, column_position, "column", header, label_position, label '
        "from raw._choice_labels order by metadata_row, label_position"
    ) == [
        (str(path.resolve()), "All Contacts", "contact", 2, 10, "statecode", "Status", 1, "Active"),
        (str(path.resolve()), "All Contacts", "contact", 2, 10, "statecode", "Status", 2, "Inactive"),
        (str(path.resolve()), "All Contacts", "contact", 3, 11, "so_tier", "Tier", 1, "Gold"),
        (str(path.resolve()), "All Contacts", "contact", 3, 11, "so_tier", "Tier", 2, "Silver"),
        (str(path.resolve()), "All Contacts", "contact", 3, 11, "so_tier", "Tier", 3, "Bronze"),
    ]
    # Reloading a changed file replaces its labels too.
    write_export(
        path,
        "All Contacts",
        CONTACT_HEADER[:4],
        [r[:4] for r in CONTACT_ROWS],
        metadata_a1("contact", CONTACT_PAIRS[:4]),
    )
    assert [r.status for r in load_run(path)] == ["replaced", "skipped"]
    assert load_query("select count(*) from raw._choice_labels") == [(0,)]


def test_a_language_the_vocabulary_does_not_know_lands_with_exact_names(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    header = [
        "(Nicht ändern) Konto",
        "(Nicht ändern) Zeilenprüfsumme",
        "(Nicht ändern) Geändert am",
        "Kontoname",
        "Hauptgeschäftsnummer",
        "Ort",
        "Land/Region",
    ]
    pairs = [
        ("accountid", header[0]),
        ("checksumLogicalName", header[1]),
        ("modifiedon", header[2]),
        ("name", header[3]),
        ("telephone1", header[4]),
        ("address1_country", header[6]),
        ("address1_city", header[5]),
    ]
    rows = [["a-1", "x", "2025-01-01 00:00:00", "Fourth Coffee", "+49 30 1", "Berlin", "Deutschland"]]
    path = write_export(
        tmp_path / "Aktive Konten.xlsx", "Aktive Konten", header, rows, metadata_a1("account", pairs)
    )
    [landed, skipped] = load_run(path)
    assert (landed.entity, landed.detected_by, landed.unknown_headers) == ("account", "metadata sheet", [])
    assert skipped.status == "skipped"
    assert load_query(
        "select accountid, rowchecksum, modifiedon, name, telephone1, address1_city, address1_country, "
        "_source_row from raw.account"
    ) == [(*rows[0], 1)]


def test_a_metadata_sheet_a_user_made_visible_still_names_the_columns(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    """Unhidden (by a macro or a tool), the metadata sheet is still recognised by its A1: the export lands
    with exact names, the metadata sheet is skipped as such, not as "no known column"."""
    header = ["(Nicht ändern) Konto", "Kontoname", "HT-Kontonummer"]
    pairs = [("accountid", header[0]), ("name", header[1]), ("so_htaccountnumber", header[2])]
    rows = [["a-1", "Fourth Coffee", "HT-1"]]
    path = write_export(
        tmp_path / "Konten.xlsx", "Konten", header, rows, metadata_a1("account", pairs), metadata_visible=True
    )
    [landed, skipped] = load_run(path)
    assert (landed.entity, landed.detected_by, landed.unknown_headers) == ("account", "metadata sheet", [])
    assert (skipped.sheet, skipped.status) == ("hiddenSheet", "skipped")
    assert skipped.error == (
        "metadata sheet of a Dynamics export of table account (made visible: Dynamics writes it very hidden)"
    )
    assert load_query("select accountid, name, so_htaccountnumber from raw.account") == [tuple(rows[0])]


def test_entity_option_contradicting_the_metadata_fails(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    path = write_export(
        tmp_path / "c.xlsx",
        "All Contacts",
        CONTACT_HEADER,
        CONTACT_ROWS,
        metadata_a1("contact", CONTACT_PAIRS),
    )
    [result] = load_run(path, entity="account")
    assert result.status == "failed"
    assert result.error == (
        "sheet 'All Contacts': --entity account contradicts the workbook's metadata sheet: "
        "it is an export of contact"
    )
    other = write_export(
        tmp_path / "o.xlsx",
        "All Opportunities",
        ["(Do Not Modify) Opportunity", "Topic"],
        [["o-1", "Big deal"]],
        metadata_a1("opportunity", [("opportunityid", "(Do Not Modify) Opportunity"), ("name", "Topic")]),
    )
    [result] = load_run(other)
    assert result.status == "failed"
    assert result.error.startswith(
        "sheet 'All Opportunities': the metadata sheet names table 'opportunity', which is not"
    )
    assert load_query("select count(*) from raw._files") == [(0,)]


NOTES = [
    ["DYNAMIC FIELDS", "TEMPLATE FIELDS"],
    ["(Do Not Modify) Account", "Account GUID"],
    ["Account Name", "Name"],
]


def test_a_user_sheet_beside_the_export_is_skipped(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    header = [
        "(Do Not Modify) Account",
        "(Do Not Modify) Row Checksum",
        "(Do Not Modify) Modified On",
        "Account Name",
    ]
    pairs = [
        ("accountid", header[0]),
        ("checksumLogicalName", header[1]),
        ("modifiedon", header[2]),
        ("name", header[3]),
    ]
    rows = [
        ["a-1", "s", "2025-01-01 00:00:00", "Fourth Coffee"],
        ["a-2", "t", "2025-01-02 00:00:00", "Contoso"],
    ]
    # The user's notes come first and are the active tab: the export is still found by its metadata.
    path = write_export(
        tmp_path / "Active Accounts.xlsx",
        "Active Accounts",
        header,
        rows,
        metadata_a1("account", pairs),
        user_sheets=[(5, "Sheet1", NOTES), (30, "Account Names", [["Account Name"], ["Fourth Coffee"]])],
        table=False,
    )
    results = load_run(path)
    assert [(r.sheet, r.entity, r.status, r.rows_landed, r.error) for r in results] == [
        (
            "Sheet1",
            None,
            "skipped",
            0,
            "not an export sheet: its headers are not the columns the metadata sheet lists "
            "(the export is sheet 'Active Accounts')",
        ),
        ("Active Accounts", "account", "landed", 2, None),
        ("hiddenSheet", None, "skipped", 0, "metadata sheet of a Dynamics export of table account"),
        (
            "Account Names",
            None,
            "skipped",
            0,
            "not an export sheet: its headers are not the columns the metadata sheet "
            "lists (the export is sheet 'Active Accounts')",
        ),
    ]
    assert load_query("select accountid, name, _source_sheet, _source_row from raw.account order by 1") == [
        ("a-1", "Fourth Coffee", "Active Accounts", 1),
        ("a-2", "Contoso", "Active Accounts", 2),
    ]
    assert load_query("select sheet, status from raw._loads order by sheet") == [
        ("Account Names", "skipped"),
        ("Active Accounts", "landed"),
        ("Sheet1", "skipped"),
        ("hiddenSheet", "skipped"),
    ]


def test_without_metadata_the_do_not_modify_headers_or_the_table_mark_the_export(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    header = ["(Do Not Modify) Account", "Account Name", "Account Number"]
    rows = [["a-1", "Fourth Coffee", "A1"]]
    by_prefix = write_export(
        tmp_path / "by-prefix.xlsx",
        "Accounts",
        header,
        rows,
        None,
        user_sheets=[(1, "Notes", NOTES)],
        table=False,
    )
    by_table = write_export(
        tmp_path / "by-table.xlsx",
        "Accounts",
        header[1:],
        [r[1:] for r in rows],
        None,
        user_sheets=[(1, "Notes", NOTES)],
    )
    results = load_run(by_prefix, by_table)
    assert [(Path(r.file).name, r.sheet, r.status, r.rows_landed) for r in results] == [
        ("by-prefix.xlsx", "Notes", "skipped", 0),
        ("by-prefix.xlsx", "Accounts", "landed", 1),
        ("by-table.xlsx", "Notes", "skipped", 0),
        ("by-table.xlsx", "Accounts", "landed", 1),
    ]
    assert results[0].error == (
        "not an export sheet (no header is a known column of any entity; pass --entity to load it anyway; "
        "the export is sheet 'Accounts')"
    )
    assert load_query(
        "select accountid, name, accountnumber, _source_sheet from raw.account order by _source_file"
    ) == [
        ("a-1", "Fourth Coffee", "A1", "Accounts"),
        (None, "Fourth Coffee", "A1", "Accounts"),
    ]


def ole2(entries: Sequence[tuple[str, int]]) -> bytes:
    """A minimal compound file (CFB v3): header, one FAT sector, one directory sector with `entries`
    (name, type: 1 storage, 2 stream) below the root entry. Enough for a reader to list the names."""
    names = [("Root Entry", 5), *entries]
    assert len(names) <= 4
    directory = b""
    for index, (name, kind) in enumerate(names):
        encoded = (name + "\x00").encode("utf-16-le")
        child = 1 if index == 0 and len(names) > 1 else 0xFFFFFFFF
        right = index + 1 if 0 < index < len(names) - 1 else 0xFFFFFFFF
        directory += (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB3I", len(encoded), kind, 1, 0xFFFFFFFF, right, child)
            + b"\x00" * 36
            + struct.pack("<IQ", 0xFFFFFFFE, 0)
        )
    directory = directory.ljust(512, b"\x00")
    fat = struct.pack("<3I", 0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF).ljust(512, b"\xff")
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\x00" * 10
        + struct.pack("<IIIIIIII", 1, 1, 0, 0x1000, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
        + struct.pack("<I", 0)
        + b"\xff" * (109 * 4 - 4)
    )
    assert len(header) == 512
    return header + fat + directory


def test_encrypted_and_legacy_containers_are_refused_each_with_its_own_advice(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    labelled = tmp_path / "Active Accounts (Confidential).xlsx"
    labelled.write_bytes(ole2([("\x06DataSpaces", 1), ("EncryptedPackage", 2), ("\x06Primary", 2)]))
    password = tmp_path / "Active Accounts (password).xlsx"
    password.write_bytes(ole2([("\x06DataSpaces", 1), ("EncryptedPackage", 2), ("EncryptionInfo", 2)]))
    legacy = tmp_path / "Active Accounts.xls"
    legacy.write_bytes(ole2([("Workbook", 2), ("\x05SummaryInformation", 2)]))
    results = load_run(labelled, password, legacy)
    assert [(r.status, r.file_type) for r in results] == [("failed", None)] * 3
    assert results[0].error == (
        "workbook encrypted by a sensitivity label (Microsoft Purview / IRM): it cannot be read without the "
        "label's rights; in Excel remove the label (or save a copy without it, or with a label that does not "
        "encrypt) and load that copy"
    )
    assert results[1].error.startswith("password-protected workbook: open it in Excel, remove the password")
    assert (
        results[2].error
        == "legacy Excel 97-2003 workbook (.xls): open it in Excel and save it as .xlsx or CSV"
    )
    assert load_query("select file, status from raw._loads order by file") == sorted(
        (str(p.resolve()), "failed") for p in (labelled, password, legacy)
    )


def test_an_encrypted_package_whose_directory_lies_beyond_the_sniffed_bytes(
    tmp_path: Path, load_run: Run
) -> None:
    """Big labelled workbooks keep their directory near the end: the whole file is scanned before the
    refusal (only files about to be refused pay for it)."""
    big = tmp_path / "Big (Confidential).xlsx"
    container = ole2([("\x06DataSpaces", 1), ("EncryptedPackage", 2), ("DRMEncryptedDataSpace", 2)])
    big.write_bytes(container[:512] + b"\x00" * (3 << 20) + container[512:])
    [result] = load_run(big)
    assert (result.status, result.error.split(":")[0]) == (
        "failed",
        "workbook encrypted by a sensitivity label (Microsoft Purview / IRM)",
    )
