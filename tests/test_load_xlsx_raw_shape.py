"""Dynamics 365 "Export to Excel" workbooks in the raw shape Dynamics itself writes, part by part.

xlsxwriter and openpyxl write the parts a desktop Excel would; Dynamics does not (docs/loading.md and the
Dynamics export reference, read from real exports), so a loader tested only on their output could still miss
a real export. The workbooks here are zipped by hand in Dynamics' shape: only [Content_Types].xml,
_rels/.rels, xl/workbook.xml, xl/_rels/workbook.xml.rels, xl/styles.xml, xl/worksheets/sheet.xml (the very
hidden metadata sheet), xl/worksheets/sheet2.xml (the data, listed first in the workbook),
xl/worksheets/_rels/sheet2.xml.rels and xl/tables/table.xml; a UTF-8 BOM before every XML part; SpreadsheetML
elements under the `x:` prefix; absolute relationship targets; inline strings and no sharedStrings part;
dates and money as numeric serials with a number format; the three `(Do Not Modify)` columns hidden only by
width 0; empty cells as styled empty cells; metadata pairs not in column order, in lower-case hex; a choice
column's drop-down reading its labels from the metadata sheet. New-record rows with blank `(Do Not Modify)`
cells and a user's own sheet (in front, as the active tab, or behind the export) are what users do to it.

Every landing test also runs on a looser variant (`LOOSE`): no table part, unstyled cells, the hidden
columns also marked hidden="1", upper-case hex, pairs in column order, a generic .xml content type, an ISO
date format and a view without choice columns (so the metadata sheet is A1 alone). The loader must not lean
on any one of those details. The tests pin the exact landed values, logical names, provenance and skip
reasons."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

import pytest

from loaders.landing import LoadResult

Run = Callable[..., list[LoadResult]]
Query = Callable[..., list[tuple[Any, ...]]]

BOM = "\ufeff"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

# A cell: a string (inline), a float/int (a number, in the column's style), None (an empty cell).
Cell = str | float | int | None
# Styles of xl/styles.xml's cellXfs: 0 default, 1 text (@), 2 date-time, 3 money.
TEXT, DATE, MONEY = 1, 2, 3


@dataclass(frozen=True)
class Shape:
    """How a generated package is written; the defaults are the exact shape Dynamics writes."""

    name: str
    table: bool = True  # xl/tables/table.xml (Table1 over the data) and sheet2.xml's relationship to it
    styled: bool = True  # strings carry the text style, empty cells their column's style (`<x:c s=".." />`)
    hidden_attribute: bool = False  # the (Do Not Modify) columns also say hidden="1" (Dynamics: width 0 only)
    upper_hex: bool = False  # percent-encoding as `%2F`; Dynamics writes lower-case hex (`%2f`)
    pairs_in_column_order: bool = False  # Dynamics' metadata pairs do not always follow the columns
    generic_xml_default: bool = False  # .xml parts default to application/xml, the workbook by an Override
    date_format: str = "m/d/yyyy h:mm AM/PM"
    choice_column: bool = True  # the view ends with a choice column (Status), its labels in metadata row 2

    @property
    def width(self) -> int:
        """The number of columns of the view (Status is the last one)."""
        return len(HEADER) if self.choice_column else len(HEADER) - 1


DYNAMICS = Shape("dynamics")
LOOSE = Shape(
    "loose",
    table=False,
    styled=False,
    hidden_attribute=True,
    upper_hex=True,
    pairs_in_column_order=True,
    generic_xml_default=True,
    date_format="yyyy-mm-dd hh:mm",
    choice_column=False,
)
SHAPES = pytest.mark.parametrize("shape", [DYNAMICS, LOOSE], ids=lambda shape: shape.name)


@dataclass(frozen=True)
class UserSheet:
    """A visible sheet a user added: in front of the export (and left as the active tab) or behind it."""

    name: str
    rows: Sequence[Sequence[str]]
    in_front: bool


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def cell_xml(ref: str, value: Cell, style: int, styled: bool = True) -> str:
    """An inline string, a number in its column's style, or an empty cell (styled only if `styled`)."""
    if value is None:
        return f'<x:c r="{ref}" s="{style}" />' if styled else f'<x:c r="{ref}" />'
    if isinstance(value, str):
        text_style = f' s="{TEXT}"' if styled else ""
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return (
            f'<x:c r="{ref}"{text_style} t="inlineStr"><x:is><x:t{space}>{escape(value)}</x:t></x:is></x:c>'
        )
    return f'<x:c r="{ref}" s="{style}"><x:v>{value!r}</x:v></x:c>'


