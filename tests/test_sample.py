"""`p2c sample`: the export set is deterministic, complete, shaped like Dynamics 365 exports, and carries
every special case and every deliberately bad row the pipeline has to handle. Files are read back with the csv
module and fastexcel; headers are checked against the vocabulary seed, read independently here."""

from __future__ import annotations

import csv
import re
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb
import fastexcel
import pytest
from typer.testing import CliRunner

import p2c.sample as sample
from loaders.landing import LoadOptions
from loaders.load import load_paths
from p2c.cli import app
from p2c.sample import SampleOptionError, write_sample_set
from p2c.sample.columns import EXPORT_COLUMNS
from p2c.sample.dataset import MISSING_ORDER_NUMBER
from p2c.sample.formats import Kind
from p2c.settings import choice_labels_path, header_vocabulary_path

SCALE = 40
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

USMF_FILES = {
    "account": "USMF/Active Accounts 11-25-2026 9-38-46 AM.xlsx",
    "contact": "USMF/My Active Contacts 11-25-2026 9-39-27 AM.xlsx",
    "product": "USMF/Active Products 11-25-2026 9-40-08 AM.xlsx",
    "salesorder": "USMF/Active Orders 11-25-2026 9-40-49 AM.xlsx",
    "salesorderdetail": "USMF/Order Products 11-25-2026 9-41-30 AM.xlsx",
    "invoice": "USMF/Active Invoices 11-25-2026 9-42-11 AM.xlsx",
    "invoicedetail": "USMF/Invoice Products 11-25-2026 9-42-52 AM.xlsx",
}
GBSI_FILES = {
    "account": "GBSI/Aktiva konton 2026-11-25 09-45-46.csv",
    "contact": "GBSI/Mina aktiva kontakter 2026-11-25 09-46-27.csv",
    "product": "GBSI/Aktiva produkter 2026-11-25 09-47-08.csv",
    "salesorder": "GBSI/Aktiva order 2026-11-25 09-47-49.csv",
    "salesorderdetail": "GBSI/Orderprodukter 2026-11-25 09-48-30.csv",
    "invoice": "GBSI/Aktiva fakturor 2026-11-25 09-49-11.csv",
    "invoicedetail": "GBSI/Fakturaprodukter 2026-11-25 09-49-52.csv",
}
MULTI_FILES = {"quote": "multi-company/quotes.csv", "quotedetail": "multi-company/quotedetails.csv"}


# --- reading the files back ---


def read_csv(path: Path, encoding: str = "utf-8-sig", delimiter: str = ";") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def csv_records(path: Path, encoding: str = "utf-8-sig", delimiter: str = ";") -> list[dict[str, str]]:
    header, *rows = read_csv(path, encoding, delimiter)
    return [dict(zip(header, row, strict=False)) for row in rows]


def xlsx_sheets(path: Path) -> dict[str, list[dict[str, object]]]:
    """The visible (data) sheets; Dynamics' hidden metadata sheet is checked on its own."""
    reader = fastexcel.read_excel(path)
    sheets = {name: reader.load_sheet_by_name(name) for name in reader.sheet_names}
    return {
        name: sheet.to_arrow().to_pylist() for name, sheet in sheets.items() if sheet.visible == "visible"
    }


def xlsx_records(path: Path) -> list[dict[str, object]]:
    return [row for rows in xlsx_sheets(path).values() for row in rows]


