"""Dynamics 365 "Export to Excel" workbooks in the raw shape Dynamics itself writes, byte by byte.

xlsxwriter and openpyxl write the parts a desktop Excel would; Dynamics does not (docs/loading.md and the
Dynamics export reference, read from real exports). The workbooks here are zipped by hand in that shape: only
[Content_Types].xml, _rels/.rels, xl/workbook.xml, xl/_rels/workbook.xml.rels, xl/styles.xml,
xl/worksheets/sheet.xml (the very hidden metadata sheet), xl/worksheets/sheet2.xml (the data, listed first
in the workbook), xl/worksheets/_rels/sheet2.xml.rels and xl/tables/table.xml; a UTF-8 BOM before every XML
part; SpreadsheetML elements under the `x:` prefix; absolute relationship targets; inline strings and no
sharedStrings part; dates and money as numeric serials with a number format; the three `(Do Not Modify)`
columns hidden only by width 0; empty cells as styled empty cells; a choice column's drop-down reading its
labels from the metadata sheet. tests/test_load_xlsx_dynamics_parts.py covers a looser variant of the shape
(no table part, unstyled cells); this file pins the exact landed values, provenance and skip reasons."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

Run = Callable[..., Any]
Query = Callable[..., list[tuple[Any, ...]]]

BOM = "\ufeff"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

# A cell: a string (inline), a float/int (a number, in the column's style), None (a styled empty cell).
Cell = str | float | int | None
# Styles of xl/styles.xml's cellXfs: 0 default, 1 text (@), 2 date-time, 3 money.
TEXT, DATE, MONEY = 1, 2, 3


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def cell_xml(ref: str, value: Cell, style: int) -> str:
    if value is None:
        return f'<x:c r="{ref}" s="{style}" />'
    if isinstance(value, str):
        space = ' xml:space="preserve"' if value != value.strip() else ""
        text = escape(value)
        return f'<x:c r="{ref}" s="{TEXT}" t="inlineStr"><x:is><x:t{space}>{text}</x:t></x:is></x:c>'
    return f'<x:c r="{ref}" s="{style}"><x:v>{value!r}</x:v></x:c>'


def rows_xml(rows: Sequence[Sequence[Cell]], styles: Sequence[int] = ()) -> str:
    out = []
    for r, row in enumerate(rows, start=1):
        cells = "".join(
            cell_xml(f"{column_letter(c)}{r}", value, styles[c] if c < len(styles) else TEXT)
            for c, value in enumerate(row)
        )
        out.append(f'<x:row r="{r}">{cells}</x:row>')
    return "<x:sheetData>" + "".join(out) + "</x:sheetData>"


def metadata_a1(table: str, pairs: Sequence[tuple[str, str]]) -> str:
    """`<table>:<88-character base64>:<logical>=<percent-encoded display>&...`, lower-case hex (`%2f`)."""
    token = base64.b64encode(hashlib.sha512(table.encode()).digest()).decode()
    assert len(token) == 88 and token.endswith("==")

    def encode(display: str) -> str:
        parts = quote(display, safe="").split("%")
        return parts[0] + "".join("%" + part[:2].lower() + part[2:] for part in parts[1:])

    return f"{table}:{token}:" + "&".join(f"{logical}={encode(display)}" for logical, display in pairs)


def write_raw_export(
    path: Path,
    view: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    styles: Sequence[int],
    a1: str,
    choice_rows: Sequence[Sequence[str]] = (),
    validations: Sequence[tuple[int, int]] = (),
    user_sheet: tuple[str, Sequence[Sequence[str]]] | None = None,
) -> Path:
    """A workbook zipped in the raw shape Dynamics writes. `validations` are (data column index, metadata row)
    pairs: the drop-down of a choice column reads its labels from that row of `hiddenSheet`. `user_sheet`
    (name, rows) is a visible sheet a user added in front of the export and left as the active tab."""
    width = len(header)
    last = f"{column_letter(width - 1)}{len(rows) + 1}"
    worksheet = f"{CT}.worksheet+xml"
    parts: dict[str, str] = {}
    user_override = f'<Override PartName="/xl/worksheets/sheet3.xml" ContentType="{worksheet}" />'
    parts["[Content_Types].xml"] = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="xml" ContentType="{CT}.sheet.main+xml" />'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />'
        f'<Override PartName="/xl/worksheets/sheet.xml" ContentType="{worksheet}" />'
        f'<Override PartName="/xl/worksheets/sheet2.xml" ContentType="{worksheet}" />'
        f"{user_override if user_sheet else ''}"
        f'<Override PartName="/xl/styles.xml" ContentType="{CT}.styles+xml" />'
        f'<Override PartName="/xl/tables/table.xml" ContentType="{CT}.table+xml" />'
        "</Types>"
    )
    parts["_rels/.rels"] = (
        f'<Relationships xmlns="{PACKAGE_RELS}">'
        f'<Relationship Type="{OFFICE_RELS}/officeDocument" Target="/xl/workbook.xml" '
        'Id="R7e1c2b9a4f3d4e21" /></Relationships>'
    )
    sheets = [
        f'<x:sheet name={quoteattr(view)} sheetId="1" r:id="dataSheet" />',
        '<x:sheet name="hiddenSheet" sheetId="2" state="veryHidden" r:id="hiddenDataSheet" />',
    ]
    active = ""
    if user_sheet is not None:
        sheets.insert(0, f'<x:sheet name={quoteattr(user_sheet[0])} sheetId="3" r:id="userSheet" />')
        active = ' activeTab="0"'
    parts["xl/workbook.xml"] = (
        f'<x:workbook xmlns:r="{OFFICE_RELS}" xmlns:x="{MAIN}">'
        f"<x:bookViews><x:workbookView{active} /></x:bookViews>"
        f"<x:sheets>{''.join(sheets)}</x:sheets></x:workbook>"
    )
    user_rel = (
        f'<Relationship Type="{OFFICE_RELS}/worksheet" Target="/xl/worksheets/sheet3.xml" Id="userSheet" />'
    )
    parts["xl/_rels/workbook.xml.rels"] = (
        f'<Relationships xmlns="{PACKAGE_RELS}">'
        f'<Relationship Type="{OFFICE_RELS}/styles" Target="/xl/styles.xml" Id="R5b0e6a8c2d1f4a37" />'
        f'<Relationship Type="{OFFICE_RELS}/worksheet" Target="/xl/worksheets/sheet2.xml" Id="dataSheet" />'
        f'<Relationship Type="{OFFICE_RELS}/worksheet" Target="/xl/worksheets/sheet.xml" '
        'Id="hiddenDataSheet" />'
        f"{user_rel if user_sheet else ''}</Relationships>"
    )
    parts["xl/styles.xml"] = (
        f'<x:styleSheet xmlns:x="{MAIN}">'
        '<x:numFmts count="2"><x:numFmt numFmtId="164" formatCode="m/d/yyyy h:mm AM/PM" />'
        '<x:numFmt numFmtId="165" formatCode="&quot;$&quot;#,##0.00" /></x:numFmts>'
        '<x:fonts count="1"><x:font><x:sz val="11" /><x:name val="Calibri" /></x:font></x:fonts>'
        '<x:fills count="2"><x:fill><x:patternFill patternType="none" /></x:fill>'
        '<x:fill><x:patternFill patternType="gray125" /></x:fill></x:fills>'
        '<x:borders count="1"><x:border /></x:borders>'
        '<x:cellStyleXfs count="1"><x:xf numFmtId="0" fontId="0" fillId="0" borderId="0" /></x:cellStyleXfs>'
        '<x:cellXfs count="4"><x:xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" />'
        '<x:xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" />'
        '<x:xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" />'
        '<x:xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" />'
        "</x:cellXfs></x:styleSheet>"
    )
    checks = "".join(
        f'<x:dataValidation type="list" allowBlank="1" showErrorMessage="1" '
        f'sqref="{column_letter(c)}2:{column_letter(c)}1048576">'
        f"<x:formula1>hiddenSheet!$A${row}:${column_letter(len(choice_rows[row - 2]) - 1)}${row}</x:formula1>"
        "</x:dataValidation>"
        for c, row in validations
    )
    checks = f'<x:dataValidations count="{len(validations)}">{checks}</x:dataValidations>' if checks else ""
    parts["xl/worksheets/sheet2.xml"] = (
        f'<x:worksheet xmlns:r="{OFFICE_RELS}" xmlns:x="{MAIN}">'
        '<x:sheetPr codeName="dataSheet" />'
        '<x:cols><x:col min="1" max="1" width="0" customWidth="1" />'
        '<x:col min="2" max="2" width="0" customWidth="1" />'
        '<x:col min="3" max="3" width="0" customWidth="1" />'
        f'<x:col min="4" max="{width}" width="14" customWidth="1" /></x:cols>'
        f"{rows_xml([list(header), *rows], styles)}{checks}"
        '<x:tableParts count="1"><x:tablePart r:id="dataTable" /></x:tableParts></x:worksheet>'
    )
    parts["xl/worksheets/_rels/sheet2.xml.rels"] = (
        f'<Relationships xmlns="{PACKAGE_RELS}">'
        f'<Relationship Type="{OFFICE_RELS}/table" Target="/xl/tables/table.xml" Id="dataTable" />'
        "</Relationships>"
    )
    columns = "".join(f'<x:tableColumn id="{i}" name={quoteattr(h)} />' for i, h in enumerate(header, 1))
    parts["xl/tables/table.xml"] = (
        f'<x:table xmlns:x="{MAIN}" id="1" name="Table1" displayName="Table1" ref="A1:{last}" '
        f'headerRowCount="1"><x:autoFilter ref="A1:{last}" />'
        f'<x:tableColumns count="{width}">{columns}</x:tableColumns>'
        '<x:tableStyleInfo name="TableStyleMedium2" showFirstColumn="0" showLastColumn="0" '
        'showRowStripes="1" showColumnStripes="0" /></x:table>'
    )
    parts["xl/worksheets/sheet.xml"] = (
        f'<x:worksheet xmlns:r="{OFFICE_RELS}" xmlns:x="{MAIN}">'
        '<x:sheetPr codeName="hiddenDataSheet" />'
        f"{rows_xml([[a1], *choice_rows])}</x:worksheet>"
    )
    if user_sheet is not None:
        parts["xl/worksheets/sheet3.xml"] = (
            f'<x:worksheet xmlns:r="{OFFICE_RELS}" xmlns:x="{MAIN}">'
            '<x:sheetViews><x:sheetView tabSelected="1" workbookViewId="0" /></x:sheetViews>'
            f"{rows_xml(user_sheet[1])}</x:worksheet>"
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in parts.items():
            package.writestr(name, (BOM + DECLARATION + xml).encode("utf-8"))
    return path


HEADER = [
    "(Do Not Modify) Contact",
    "(Do Not Modify) Row Checksum",
    "(Do Not Modify) Modified On",
    " Full Name",
    "HT Account Number",
    "Job Title",
    "Company Name",
    "Annual Income",
    "Status",
]
STYLES = [TEXT, TEXT, DATE, TEXT, TEXT, TEXT, TEXT, MONEY, TEXT]
# Not in column order (jobtitle before so_htaccountnumber here, after it in the headers): matched by name.
PAIRS = [
    ("contactid", HEADER[0]),
    ("checksumLogicalName", HEADER[1]),
    ("modifiedon", HEADER[2]),
    ("fullname", HEADER[3]),
    ("jobtitle", HEADER[5]),
    ("so_htaccountnumber", HEADER[4]),
    ("parentcustomerid", HEADER[6]),
    ("annualincome", HEADER[7]),
    ("statecode", HEADER[8]),
]
# The raw column of each header, in column order; jobtitle is a standard column the vocabulary lacks.
NAMES = [
    "contactid",
    "rowchecksum",
    "modifiedon",
    "fullname",
    "so_htaccountnumber",
    "jobtitle",
    "parentcustomerid",
    "annualincome",
    "statecode",
]
EXPECTED_HEADERS = [
    {"position": i, "header": h, "logical_name": n, "how": "metadata-sheet"}
    for i, (h, n) in enumerate(zip(HEADER, NAMES, strict=True), start=1)
]
CHECKSUM = "g5JvL0p3Q8mX2c7sT1hYw4eRk9uZa6bNf0dHq3iVo2lMjE8xUn5yPt1rWs7kCz4A+/9QbD6FgO3eIh0aKlS2vZw=="
ID_1 = "5c1d7a2e-4b3f-ef11-8409-000d3a5b9c21"
ID_2 = "8e2f0b3c-9d4a-ef11-8409-000d3a5b9c21"
ROWS: list[list[Cell]] = [
    [ID_1, CHECKSUM, 45516.7415393519, "Åsa Ek", "HT-001", "Buyer", "Fabrikam & Söner", 1234.5, "Active"],
    [ID_2, CHECKSUM[::-1], 45669.5, "Bo <Al>", None, None, None, None, "Inactive"],
]
# The landed text: a date-time serial as ISO 8601 (45516.7415393519 is 2024-08-12 17:47:49), money as its
# shortest decimal, empty cells as NULL.
LANDED: list[tuple[str | None, ...]] = [
    (
        ID_1,
        CHECKSUM,
        "2024-08-12 17:47:49",
        "Åsa Ek",
        "HT-001",
        "Buyer",
        "Fabrikam & Söner",
        "1234.5",
        "Active",
    ),
    (ID_2, CHECKSUM[::-1], "2025-01-12 12:00:00", "Bo <Al>", None, None, None, None, "Inactive"),
]
CHOICES = [["Active", "Inactive"]]
VIEW = "My Active Contacts"
FILE_NAME = "My Active Contacts 11-2-2025 12-13-36 PM.xlsx"
SELECT = ", ".join(f'"{name}"' for name in NAMES)


def export(path: Path, rows: Sequence[Sequence[Cell]] = ROWS, **extra: Any) -> Path:
    a1 = metadata_a1("contact", PAIRS)
    return write_raw_export(path, VIEW, HEADER, rows, STYLES, a1, CHOICES, [(8, 2)], **extra)


def test_the_generated_package_has_dynamics_raw_shape(tmp_path: Path) -> None:
    """Guards the generator itself: a change drifting towards what Excel writes would test nothing."""
    with zipfile.ZipFile(export(tmp_path / FILE_NAME)) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    assert sorted(parts) == [
        "[Content_Types].xml",
        "_rels/.rels",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/tables/table.xml",
        "xl/workbook.xml",
        "xl/worksheets/_rels/sheet2.xml.rels",
        "xl/worksheets/sheet.xml",
        "xl/worksheets/sheet2.xml",
    ]
    assert all(data.startswith(b"\xef\xbb\xbf<?xml") for data in parts.values())
    workbook = parts["xl/workbook.xml"].decode("utf-8")
    assert workbook.index(f'name="{VIEW}" sheetId="1" r:id="dataSheet"') < workbook.index(
        'name="hiddenSheet" sheetId="2" state="veryHidden"'
    )
    rels = parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
    assert 'Target="/xl/worksheets/sheet2.xml" Id="dataSheet"' in rels
    assert 'Target="/xl/worksheets/sheet.xml" Id="hiddenDataSheet"' in rels
    data = parts["xl/worksheets/sheet2.xml"].decode("utf-8")
    assert f'<x:c r="A2" s="1" t="inlineStr"><x:is><x:t>{ID_1}</x:t></x:is></x:c>' in data
    assert '<x:c r="D1" s="1" t="inlineStr"><x:is><x:t xml:space="preserve"> Full Name</x:t>' in data
    assert '<x:c r="C2" s="2"><x:v>45516.7415393519</x:v></x:c>' in data
    assert '<x:c r="E3" s="1" />' in data
    assert '<x:col min="1" max="1" width="0" customWidth="1" />' in data and "hidden=" not in data
    meta = parts["xl/worksheets/sheet.xml"].decode("utf-8")
    assert "contact:" in meta and "&amp;fullname=%20Full%20Name&amp;" in meta
    assert "&amp;so_htaccountnumber=HT%20Account%20Number&amp;" in meta
    assert "%28Do%20Not%20Modify%29%20Contact" in meta


def test_a_raw_dynamics_export_lands_by_its_metadata_sheet(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    path = export(tmp_path / FILE_NAME)
    results = load_run(path, company="USMF")
    assert [
        (r.sheet, r.sheet_index, r.entity, r.detected_by, r.status, r.rows_landed, r.error) for r in results
    ] == [
        (VIEW, 0, "contact", "metadata sheet", "landed", 2, None),
        ("hiddenSheet", 1, None, None, "skipped", 0, "metadata sheet of a Dynamics export of table contact"),
    ]
    assert (results[0].rows_read, results[0].rows_rejected) == (2, 0)
    assert results[0].unknown_headers == [] and results[0].duplicate_headers == []
    assert results[0].headers == EXPECTED_HEADERS
    file = str(path.resolve())
    assert load_query(
        f"select {SELECT}, _source_file, _source_sheet, _source_row, _company from raw.contact "
        "order by _source_row"
    ) == [(*LANDED[0], file, VIEW, 1, "USMF"), (*LANDED[1], file, VIEW, 2, "USMF")]
    # The metadata sheet is not data: one file table, for the export sheet only.
    assert load_query("select file, sheet, sheet_index, entity from raw._files") == [
        (file, VIEW, 0, "contact")
    ]
    assert load_query("select sheet, status, entity, error from raw._loads order by sheet") == [
        (VIEW, "landed", "contact", None),
        ("hiddenSheet", "skipped", None, "metadata sheet of a Dynamics export of table contact"),
    ]
    assert load_query("select headers, detected_by from raw._loads where status = 'landed'") == [
        (EXPECTED_HEADERS, "metadata sheet")
    ]
    assert load_query(
        "select headers[5].header, headers[5].logical_name, headers[5].how, headers[6].logical_name, "
        "headers[6].how from raw._loads where status = 'landed'"
    ) == [("HT Account Number", "so_htaccountnumber", "metadata-sheet", "jobtitle", "metadata-sheet")]
    # Row 2 of the metadata sheet holds the labels of the view's only choice column.
    assert load_query(
        'select file, sheet, metadata_row, column_position, "column", header, label_position, label '
        "from raw._choice_labels order by label_position"
    ) == [
        (file, VIEW, 2, 9, "statecode", "Status", 1, "Active"),
        (file, VIEW, 2, 9, "statecode", "Status", 2, "Inactive"),
    ]
    assert load_query("select count(*) from raw._rejects") == [(0,)]


NEW_RECORDS: list[list[Cell]] = [
    [None, None, None, "Cai Dahl", "HT-010", "Owner", "Contoso", 99.95, "Active"],
    [None, None, None, "Dan Eng", None, None, None, None, None],
]


def test_rows_added_as_new_records_land_with_a_null_record_id(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    """Rows typed in for the import wizard leave the three (Do Not Modify) cells empty: legitimate input,
    landed as rows with NULL record id, checksum and modified-on, never rejected."""
    mixed = export(tmp_path / FILE_NAME, [ROWS[0], *NEW_RECORDS])
    [landed, skipped] = load_run(mixed)
    assert (landed.status, landed.rows_read, landed.rows_landed, landed.rows_rejected) == ("landed", 3, 3, 0)
    assert (landed.detected_by, landed.headers) == ("metadata sheet", EXPECTED_HEADERS)
    assert (skipped.sheet, skipped.status) == ("hiddenSheet", "skipped")
    assert load_query(f"select {SELECT}, _source_row from raw.contact order by _source_row") == [
        (*LANDED[0], 1),
        (None, None, None, "Cai Dahl", "HT-010", "Owner", "Contoso", "99.95", "Active", 2),
        (None, None, None, "Dan Eng", None, None, None, None, None, 3),
    ]
    # Only new records (the shape of the real file: blank on every row): the record id column is all empty.
    only_new = export(tmp_path / "New Contacts.xlsx", NEW_RECORDS)
    [landed, _] = load_run(only_new)
    assert (landed.entity, landed.detected_by, landed.status, landed.rows_landed, landed.rows_rejected) == (
        "contact",
        "metadata sheet",
        "landed",
        2,
        0,
    )
    assert load_query(
        f"select {SELECT}, _source_sheet, _source_row from raw.contact where _source_file = ? "
        "order by _source_row",
        [str(only_new.resolve())],
    ) == [
        (None, None, None, "Cai Dahl", "HT-010", "Owner", "Contoso", "99.95", "Active", VIEW, 1),
        (None, None, None, "Dan Eng", None, None, None, None, None, VIEW, 2),
    ]
    assert load_query("select count(*) from raw.contact where contactid is null") == [(4,)]
    assert load_query("select count(*) from raw._rejects") == [(0,)]


NOTES = [
    ["DYNAMIC FIELDS", "TEMPLATE FIELDS"],
    ["(Do Not Modify) Contact", "Contact GUID"],
    ["Full Name", "Name"],
]


def test_a_user_sheet_added_to_a_raw_export_is_skipped_with_the_reason(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    """A user's visible notes sheet, first in the workbook and the active tab: the export sheet still lands
    (found by the metadata sheet), the notes are skipped and the reason names the export sheet."""
    path = export(tmp_path / FILE_NAME, user_sheet=("Sheet1", NOTES))
    results = load_run(path)
    assert [(r.sheet, r.sheet_index, r.entity, r.status, r.rows_landed, r.error) for r in results] == [
        (
            "Sheet1",
            0,
            None,
            "skipped",
            0,
            "not an export sheet: its headers are not the columns the metadata sheet lists "
            f"(the export is sheet '{VIEW}')",
        ),
        (VIEW, 1, "contact", "landed", 2, None),
        ("hiddenSheet", 2, None, "skipped", 0, "metadata sheet of a Dynamics export of table contact"),
    ]
    assert load_query(
        f"select {SELECT}, _source_sheet, _source_row from raw.contact order by _source_row"
    ) == [
        (*LANDED[0], VIEW, 1),
        (*LANDED[1], VIEW, 2),
    ]
    assert load_query("select sheet, status from raw._loads order by sheet") == [
        (VIEW, "landed"),
        ("Sheet1", "skipped"),
        ("hiddenSheet", "skipped"),
    ]
    assert load_query("select sheet, sheet_index from raw._files") == [(VIEW, 1)]