def rows_xml(rows: Sequence[Sequence[Cell]], styles: Sequence[int] = (), styled: bool = True) -> str:
    out = []
    for r, row in enumerate(rows, start=1):
        cells = "".join(
            cell_xml(f"{column_letter(c)}{r}", value, styles[c] if c < len(styles) else TEXT, styled)
            for c, value in enumerate(row)
        )
        out.append(f'<x:row r="{r}">{cells}</x:row>')
    return "<x:sheetData>" + "".join(out) + "</x:sheetData>"


def percent_encode(display: str, upper_hex: bool = False) -> str:
    """`quote` writes upper-case hex; Dynamics lower-case (`%28Do%20Not%20Modify%29`, `%2f`)."""
    encoded = quote(display, safe="")
    if upper_hex:
        return encoded
    parts = encoded.split("%")
    return parts[0] + "".join("%" + part[:2].lower() + part[2:] for part in parts[1:])


def metadata_a1(table: str, pairs: Sequence[tuple[str, str]], upper_hex: bool = False) -> str:
    """`<table>:<88-character base64>:<logical>=<percent-encoded display>&...`."""
    token = base64.b64encode(hashlib.sha512(table.encode()).digest()).decode()
    assert len(token) == 88 and token.endswith("==")
    encoded = "&".join(f"{logical}={percent_encode(display, upper_hex)}" for logical, display in pairs)
    return f"{table}:{token}:{encoded}"


def content_types_xml(shape: Shape, user_sheet: UserSheet | None) -> str:
    worksheets = ["sheet.xml", "sheet2.xml", *(["sheet3.xml"] if user_sheet else [])]
    default = "application/xml" if shape.generic_xml_default else f"{CT}.sheet.main+xml"
    workbook = f'<Override PartName="/xl/workbook.xml" ContentType="{CT}.sheet.main+xml" />'
    table = f'<Override PartName="/xl/tables/table.xml" ContentType="{CT}.table+xml" />'
    return (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="xml" ContentType="{default}" />'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />'
        f"{workbook if shape.generic_xml_default else ''}"
        + "".join(
            f'<Override PartName="/xl/worksheets/{part}" ContentType="{CT}.worksheet+xml" />'
            for part in worksheets
        )
        + f'<Override PartName="/xl/styles.xml" ContentType="{CT}.styles+xml" />'
        f"{table if shape.table else ''}</Types>"
    )


def root_rels_xml() -> str:
    return (
        f'<Relationships xmlns="{PACKAGE_RELS}">'
        f'<Relationship Type="{OFFICE_RELS}/officeDocument" Target="/xl/workbook.xml" '
        'Id="R7e1c2b9a4f3d4e21" /></Relationships>'
    )


def workbook_xml(view: str, user_sheet: UserSheet | None) -> str:
    """The data sheet first (stored in sheet2.xml), then `hiddenSheet`; a user's sheet in front or last."""
    sheets = [
        f'<x:sheet name={quoteattr(view)} sheetId="1" r:id="dataSheet" />',
        '<x:sheet name="hiddenSheet" sheetId="2" state="veryHidden" r:id="hiddenDataSheet" />',
    ]
    active = ""
    if user_sheet is not None:
        entry = f'<x:sheet name={quoteattr(user_sheet.name)} sheetId="3" r:id="userSheet" />'
        if user_sheet.in_front:
            sheets.insert(0, entry)
            active = ' activeTab="0"'
        else:
            sheets.append(entry)
    return (
        f'<x:workbook xmlns:r="{OFFICE_RELS}" xmlns:x="{MAIN}">'
        f"<x:bookViews><x:workbookView{active} /></x:bookViews>"
        f"<x:sheets>{''.join(sheets)}</x:sheets></x:workbook>"
    )