def vocabulary(language_code: int) -> dict[str, dict[str, str]]:
    """table -> header -> logical name, read straight from the seed (not through the code under test)."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    with header_vocabulary_path().open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if int(row["language_code"]) == language_code:
                out[row["table_name"]][row["header"]] = row["logical_name"]
    return out


def labels(table: str, logical_name: str, language_code: int) -> set[str]:
    with choice_labels_path().open(encoding="utf-8", newline="") as handle:
        return {
            row["label"]
            for row in csv.DictReader(handle)
            if (row["table_name"], row["logical_name"], int(row["language_code"]))
            == (table, logical_name, language_code)
        }


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "set"
    write_sample_set(out, seed=7, scale=SCALE, language="sv")
    return out


@pytest.fixture(scope="module")
def english_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample_en") / "set"
    write_sample_set(out, seed=7, scale=SCALE, language="en")
    return out


def file_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def usmf(root: Path, table: str) -> list[dict[str, object]]:
    return xlsx_records(root / USMF_FILES[table])


def gbsi(root: Path, table: str) -> list[dict[str, str]]:
    encoding = "cp1252" if table == "product" else "utf-8-sig"
    return csv_records(root / GBSI_FILES[table], encoding)


def multi(root: Path, table: str) -> list[dict[str, str]]:
    return csv_records(root / MULTI_FILES[table], "utf-8", ",")


# --- layout and determinism ---


def test_layout_is_exactly_the_three_folders(sample_dir: Path) -> None:
    expected = sorted([*USMF_FILES.values(), *GBSI_FILES.values(), *MULTI_FILES.values()])
    assert sorted(file_bytes(sample_dir)) == expected


def test_same_arguments_write_byte_identical_files(sample_dir: Path, tmp_path: Path) -> None:
    written = write_sample_set(tmp_path / "again", seed=7, scale=SCALE, language="sv")
    assert [p.relative_to(tmp_path / "again").as_posix() for p in written] == sorted(file_bytes(sample_dir))
    assert file_bytes(tmp_path / "again") == file_bytes(sample_dir)


def test_another_seed_changes_every_file_but_not_the_layout(sample_dir: Path, tmp_path: Path) -> None:
    write_sample_set(tmp_path / "other", seed=8, scale=SCALE, language="sv")
    first, other = file_bytes(sample_dir), file_bytes(tmp_path / "other")
    assert sorted(other) == sorted(first)
    assert [name for name in first if first[name] == other[name]] == []


def test_parallel_writing_gives_the_same_bytes(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sample, "PARALLEL_FROM_SCALE", 1)
    write_sample_set(tmp_path / "parallel", seed=7, scale=SCALE, language="sv")
    assert file_bytes(tmp_path / "parallel") == file_bytes(sample_dir)


def test_row_counts_follow_scale(sample_dir: Path) -> None:
    # Extra rows are the documented bad rows: 3 USMF accounts, 2 GBSI contacts, a bad order per company.
    assert len(usmf(sample_dir, "account")) == SCALE + 3
    assert len(gbsi(sample_dir, "account")) == SCALE
    assert len(usmf(sample_dir, "contact")) == SCALE
    assert len(read_csv(sample_dir / GBSI_FILES["contact"])) == 1 + SCALE + 2
    for table in ("product",):
        assert len(usmf(sample_dir, table)) == len(gbsi(sample_dir, table)) == SCALE
    assert len(usmf(sample_dir, "salesorder")) == len(gbsi(sample_dir, "salesorder")) == SCALE + 1
    quotes = Counter(row["msdyn_company"] for row in multi(sample_dir, "quote"))
    assert quotes == {"USMF": SCALE, "GBSI": SCALE}
    for lines, headers in (
        (usmf(sample_dir, "salesorderdetail"), usmf(sample_dir, "salesorder")),
        (gbsi(sample_dir, "salesorderdetail"), gbsi(sample_dir, "salesorder")),
        (multi(sample_dir, "quotedetail"), multi(sample_dir, "quote")),
    ):
        assert 3.0 <= len(lines) / len(headers) <= 5.0  # "about 4 lines per header"


def test_every_entity_is_present_in_every_company(sample_dir: Path) -> None:
    for table in USMF_FILES:
        assert usmf(sample_dir, table), table
        assert gbsi(sample_dir, table), table
    for table in MULTI_FILES:
        assert {row["msdyn_company"] for row in multi(sample_dir, table)} == {"USMF", "GBSI"}


def test_each_record_lives_in_exactly_one_file(sample_dir: Path) -> None:
    ids: list[object] = []
    for table in USMF_FILES:
        # The first column of every xlsx/CSV export is the hidden record id.
        ids += [next(iter(row.values())) for row in usmf(sample_dir, table)]
        ids += [next(iter(row.values())) for row in gbsi(sample_dir, table)]
    for table in MULTI_FILES:
        ids += [row[f"{table}id"] for row in multi(sample_dir, table)]
    assert all(GUID.match(str(i)) for i in ids)
    assert [i for i, n in Counter(ids).items() if n > 1] == []


# --- shapes ---


def test_xlsx_has_the_hidden_do_not_modify_columns(sample_dir: Path) -> None:
    for table, name in USMF_FILES.items():
        path = sample_dir / name
        with zipfile.ZipFile(path) as archive:
            sheets = sorted(n for n in archive.namelist() if n.startswith("xl/worksheets/sheet"))
            workbook = archive.read("xl/workbook.xml").decode()
            # the last sheet is Dynamics' hidden metadata sheet; every data sheet hides its first 3 columns
            assert re.search(r'<sheet name="hiddenSheet" sheetId="\d+" state="veryHidden"', workbook), table
            for sheet in sheets[:-1]:
                xml = archive.read(sheet).decode()
                assert re.search(r'<col min="1" max="3" [^>]*hidden="1"', xml), (table, sheet)
        for rows in xlsx_sheets(path).values():
            headers = list(rows[0])
            assert headers[1:3] == ["(Do Not Modify) Row Checksum", "(Do Not Modify) Modified On"]
            assert headers[0].startswith("(Do Not Modify) ")
            assert all(GUID.match(str(row[headers[0]])) for row in rows)
    assert next(iter(usmf(sample_dir, "account")[0])) == "(Do Not Modify) Account"
    assert next(iter(usmf(sample_dir, "salesorderdetail")[0])) == "(Do Not Modify) Order Product"


METADATA_A1 = re.compile(r"^(?P<table>[a-z]+):(?P<token>[A-Za-z0-9+/]{86}==):(?P<pairs>.+)$")


def metadata_rows(path: Path) -> list[list[str | None]]:
    """The very hidden metadata sheet's cells (row 1 first), read as any reader would."""
    reader = fastexcel.read_excel(path)
    sheet = reader.load_sheet_by_name("hiddenSheet", header_row=None, dtypes="string")
    assert sheet.visible == "veryhidden"
    return [list(row.values()) for row in sheet.to_arrow().to_pylist()]


