"""A workbook written part by part as Dynamics 365 writes "Export to Excel" (never opened in Excel): data
in `sheet2.xml`, the very hidden metadata sheet in `sheet.xml`, inline strings, the `x:` namespace prefix,
absolute relationship targets, a UTF-8 BOM at the start of every XML part, no sharedStrings, hidden
`(Do Not Modify)` columns (width 0). Written with zipfile byte by byte, not by a spreadsheet library, so the
loader meets the real shape (the Excel table part is left out)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from loaders.landing import LoadResult

BOM = "\ufeff"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTACT_ID = "6f1c3a9e-2b7d-4e1a-9c55-0a1b2c3d4e5f"
HEADERS = [
    "(Do Not Modify) Contact",
    "(Do Not Modify) Row Checksum",
    "(Do Not Modify) Modified On",
    " Full Name",
    "Job Title",
    "HT Account Number",
]
LOGICAL = ["contactid", "checksumLogicalName", "modifiedon", "fullname", "jobtitle", "so_htaccountnumber"]
ROWS: list[list[Any]] = [
    [CONTACT_ID, "c2VjcmV0", 45516.7415393519, "Greta Ragnarsson", "Buyer", "HT-001"],
    # a row a user added as a new record: the (Do Not Modify) cells are empty
    [None, None, None, "Oskar Wikström", "Planner", "HT-002"],
]


def _column(index: int) -> str:
    return chr(ord("A") + index)


def _cell(ref: str, value: Any) -> str:
    if value is None:
        return f'<x:c r="{ref}"/>'
    if isinstance(value, float):
        return f'<x:c r="{ref}" s="1"><x:v>{value}</x:v></x:c>'
    text = escape(str(value))
    return f'<x:c r="{ref}" t="inlineStr"><x:is><x:t xml:space="preserve">{text}</x:t></x:is></x:c>'


def _sheet(rows: list[list[Any]], hidden_widths: int = 0) -> str:
    cols = "".join(f'<x:col min="{i + 1}" max="{i + 1}" width="0" hidden="1"/>' for i in range(hidden_widths))
    body = "".join(
        f'<x:row r="{r + 1}">'
        + "".join(_cell(f"{_column(c)}{r + 1}", v) for c, v in enumerate(row))
        + "</x:row>"
        for r, row in enumerate(rows)
    )
    return (
        f'{BOM}<?xml version="1.0" encoding="utf-8"?><x:worksheet xmlns:x="{MAIN}">'
        + (f"<x:cols>{cols}</x:cols>" if cols else "")
        + f"<x:sheetData>{body}</x:sheetData></x:worksheet>"
    )


def metadata_a1() -> str:
    token = "QWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXpBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWjAxMjM0NTY3ODkrLw=="
    pairs = "&".join(
        f"{name}={quote(header, safe='')}" for name, header in zip(LOGICAL, HEADERS, strict=True)
    )
    return f"contact:{token}:{pairs}"


def write_dynamics_workbook(path: Path, extra_sheet: bool = False) -> Path:
    sheets = [("Active Contacts", "dataSheet", "sheet2.xml", None)]
    sheets.append(("hiddenSheet", "hiddenDataSheet", "sheet.xml", "veryHidden"))
    if extra_sheet:
        sheets.append(("My notes", "notes", "sheet3.xml", None))
    workbook = (
        f'{BOM}<?xml version="1.0" encoding="utf-8"?><x:workbook xmlns:x="{MAIN}" xmlns:r="{REL}"><x:sheets>'
        + "".join(
            f'<x:sheet name="{name}" sheetId="{i + 1}" r:id="{rid}"'
            + (f' state="{state}"' if state else "")
            + "/>"
            for i, (name, rid, _, state) in enumerate(sheets)
        )
        + "</x:sheets></x:workbook>"
    )
    relationships = (
        f'{BOM}<?xml version="1.0" encoding="utf-8"?><Relationships xmlns="{PKG}">'
        + "".join(
            f'<Relationship Type="{REL}/worksheet" Target="/xl/worksheets/{part}" Id="{rid}"/>'
            for _, rid, part, _ in sheets
        )
        + f'<Relationship Type="{REL}/styles" Target="/xl/styles.xml" Id="styles"/></Relationships>'
    )
    content_types = (
        f'{BOM}<?xml version="1.0" encoding="utf-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/{part}" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for _, _, part, _ in sheets
        )
        + '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
    )
    root_rels = (
        f'{BOM}<?xml version="1.0" encoding="utf-8"?><Relationships xmlns="{PKG}">'
        f'<Relationship Type="{REL}/officeDocument" Target="/xl/workbook.xml" Id="R1"/></Relationships>'
    )
    styles = (
        f'{BOM}<?xml version="1.0" encoding="utf-8"?><x:styleSheet xmlns:x="{MAIN}">'
        '<x:numFmts count="1"><x:numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/></x:numFmts>'
        '<x:fonts count="1"><x:font/></x:fonts><x:fills count="1"><x:fill/></x:fills>'
        '<x:borders count="1"><x:border/></x:borders><x:cellStyleXfs count="1"><x:xf/></x:cellStyleXfs>'
        '<x:cellXfs count="2"><x:xf/><x:xf numFmtId="164" applyNumberFormat="1"/></x:cellXfs></x:styleSheet>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types.encode("utf-8"))
        archive.writestr("_rels/.rels", root_rels.encode("utf-8"))
        archive.writestr("xl/workbook.xml", workbook.encode("utf-8"))
        archive.writestr("xl/_rels/workbook.xml.rels", relationships.encode("utf-8"))
        archive.writestr("xl/styles.xml", styles.encode("utf-8"))
        archive.writestr(
            "xl/worksheets/sheet2.xml", _sheet([HEADERS, *ROWS], hidden_widths=3).encode("utf-8")
        )
        archive.writestr("xl/worksheets/sheet.xml", _sheet([[metadata_a1()]]).encode("utf-8"))
        if extra_sheet:
            notes = [["Note"], ["Check Oskar's job title with HR"]]
            archive.writestr("xl/worksheets/sheet3.xml", _sheet(notes).encode("utf-8"))
    return path


Run = Callable[..., list[LoadResult]]
Query = Callable[..., list[tuple[Any, ...]]]


def test_the_workbook_as_dynamics_writes_it_lands_with_exact_names(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    path = write_dynamics_workbook(tmp_path / "All Contacts 11-2-2025 12-13-36 PM.xlsx")
    results = load_run(path, company="GBSI")
    landed = [r for r in results if r.status == "landed"]
    assert [(r.sheet, r.entity, r.rows_landed, r.rows_rejected) for r in landed] == [
        ("Active Contacts", "contact", 2, 0)
    ]
    assert not any(r.sheet == "hiddenSheet" and r.status == "landed" for r in results)
    rows = load_query(
        "select contactid, fullname, jobtitle, so_htaccountnumber, _source_sheet, _source_row "
        "from raw.contact order by _source_row"
    )
    assert rows == [
        (CONTACT_ID, "Greta Ragnarsson", "Buyer", "HT-001", "Active Contacts", 1),
        # a row prepared as a new record lands too, without a record id (the upload then finds or fails it)
        (None, "Oskar Wikström", "Planner", "HT-002", "Active Contacts", 2),
    ]
    [(headers,)] = load_query("select headers from raw._loads where status = 'landed'")
    assert {h["header"]: (h["logical_name"], h["how"]) for h in headers} == {
        "(Do Not Modify) Contact": ("contactid", "metadata-sheet"),
        "(Do Not Modify) Row Checksum": ("rowchecksum", "metadata-sheet"),
        "(Do Not Modify) Modified On": ("modifiedon", "metadata-sheet"),
        " Full Name": ("fullname", "metadata-sheet"),
        "Job Title": ("jobtitle", "metadata-sheet"),
        "HT Account Number": ("so_htaccountnumber", "metadata-sheet"),
    }


def test_a_sheet_of_the_user_beside_the_export_is_skipped_with_the_reason(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    path = write_dynamics_workbook(tmp_path / "contacts-with-notes.xlsx", extra_sheet=True)
    results = load_run(path, company="GBSI")
    by_sheet = {r.sheet: r for r in results}
    assert by_sheet["Active Contacts"].status == "landed"
    assert by_sheet["My notes"].status == "skipped"
    assert by_sheet["My notes"].error
    assert load_query("select count(*) from raw.contact") == [(2,)]