def workbook_rels_xml(user_sheet: UserSheet | None) -> str:
    user_rel = (
        f'<Relationship Type="{OFFICE_RELS}/worksheet" Target="/xl/worksheets/sheet3.xml" Id="userSheet" />'
    )
    return (
        f'<Relationships xmlns="{PACKAGE_RELS}">'
        f'<Relationship Type="{OFFICE_RELS}/styles" Target="/xl/styles.xml" Id="R5b0e6a8c2d1f4a37" />'
        f'<Relationship Type="{OFFICE_RELS}/worksheet" Target="/xl/worksheets/sheet2.xml" Id="dataSheet" />'
        f'<Relationship Type="{OFFICE_RELS}/worksheet" Target="/xl/worksheets/sheet.xml" '
        'Id="hiddenDataSheet" />'
        f"{user_rel if user_sheet else ''}</Relationships>"
    )


def styles_xml(date_format: str) -> str:
    """cellXfs 0 default, 1 text (@), 2 date-time in `date_format`, 3 money."""
    return (
        f'<x:styleSheet xmlns:x="{MAIN}">'
        f'<x:numFmts count="2"><x:numFmt numFmtId="164" formatCode={quoteattr(date_format)} />'
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


def validations_xml(validations: Sequence[tuple[int, int]], choice_rows: Sequence[Sequence[str]]) -> str:
    """Each (data column index, metadata row): the column's drop-down lists that row of `hiddenSheet`."""
    checks = "".join(
        f'<x:dataValidation type="list" allowBlank="1" showErrorMessage="1" '
        f'sqref="{column_letter(c)}2:{column_letter(c)}1048576">'
        f"<x:formula1>hiddenSheet!$A${row}:${column_letter(len(choice_rows[row - 2]) - 1)}${row}</x:formula1>"
        "</x:dataValidation>"
        for c, row in validations
    )
    return f'<x:dataValidations count="{len(validations)}">{checks}</x:dataValidations>' if checks else ""


def data_sheet_xml(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    styles: Sequence[int],
    checks: str,
    shape: Shape,
) -> str:
    """sheet2.xml: the three (Do Not Modify) columns at width 0, the header row, the rows, the table part."""
    hidden = ' hidden="1"' if shape.hidden_attribute else ""
    cols = "".join(f'<x:col min="{i}" max="{i}" width="0" customWidth="1"{hidden} />' for i in (1, 2, 3))
    table = '<x:tableParts count="1"><x:tablePart r:id="dataTable" /></x:tableParts>' if shape.table else ""
    return (
        f'<x:worksheet xmlns:r="{OFFICE_RELS}" xmlns:x="{MAIN}">'
        '<x:sheetPr codeName="dataSheet" />'
        f'<x:cols>{cols}<x:col min="4" max="{len(header)}" width="14" customWidth="1" /></x:cols>'
        f"{rows_xml([list(header), *rows], styles, shape.styled)}{checks}{table}</x:worksheet>"
    )


def data_sheet_rels_xml() -> str:
    return (
        f'<Relationships xmlns="{PACKAGE_RELS}">'
        f'<Relationship Type="{OFFICE_RELS}/table" Target="/xl/tables/table.xml" Id="dataTable" />'
        "</Relationships>"
    )


def table_xml(header: Sequence[str], row_count: int) -> str:
    last = f"{column_letter(len(header) - 1)}{row_count + 1}"
    columns = "".join(f'<x:tableColumn id="{i}" name={quoteattr(h)} />' for i, h in enumerate(header, 1))
    return (
        f'<x:table xmlns:x="{MAIN}" id="1" name="Table1" displayName="Table1" ref="A1:{last}" '
        f'headerRowCount="1"><x:autoFilter ref="A1:{last}" />'
        f'<x:tableColumns count="{len(header)}">{columns}</x:tableColumns>'
        '<x:tableStyleInfo name="TableStyleMedium2" showFirstColumn="0" showLastColumn="0" '
        'showRowStripes="1" showColumnStripes="0" /></x:table>'
    )


def metadata_sheet_xml(a1: str, choice_rows: Sequence[Sequence[str]], styled: bool) -> str:
    return (
        f'<x:worksheet xmlns:r="{OFFICE_RELS}" xmlns:x="{MAIN}">'
        '<x:sheetPr codeName="hiddenDataSheet" />'
        f"{rows_xml([[a1], *choice_rows], styled=styled)}</x:worksheet>"
    )


def user_sheet_xml(user_sheet: UserSheet, styled: bool) -> str:
    selected = '<x:sheetViews><x:sheetView tabSelected="1" workbookViewId="0" /></x:sheetViews>'
    return (
        f'<x:worksheet xmlns:r="{OFFICE_RELS}" xmlns:x="{MAIN}">'
        f"{selected if user_sheet.in_front else ''}{rows_xml(user_sheet.rows, styled=styled)}</x:worksheet>"
    )


def write_raw_export(
    path: Path,
    view: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    styles: Sequence[int],
    a1: str,
    choice_rows: Sequence[Sequence[str]] = (),
    validations: Sequence[tuple[int, int]] = (),
    user_sheet: UserSheet | None = None,
    shape: Shape = DYNAMICS,
) -> Path:
    """A workbook zipped part by part in `shape`, every XML part behind a UTF-8 BOM."""
    parts = {
        "[Content_Types].xml": content_types_xml(shape, user_sheet),
        "_rels/.rels": root_rels_xml(),
        "xl/workbook.xml": workbook_xml(view, user_sheet),
        "xl/_rels/workbook.xml.rels": workbook_rels_xml(user_sheet),
        "xl/styles.xml": styles_xml(shape.date_format),
        "xl/worksheets/sheet2.xml": data_sheet_xml(
            header, rows, styles, validations_xml(validations, choice_rows), shape
        ),
        "xl/worksheets/sheet.xml": metadata_sheet_xml(a1, choice_rows, shape.styled),
    }
    if shape.table:
        parts["xl/worksheets/_rels/sheet2.xml.rels"] = data_sheet_rels_xml()
        parts["xl/tables/table.xml"] = table_xml(header, len(rows))
    if user_sheet is not None:
        parts["xl/worksheets/sheet3.xml"] = user_sheet_xml(user_sheet, shape.styled)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in parts.items():
            package.writestr(name, (BOM + DECLARATION + xml).encode("utf-8"))
    return path


def read_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name) for name in package.namelist()}


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
METADATA_SKIP = "metadata sheet of a Dynamics export of table contact"