def test_xlsx_metadata_sheet_is_in_dynamics_format(sample_dir: Path) -> None:
    english = vocabulary(1033)
    for table, name in USMF_FILES.items():
        path = sample_dir / name
        with zipfile.ZipFile(path) as archive:
            workbook = archive.read("xl/workbook.xml").decode()
        # data sheet(s) first, then the metadata sheet, last
        assert re.findall(r'<sheet name="([^"]+)"', workbook)[-1] == "hiddenSheet", table
        rows = metadata_rows(path)
        match = METADATA_A1.match(str(rows[0][0]))
        assert match and match["table"] == table
        assert all(value is None for value in rows[0][1:])
        pairs = [pair.split("=", 1) for pair in match["pairs"].split("&")]
        assert [logical for logical, _ in pairs[:3]] == [f"{table}id", "checksumLogicalName", "modifiedon"]
        assert all(re.fullmatch(r"(?:[A-Za-z0-9_.~-]|%[0-9a-f]{2})+", encoded) for _, encoded in pairs), table
        decoded = [(logical, unquote(encoded)) for logical, encoded in pairs]
        headers = list(next(iter(xlsx_sheets(path).values()))[0])
        assert [display for _, display in decoded] == headers
        for logical, display in decoded[3:]:
            related = re.fullmatch(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\.(\w+)", logical)
            expected = english[table][display]
            assert (expected.split("__")[1] if related else expected) == (related[1] if related else logical)
        # rows 2..n: the labels of each choice column, in view order (English, in value order)
        choice_columns = [c.logical_name for c in EXPORT_COLUMNS[table] if c.kind is Kind.CHOICE]
        listed = [[label for label in row if label is not None] for row in rows[1:]]
        assert listed == [sorted_labels(table, column, 1033) for column in choice_columns], table
    assert (
        str(metadata_rows(sample_dir / USMF_FILES["account"])[0][0])
        .split(":", 2)[2]
        .startswith(
            "accountid=%28Do%20Not%20Modify%29%20Account&checksumLogicalName=%28Do%20Not%20Modify%29%20Row%20Checksum"
            "&modifiedon=%28Do%20Not%20Modify%29%20Modified%20On&name=Account%20Name&"
        )
    )


def sorted_labels(table: str, logical_name: str, language_code: int) -> list[str]:
    with choice_labels_path().open(encoding="utf-8", newline="") as handle:
        found = sorted(
            (int(row["value"]), row["label"])
            for row in csv.DictReader(handle)
            if (row["table_name"], row["logical_name"], int(row["language_code"]))
            == (table, logical_name, language_code)
        )
    return [label for _, label in found]


def test_loader_reads_the_sample_metadata_back_to_the_export_columns(
    sample_dir: Path, tmp_path: Path
) -> None:
    """The metadata sheet, not the vocabulary, names every column of the sample's workbooks, and names
    them exactly as the sample's columns are named (so the chain's models see the same raw columns)."""
    db = tmp_path / "load.duckdb"
    _, results = load_paths(sorted((sample_dir / "USMF").glob("*.xlsx")), db, LoadOptions(company="USMF"))
    landed = [r for r in results if r.status == "landed"]
    assert {r.entity for r in landed} == set(USMF_FILES)
    assert all(r.detected_by == "metadata sheet" for r in landed)
    for result in landed:
        assert result.unknown_headers == []
        assert [h["how"] for h in result.headers] == ["metadata-sheet"] * len(result.headers)
        assert [h["logical_name"] for h in result.headers] == [
            c.logical_name for c in EXPORT_COLUMNS[str(result.entity)]
        ]
    with duckdb.connect(str(db)) as con:
        matched = con.execute(
            'select entity, list(distinct "column" order by "column") from raw._choice_labels '
            "where sheet not like 'Inactive%' group by entity order by entity"
        ).fetchall()
        unmatched = con.execute('select count(*) from raw._choice_labels where "column" is null').fetchall()
    assert unmatched == [(0,)]
    assert matched == [
        (table, sorted(c.logical_name for c in EXPORT_COLUMNS[table] if c.kind is Kind.CHOICE))
        for table in sorted(USMF_FILES)
    ]


def test_xlsx_headers_are_english_display_names_and_values_are_typed(sample_dir: Path) -> None:
    english = vocabulary(1033)
    for table, name in USMF_FILES.items():
        for rows in xlsx_sheets(sample_dir / name).values():
            assert set(rows[0]) <= set(english[table]), table
            assert "Company" not in rows[0]  # P2C exports had no company column: --company supplies it
    order = usmf(sample_dir, "salesorder")[0]
    assert type(order["Date Submitted"]).__name__ == "datetime"
    assert type(order["(Do Not Modify) Modified On"]).__name__ == "datetime"
    assert isinstance(order["Total Amount"], float)
    line = usmf(sample_dir, "salesorderdetail")[0]
    assert set(line) >= {"Order ID (Order)", "Product ID (Existing Product)", "Unit", "Quantity"}
    assert isinstance(line["Quantity"], float) and isinstance(line["Price Per Unit"], float)
    assert {row["Relationship Type"] for row in usmf(sample_dir, "account")} == {"Customer", "Prospect"}


def test_contacts_workbook_has_a_second_meaningful_sheet(sample_dir: Path) -> None:
    sheets = xlsx_sheets(sample_dir / USMF_FILES["contact"])
    assert list(sheets) == ["My Active Contacts", "Inactive Contacts"]
    assert {row["Status"] for row in sheets["My Active Contacts"]} == {"Active"}
    assert {row["Status"] for row in sheets["Inactive Contacts"]} == {"Inactive"}
    assert len(sheets["Inactive Contacts"]) == SCALE // 4


def test_gbsi_csv_shape_bom_semicolon_crlf(sample_dir: Path) -> None:
    for table, name in GBSI_FILES.items():
        raw = (sample_dir / name).read_bytes()
        rows = read_csv(sample_dir / name, "cp1252" if table == "product" else "utf-8-sig")
        if table == "product":
            assert not raw.startswith(b"\xef\xbb\xbf")
        else:
            assert raw.startswith(b"\xef\xbb\xbf"), table
        # Every record ends in CRLF; a bare LF appears only inside a quoted multi-line field.
        assert raw.endswith(b"\r\n")
        assert raw.count(b"\r\n") == len(rows), table
        assert b"\r" not in raw.replace(b"\r\n", b"")
        assert len(raw.split(b"\r\n", 1)[0].split(b";")) == len(rows[0]) > 5


def test_gbsi_products_are_windows_1252(sample_dir: Path) -> None:
    raw = (sample_dir / GBSI_FILES["product"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"Gift Card 50 \x80" in raw  # the euro sign is 0x80 in Windows-1252 (and absent from Latin-1)
    names = {row["Namn"] for row in gbsi(sample_dir, "product")}
    assert {"Smörgåsbord Serving Tray", "Crème Brûlée Torch", "Gift Card 50 €"} <= names


def test_quoted_fields_keep_embedded_newlines_and_quotes(sample_dir: Path) -> None:
    accounts = gbsi(sample_dir, "account")
    streets = [row["Adress 1: Gata 1"] for row in accounts]
    assert any(street.startswith("c/o Accounts Payable\n") for street in streets)
    assert 'Café "Det Goda" AB' in {row["Kontonamn"] for row in accounts}
    raw = (sample_dir / GBSI_FILES["account"]).read_text(encoding="utf-8-sig")
    assert '"Café ""Det Goda"" AB"' in raw


def test_multi_company_is_web_api_shaped(sample_dir: Path) -> None:
    for table, name in MULTI_FILES.items():
        raw = (sample_dir / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw
        header = raw.split(b"\n", 1)[0].decode().split(",")
        assert set(header) <= set(vocabulary(1033)[table].values()), table
        assert "msdyn_company" in header
    quote = multi(sample_dir, "quote")[0]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T00:00:00Z", quote["effectivefrom"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", quote["modifiedon"])
    assert re.fullmatch(r"\d+\.\d{2}", quote["totalamount"])


@pytest.mark.parametrize(("language", "code"), [("sv", 1053), ("en", 1033)])
def test_gbsi_headers_are_the_vocabulary_in_the_language(
    language: str, code: int, sample_dir: Path, english_dir: Path
) -> None:
    root = sample_dir if language == "sv" else english_dir
    words = vocabulary(code)
    folder = root / "GBSI"
    files = sorted(folder.iterdir())
    assert len(files) == 7
    for path in files:
        encoding = "utf-8-sig" if path.read_bytes().startswith(b"\xef\xbb\xbf") else "cp1252"
        header = read_csv(path, encoding)[0]
        tables = [table for table, known in words.items() if set(header) <= set(known)]
        assert len(tables) >= 1, (path.name, header)
        logical = [words[tables[0]][h] for h in header]
        assert len(set(logical)) == len(logical)
    if language == "sv":
        contact = read_csv(root / GBSI_FILES["contact"])[0]
        assert contact[:3] == [
            "(Ändra inte) Kontakt",
            "(Ändra inte) Radkontrollsumma",
            "(Ändra inte) Ändrad den",
        ]
        assert {"Kontaktnummer", "Är aktiv kund", "Företagsnamn", "Kontonummer (Företagsnamn)"} <= set(
            contact
        )


def test_swedish_values_are_localized(sample_dir: Path) -> None:
    contacts = gbsi(sample_dir, "contact")
    assert {row["Är aktiv kund"] for row in contacts} == labels("contact", "msdynce_isactivecustomer", 1053)
    assert {row["Är aktiv kund"] for row in contacts} == {"Ja", "Ingen"}
    assert {row["Är prospekt"] for row in contacts} == {"Ja", "Nej"}
    orders = gbsi(sample_dir, "salesorder")
    dates = [row["Datum skickat"] for row in orders if row["Datum skickat"]]
    assert dates and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in dates)
    totals = [row["Totalt belopp"] for row in orders]
    assert all(re.fullmatch(r"\d{1,3}( \d{3})*,\d{2}", t) for t in totals)
    assert any(" " in t for t in totals)  # grouped: 1 234,50
    quantities = [row["Kvantitet"] for row in gbsi(sample_dir, "salesorderdetail")]
    assert all(re.fullmatch(r"\d+,\d{2}", q) for q in quantities)  # never grouped: 1234,50


def test_english_values_are_localized(english_dir: Path) -> None:
    folder = english_dir / "GBSI"
    contacts = csv_records(next(folder.glob("My Active Contacts *.csv")))
    assert {row["Is Active Customer"] for row in contacts} == {"Yes", "No"}
    orders = csv_records(next(folder.glob("Active Orders *.csv")))
    dates = [row["Date Submitted"] for row in orders if row["Date Submitted"]]
    assert dates and all(re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", d) for d in dates)
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2}", row["Total Amount"]) for row in orders)
    modified = contacts[0]["(Do Not Modify) Modified On"]
    assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M", modified)


# --- the special cases ---


def test_same_account_number_in_both_companies(sample_dir: Path) -> None:
    usmf_numbers = {row["Account Number"] for row in usmf(sample_dir, "account")}
    gbsi_numbers = {row["Kontonummer"] for row in gbsi(sample_dir, "account")}
    shared = usmf_numbers & gbsi_numbers
    assert any(str(n).startswith("ACC-01001-") for n in shared)
    assert len(shared) >= SCALE // 2


def test_prospect_numbers_come_from_their_own_sequence(sample_dir: Path) -> None:
    for rows, type_column, number_column, prospect in (
        (usmf(sample_dir, "account"), "Relationship Type", "Account Number", "Prospect"),
        (gbsi(sample_dir, "account"), "Relationstyp", "Kontonummer", "Prospekt"),
    ):
        prospects = [row[number_column] for row in rows if row[type_column] == prospect]
        customers = [
            row[number_column] for row in rows if row[type_column] != prospect and row[number_column]
        ]
        assert len(prospects) == SCALE // 8
        assert all(re.fullmatch(r"PRS-\d{5}", str(n)) for n in prospects)
        assert all(re.fullmatch(r"ACC-\d{5}-[A-Z]{6}", str(n)) for n in customers)


def test_contacts_cover_active_customer_prospects_and_parents(sample_dir: Path) -> None:
    contacts = usmf(sample_dir, "contact")
    assert {row["Is Active Customer"] for row in contacts} == {"Yes", "No"}
    assert any(row["Is Prospect"] == "Yes" for row in contacts)
    assert all(re.fullmatch(r"CON-\d{5}-[A-Z]{6}", str(row["Contact Number"])) for row in contacts)
    accounts = {row["Account Name"]: row["Account Number"] for row in usmf(sample_dir, "account")}
    with_parent = [row for row in contacts if row["Company Name"]]
    assert with_parent and any(row["Company Name"] is None for row in contacts)
    for row in with_parent:
        assert accounts[row["Company Name"]] == row["Account Number (Company Name)"]


def test_order_customers_are_accounts_or_contacts(sample_dir: Path) -> None:
    account_names = {row["Account Name"] for row in usmf(sample_dir, "account")}
    contact_names = {row["Full Name"] for row in usmf(sample_dir, "contact")}
    customers = [row["Customer"] for row in usmf(sample_dir, "salesorder")]
    assert sum(c in contact_names for c in customers) >= SCALE // 10
    assert sum(c in account_names for c in customers) >= SCALE // 2
    assert not account_names & contact_names


def test_requested_date_fallbacks_exist_in_both_companies(sample_dir: Path) -> None:
    for rows, (submitted, requested, fulfilled) in (
        (usmf(sample_dir, "salesorder"), ("Date Submitted", "Requested Delivery Date", "Date Fulfilled")),
        (gbsi(sample_dir, "salesorder"), ("Datum skickat", "Begärt leveransdatum", "Datum uppfyllt")),
    ):
        kinds = Counter(
            "requested"
            if row[requested]
            else "fulfilled only"
            if row[fulfilled] and not row[submitted]
            else "submitted only"
            if row[submitted] and not row[fulfilled]
            else "none"
            if not (row[submitted] or row[fulfilled])
            else "other"
            for row in rows
        )
        assert set(kinds) == {"requested", "fulfilled only", "submitted only", "none"}
        assert kinds["none"] == len(range(11, SCALE, 12))  # order k has no date when k % 12 == 11


def test_ship_to_country_as_code_and_as_name(sample_dir: Path) -> None:
    values = {row["Ship To Country/Region"] for row in usmf(sample_dir, "salesorder")}
    assert {"US", "United States"} <= values


def test_quotes_have_revisions_and_lines_carry_quote_and_revision(sample_dir: Path) -> None:
    quotes = multi(sample_dir, "quote")
    revisions: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in quotes:
        revisions[(row["msdyn_company"], row["quotenumber"])].add(row["revisionnumber"])
    assert sum(r == {"0", "1", "2"} for r in revisions.values()) >= 2 * (SCALE // 8)
    closed = [
        r
        for r in quotes
        if r["revisionnumber"] in ("0", "1") and len(revisions[(r["msdyn_company"], r["quotenumber"])]) == 3
    ]
    assert {r["statecode"] for r in closed} == {"Closed"}
    keys = {(r["msdyn_company"], r["quotenumber"], r["revisionnumber"]) for r in quotes}
    lines = multi(sample_dir, "quotedetail")
    assert {
        (r["msdyn_company"], r["quoteid__quotenumber"], r["quoteid__revisionnumber"]) for r in lines
    } == keys


def test_quote_customer_ids_point_at_records_of_the_same_company(sample_dir: Path) -> None:
    ids: dict[str, set[object]] = {
        "USMF": {row["(Do Not Modify) Account"] for row in usmf(sample_dir, "account")}
        | {row["(Do Not Modify) Contact"] for row in usmf(sample_dir, "contact")},
        "GBSI": {row["(Ändra inte) Konto"] for row in gbsi(sample_dir, "account")}
        | {row["(Ändra inte) Kontakt"] for row in gbsi(sample_dir, "contact")},
    }
    for row in multi(sample_dir, "quote"):
        assert row["_customerid_value"] in ids[row["msdyn_company"]]


def test_invoices_point_at_orders_and_lines_at_invoices(sample_dir: Path) -> None:
    orders = {row["Order ID"] for row in usmf(sample_dir, "salesorder")}
    invoices = usmf(sample_dir, "invoice")
    assert invoices and {row["Order ID (Order)"] for row in invoices} <= orders
    numbers = {row["Invoice ID"] for row in invoices}
    assert {row["Invoice ID (Invoice)"] for row in usmf(sample_dir, "invoicedetail")} == numbers
    gbsi_orders = {row["Order-ID"] for row in gbsi(sample_dir, "salesorder")}
    assert {row["Order-ID (Order)"] for row in gbsi(sample_dir, "invoice")} <= gbsi_orders


def test_products_referenced_by_lines_exist(sample_dir: Path) -> None:
    products = {row["Product ID"] for row in usmf(sample_dir, "product")}
    for table in ("salesorderdetail", "invoicedetail"):
        assert {row["Product ID (Existing Product)"] for row in usmf(sample_dir, table)} <= products
    assert {row["productid__productnumber"] for row in multi(sample_dir, "quotedetail")} <= products
    assert {row["Product Type"] for row in usmf(sample_dir, "product")} == {"Sales Inventory", "Services"}


# --- the deliberately bad rows (documented in p2c.sample.dataset) ---


def test_bad_account_rows(sample_dir: Path) -> None:
    accounts = usmf(sample_dir, "account")
    assert [row["Account Name"] for row in accounts if not row["Account Number"]] == ["Relecloud"]
    northwind = [row["Account Number"] for row in accounts if row["Account Name"] == "Northwind Traders"]
    assert len(northwind) == 2 and len(set(northwind)) == 2
    assert all(row["Kontonummer"] for row in gbsi(sample_dir, "account"))


def test_bad_order_rows(sample_dir: Path) -> None:
    usmf_orders = usmf(sample_dir, "salesorder")
    assert [row["Customer"] for row in usmf_orders].count("Northwind Traders") == 1
    gbsi_orders = gbsi(sample_dir, "salesorder")
    known = {row["Kontonamn"] for row in gbsi(sample_dir, "account")}
    known |= {row["Fullständigt namn"] for row in gbsi(sample_dir, "contact")}
    assert [row["Kund"] for row in gbsi_orders if row["Kund"] not in known] == ["Wingtip Toys"]
    usmf_known = {row["Account Name"] for row in usmf(sample_dir, "account")}
    usmf_known |= {row["Full Name"] for row in usmf(sample_dir, "contact")}
    assert all(row["Customer"] in usmf_known for row in usmf_orders)


def test_bad_order_line_points_at_a_missing_order(sample_dir: Path) -> None:
    orders = {row["Order ID"] for row in usmf(sample_dir, "salesorder")}
    lines = usmf(sample_dir, "salesorderdetail")
    assert [row["Order ID (Order)"] for row in lines if row["Order ID (Order)"] not in orders] == [
        MISSING_ORDER_NUMBER
    ]
    gbsi_orders = {row["Order-ID"] for row in gbsi(sample_dir, "salesorder")}
    assert {row["Order-ID (Order)"] for row in gbsi(sample_dir, "salesorderdetail")} <= gbsi_orders


def test_bad_contact_rows_and_the_ragged_row(sample_dir: Path) -> None:
    header, *rows = read_csv(sample_dir / GBSI_FILES["contact"])
    ragged = [row for row in rows if len(row) != len(header)]
    assert len(ragged) == 1 and len(ragged[0]) == len(header) + 1
    assert ragged[0][header.index("Fullständigt namn")] == "Greta Ragnarsson"
    number = header.index("Kontaktnummer")
    assert [row[header.index("Fullständigt namn")] for row in rows if not row[number]] == ["Oskar Wikström"]
    assert all(row["Contact Number"] for row in usmf(sample_dir, "contact"))
    for table, name in GBSI_FILES.items():
        if table != "contact":
            header, *rows = read_csv(sample_dir / name, "cp1252" if table == "product" else "utf-8-sig")
            assert all(len(row) == len(header) for row in rows), table


# --- options ---


def test_csv_only_format_and_entity_selection(tmp_path: Path) -> None:
    written = write_sample_set(tmp_path, scale=5, file_format="csv", entities=["account", "quote"])
    names = [p.relative_to(tmp_path).as_posix() for p in written]
    assert names == [
        "GBSI/Aktiva konton 2026-11-25 09-45-46.csv",
        "USMF/Active Accounts 11-25-2026 9-38-46 AM.csv",
        "multi-company/quotes.csv",
    ]
    raw = written[1].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf(Do Not Modify) Account,(Do Not Modify) Row Checksum,")
    rows = csv_records(written[1], delimiter=",")
    assert len(rows) == 5 + 3 and rows[0]["Relationship Type"] == "Customer"


@pytest.mark.parametrize(
    "arguments",
    [{"scale": 0}, {"language": "de"}, {"file_format": "xls"}, {"entities": ["lead"]}],
)
def test_bad_options_are_refused(tmp_path: Path, arguments: dict[str, object]) -> None:
    with pytest.raises(SampleOptionError):
        write_sample_set(tmp_path, **arguments)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_rerun_overwrites_but_foreign_files_are_refused(tmp_path: Path) -> None:
    first = write_sample_set(tmp_path, scale=3, language="sv", entities=["account"])
    assert write_sample_set(tmp_path, scale=3, language="sv", entities=["account"]) == first
    # An English run into the same folder would leave the Swedish file next to it: p2c load would take both.
    with pytest.raises(SampleOptionError, match="Aktiva konton"):
        write_sample_set(tmp_path, scale=3, language="en", entities=["account"])
    assert sorted(p.name for p in (tmp_path / "GBSI").iterdir()) == ["Aktiva konton 2026-11-25 09-45-46.csv"]


def test_cli_writes_the_set_and_refuses_a_bad_language(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["sample", str(tmp_path / "out"), "--scale", "3", "--language", "en"])
    assert result.exit_code == 0, result.output
    assert "wrote 16 files" in result.output
    assert (tmp_path / "out" / "GBSI" / "Active Accounts 11-25-2026 9-45-46 AM.csv").is_file()
    result = runner.invoke(app, ["sample", str(tmp_path / "bad"), "--language", "xx"])
    assert result.exit_code == 2
    assert not (tmp_path / "bad").exists()


# --- state and status reason ---


def _documented_pairs(table: str, language_code: int) -> set[tuple[str, str]]:
    """(state label, status reason label) pairs the emulator's generated schema documents, in a language."""
    import json

    from p2c.emulator.schema import SCHEMA_FILE

    columns = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["tables"][table]["columns"]
    with choice_labels_path().open(encoding="utf-8", newline="") as handle:
        label = {
            (row["logical_name"], row["value"]): row["label"]
            for row in csv.DictReader(handle)
            if row["table_name"] == table and int(row["language_code"]) == language_code
        }
    return {
        (label[("statecode", state)], label[("statuscode", status)])
        for status, state in columns["statuscode"]["state_of_status"].items()
    }


@pytest.mark.parametrize(
    ("table", "reader", "language_code"),
    [
        ("account", usmf, 1033),
        ("contact", usmf, 1033),
        ("salesorder", usmf, 1033),
        ("account", gbsi, 1053),
        ("contact", gbsi, 1053),
        ("salesorder", gbsi, 1053),
        ("quote", multi, 0),
    ],
)
def test_every_record_carries_a_status_reason_that_belongs_to_its_state(
    sample_dir: Path, table: str, reader: Any, language_code: int
) -> None:
    rows = reader(sample_dir, table)
    if language_code:  # a view export: display names, the status reason right after the state
        names = vocabulary(language_code)[table]
        state, status = (h for h in rows[0] if names.get(h) in ("statecode", "statuscode"))
        assert list(rows[0]).index(status) == list(rows[0]).index(state) + 1
        assert names[status] == "statuscode"
    else:  # the Web API export: logical names, English labels
        state, status, language_code = "statecode", "statuscode", 1033
    documented = _documented_pairs(table, language_code)
    pairs = {(str(r[state]), str(r[status])) for r in rows if r[state] not in (None, "")}
    assert pairs and pairs <= documented, pairs - documented
    assert all(r[status] not in (None, "") for r in rows if r[state] not in (None, ""))


def test_revised_quotes_are_closed_as_revised(sample_dir: Path) -> None:
    quotes = multi(sample_dir, "quote")
    latest: dict[tuple[str, str], str] = {}
    for row in quotes:
        key = (row["msdyn_company"], row["quotenumber"])
        latest[key] = max(latest.get(key, "0"), row["revisionnumber"])
    superseded = [r for r in quotes if r["revisionnumber"] < latest[(r["msdyn_company"], r["quotenumber"])]]
    assert superseded and {(r["statecode"], r["statuscode"]) for r in superseded} == {("Closed", "Revised")}