def export(
    path: Path,
    shape: Shape = DYNAMICS,
    rows: Sequence[Sequence[Cell]] = ROWS,
    user_sheet: UserSheet | None = None,
) -> Path:
    """The contact view in `shape`: its first `shape.width` columns, their pairs, the Status labels if any."""
    header = HEADER[: shape.width]
    pairs = [pair for pair in PAIRS if pair[1] in header]
    if shape.pairs_in_column_order:
        pairs.sort(key=lambda pair: header.index(pair[1]))
    choices = CHOICES if shape.choice_column else []
    validations = [(8, 2)] if shape.choice_column else []
    a1 = metadata_a1("contact", pairs, shape.upper_hex)
    data = [row[: shape.width] for row in rows]
    styles = STYLES[: shape.width]
    return write_raw_export(path, VIEW, header, data, styles, a1, choices, validations, user_sheet, shape)


def select_list(shape: Shape) -> str:
    return ", ".join(f'"{name}"' for name in NAMES[: shape.width])


def expected_headers(shape: Shape) -> list[dict[str, Any]]:
    return EXPECTED_HEADERS[: shape.width]


def landed_rows(
    shape: Shape, rows: Sequence[tuple[str | None, ...]] = LANDED
) -> list[tuple[str | None, ...]]:
    return [row[: shape.width] for row in rows]


PARTS = [
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
TABLE_PARTS = {"xl/tables/table.xml", "xl/worksheets/_rels/sheet2.xml.rels"}


def _assert_sheets_as_dynamics_orders_them(parts: dict[str, bytes]) -> None:
    """Both shapes: the data sheet first, in sheet2.xml; the very hidden metadata sheet in sheet.xml;
    absolute relationship targets."""
    workbook = parts["xl/workbook.xml"].decode("utf-8")
    assert workbook.index(f'name="{VIEW}" sheetId="1" r:id="dataSheet"') < workbook.index(
        'name="hiddenSheet" sheetId="2" state="veryHidden"'
    )
    rels = parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
    assert 'Target="/xl/worksheets/sheet2.xml" Id="dataSheet"' in rels
    assert 'Target="/xl/worksheets/sheet.xml" Id="hiddenDataSheet"' in rels


def test_the_generated_package_has_dynamics_raw_shape(tmp_path: Path) -> None:
    """Guards the generator itself: a change drifting towards what Excel writes would test nothing."""
    parts = read_parts(export(tmp_path / FILE_NAME))
    assert sorted(parts) == PARTS
    assert all(data.startswith(b"\xef\xbb\xbf<?xml") for data in parts.values())
    types = parts["[Content_Types].xml"].decode("utf-8")
    assert f'<Default Extension="xml" ContentType="{CT}.sheet.main+xml" />' in types
    _assert_sheets_as_dynamics_orders_them(parts)
    data = parts["xl/worksheets/sheet2.xml"].decode("utf-8")
    assert f'<x:c r="A2" s="1" t="inlineStr"><x:is><x:t>{ID_1}</x:t></x:is></x:c>' in data
    assert '<x:c r="D1" s="1" t="inlineStr"><x:is><x:t xml:space="preserve"> Full Name</x:t>' in data
    assert '<x:c r="C2" s="2"><x:v>45516.7415393519</x:v></x:c>' in data
    assert '<x:c r="E3" s="1" />' in data
    assert '<x:col min="1" max="1" width="0" customWidth="1" />' in data and "hidden=" not in data
    assert "<x:formula1>hiddenSheet!$A$2:$B$2</x:formula1>" in data
    assert '<x:tablePart r:id="dataTable" />' in data
    meta = parts["xl/worksheets/sheet.xml"].decode("utf-8")
    assert "contact:" in meta and "&amp;fullname=%20Full%20Name&amp;" in meta
    assert "&amp;so_htaccountnumber=HT%20Account%20Number&amp;" in meta
    assert "%28Do%20Not%20Modify%29%20Contact" in meta
    assert meta.index("jobtitle=") < meta.index("so_htaccountnumber=")
    assert '<x:row r="2"><x:c r="A2" s="1" t="inlineStr"><x:is><x:t>Active</x:t>' in meta


def test_the_loose_variant_departs_from_the_raw_shape_only_where_it_says(tmp_path: Path) -> None:
    """Guards the LOOSE options: each one must really change the package, and nothing else may."""
    parts = read_parts(export(tmp_path / FILE_NAME, LOOSE))
    assert sorted(parts) == sorted(set(PARTS) - TABLE_PARTS)
    assert all(data.startswith(b"\xef\xbb\xbf<?xml") for data in parts.values())
    types = parts["[Content_Types].xml"].decode("utf-8")
    assert '<Default Extension="xml" ContentType="application/xml" />' in types
    assert f'<Override PartName="/xl/workbook.xml" ContentType="{CT}.sheet.main+xml" />' in types
    assert "table" not in types
    _assert_sheets_as_dynamics_orders_them(parts)
    assert 'formatCode="yyyy-mm-dd hh:mm"' in parts["xl/styles.xml"].decode("utf-8")
    data = parts["xl/worksheets/sheet2.xml"].decode("utf-8")
    assert f'<x:c r="A2" t="inlineStr"><x:is><x:t>{ID_1}</x:t></x:is></x:c>' in data
    assert '<x:c r="D1" t="inlineStr"><x:is><x:t xml:space="preserve"> Full Name</x:t>' in data
    assert '<x:c r="C2" s="2"><x:v>45516.7415393519</x:v></x:c>' in data
    assert '<x:c r="E3" />' in data and 's="1"' not in data
    assert '<x:col min="1" max="1" width="0" customWidth="1" hidden="1" />' in data
    assert "Status" not in data and "dataValidation" not in data and "tablePart" not in data
    meta = parts["xl/worksheets/sheet.xml"].decode("utf-8")
    assert "contact:" in meta and "&amp;fullname=%20Full%20Name&amp;" in meta
    assert "%28Do%20Not%20Modify%29%20Contact" in meta and "statecode" not in meta
    assert meta.index("so_htaccountnumber=") < meta.index("jobtitle=")
    assert '<x:row r="2"' not in meta


@SHAPES
def test_a_raw_dynamics_export_lands_by_its_metadata_sheet(
    tmp_path: Path, load_run: Run, load_query: Query, shape: Shape
) -> None:
    path = export(tmp_path / FILE_NAME, shape)
    results = load_run(path, company="USMF")
    assert [
        (r.sheet, r.sheet_index, r.entity, r.detected_by, r.status, r.rows_landed, r.error) for r in results
    ] == [
        (VIEW, 0, "contact", "metadata sheet", "landed", 2, None),
        ("hiddenSheet", 1, None, None, "skipped", 0, METADATA_SKIP),
    ]
    assert (results[0].rows_read, results[0].rows_rejected) == (2, 0)
    assert results[0].unknown_headers == [] and results[0].duplicate_headers == []
    assert results[0].headers == expected_headers(shape)
    file = str(path.resolve())
    assert load_query(
        f"select {select_list(shape)}, _source_file, _source_sheet, _source_row, _company from raw.contact "
        "order by _source_row"
    ) == [(*row, file, VIEW, n, "USMF") for n, row in enumerate(landed_rows(shape), start=1)]
    # The metadata sheet is not data: one file table, for the export sheet only.
    assert load_query("select file, sheet, sheet_index, entity from raw._files") == [
        (file, VIEW, 0, "contact")
    ]
    assert load_query("select sheet, status, entity, error from raw._loads order by sheet") == [
        (VIEW, "landed", "contact", None),
        ("hiddenSheet", "skipped", None, METADATA_SKIP),
    ]
    assert load_query("select headers, detected_by from raw._loads where status = 'landed'") == [
        (expected_headers(shape), "metadata sheet")
    ]
    assert load_query(
        "select headers[5].header, headers[5].logical_name, headers[5].how, headers[6].logical_name, "
        "headers[6].how from raw._loads where status = 'landed'"
    ) == [("HT Account Number", "so_htaccountnumber", "metadata-sheet", "jobtitle", "metadata-sheet")]
    # Row 2 of the metadata sheet holds the labels of the view's only choice column; no choice column, no row.
    labels = [
        (file, VIEW, 2, 9, "statecode", "Status", 1, "Active"),
        (file, VIEW, 2, 9, "statecode", "Status", 2, "Inactive"),
    ]
    assert load_query(
        'select file, sheet, metadata_row, column_position, "column", header, label_position, label '
        "from raw._choice_labels order by label_position"
    ) == (labels if shape.choice_column else [])
    assert load_query("select count(*) from raw._rejects") == [(0,)]


NEW_RECORDS: list[list[Cell]] = [
    [None, None, None, "Cai Dahl", "HT-010", "Owner", "Contoso", 99.95, "Active"],
    [None, None, None, "Dan Eng", None, None, None, None, None],
]
NEW_LANDED: list[tuple[str | None, ...]] = [
    (None, None, None, "Cai Dahl", "HT-010", "Owner", "Contoso", "99.95", "Active"),
    (None, None, None, "Dan Eng", None, None, None, None, None),
]


@SHAPES
def test_rows_added_as_new_records_land_with_a_null_record_id(
    tmp_path: Path, load_run: Run, load_query: Query, shape: Shape
) -> None:
    """Rows typed in for the import wizard leave the three (Do Not Modify) cells empty: legitimate input,
    landed as rows with NULL record id, checksum and modified-on, never rejected."""
    mixed = export(tmp_path / FILE_NAME, shape, [ROWS[0], *NEW_RECORDS])
    [landed, skipped] = load_run(mixed)
    assert (landed.status, landed.rows_read, landed.rows_landed, landed.rows_rejected) == ("landed", 3, 3, 0)
    assert (landed.detected_by, landed.headers) == ("metadata sheet", expected_headers(shape))
    assert (skipped.sheet, skipped.status, skipped.error) == ("hiddenSheet", "skipped", METADATA_SKIP)
    assert load_query(
        f"select {select_list(shape)}, _source_sheet, _source_row from raw.contact order by _source_row"
    ) == [(*row, VIEW, n) for n, row in enumerate(landed_rows(shape, [LANDED[0], *NEW_LANDED]), start=1)]
    # Only new records (the shape of the real file: blank on every row): the record id column is all empty.
    only_new = export(tmp_path / "New Contacts.xlsx", shape, NEW_RECORDS)
    [landed, _] = load_run(only_new)
    assert (landed.entity, landed.detected_by, landed.status, landed.rows_landed, landed.rows_rejected) == (
        "contact",
        "metadata sheet",
        "landed",
        2,
        0,
    )
    assert load_query(
        f"select {select_list(shape)}, _source_sheet, _source_row from raw.contact where _source_file = ? "
        "order by _source_row",
        [str(only_new.resolve())],
    ) == [(*row, VIEW, n) for n, row in enumerate(landed_rows(shape, NEW_LANDED), start=1)]
    assert load_query("select count(*) from raw.contact where contactid is null") == [(4,)]
    assert load_query("select count(*) from raw._rejects") == [(0,)]


# A visible notes sheet a user put in front of the export and left as the active tab (seen in a real file) ...
NOTES = UserSheet(
    "Sheet1",
    [
        ["DYNAMIC FIELDS", "TEMPLATE FIELDS"],
        ["(Do Not Modify) Contact", "Contact GUID"],
        ["Full Name", "Name"],
    ],
    in_front=True,
)
# ... and one added behind the export and the metadata sheet, with a one-column header.
MY_NOTES = UserSheet("My notes", [["Note"], ["Check Bo's job title with HR"]], in_front=False)


@SHAPES
@pytest.mark.parametrize("user_sheet", [NOTES, MY_NOTES], ids=["in-front-active", "behind"])
def test_a_user_sheet_added_to_a_raw_export_is_skipped_with_the_reason(
    tmp_path: Path, load_run: Run, load_query: Query, shape: Shape, user_sheet: UserSheet
) -> None:
    """A user's visible sheet, in front as the active tab or behind the export: the export sheet still lands
    (found by the metadata sheet), the user's sheet is skipped and the reason names the export sheet."""
    path = export(tmp_path / FILE_NAME, shape, user_sheet=user_sheet)
    results = load_run(path, company="GBSI")
    order = [VIEW, "hiddenSheet"]
    order.insert(0 if user_sheet.in_front else 2, user_sheet.name)
    outcome = {
        user_sheet.name: (
            None,
            "skipped",
            0,
            "not an export sheet: its headers are not the columns the metadata sheet lists "
            f"(the export is sheet '{VIEW}')",
        ),
        VIEW: ("contact", "landed", 2, None),
        "hiddenSheet": (None, "skipped", 0, METADATA_SKIP),
    }
    assert [(r.sheet, r.sheet_index, r.entity, r.status, r.rows_landed, r.error) for r in results] == [
        (sheet, index, *outcome[sheet]) for index, sheet in enumerate(order)
    ]
    assert load_query(
        f"select {select_list(shape)}, _source_sheet, _source_row from raw.contact order by _source_row"
    ) == [(*row, VIEW, n) for n, row in enumerate(landed_rows(shape), start=1)]
    assert load_query("select sheet, status from raw._loads order by sheet") == [
        (sheet, outcome[sheet][1]) for sheet in sorted(order)
    ]
    assert load_query("select sheet, sheet_index from raw._files") == [(VIEW, order.index(VIEW))]
