"""Header normalization and entity detection (pure functions, no DuckDB)."""

from __future__ import annotations

import pytest

from loaders.headers import EntityError, detect_entity, header_key, plan_columns, resolve_header


def test_header_key_ignores_case_whitespace_bom_and_nbsp() -> None:
    assert header_key("\ufeff  Account\xa0 NUMBER \t") == "account number"


@pytest.mark.parametrize(
    ("table", "header", "expected"),
    [
        ("account", "Account Number", ("accountnumber", "vocabulary")),  # English
        ("account", "kontonummer", ("accountnumber", "vocabulary")),  # Swedish, lower case
        ("account", "Firmennummer", ("accountnumber", "vocabulary")),  # German P2C label
        ("account", "取引先企業番号", ("accountnumber", "vocabulary")),  # Japanese P2C label
        ("account", " ACCOUNTNUMBER ", ("accountnumber", "vocabulary")),  # the logical name itself
        ("account", "(Do Not Modify) Account", ("accountid", "vocabulary")),
        ("account", "(Ändra inte) Konto", ("accountid", "vocabulary")),
        ("salesorderdetail", "Order ID (Order)", ("salesorderid__ordernumber", "vocabulary")),
        ("contact", "parentcustomerid__accountnumber", ("parentcustomerid__accountnumber", "vocabulary")),
        # Not listed in the vocabulary, built from "X (Y)": Y a lookup of contact, X a column of account.
        ("contact", "Account Name (Company Name)", ("parentcustomerid__name", "related")),
        ("salesorderdetail", "Name (Existing Product)", ("productid__name", "related")),
        ("account", "Favourite Colour", (None, "")),
        ("account", "Favourite Colour (Company)", (None, "")),
    ],
)
def test_resolve_header(table: str, header: str, expected: tuple[str | None, str]) -> None:
    assert resolve_header(table, header) == expected


def test_plan_columns_suffixes_duplicates_and_keeps_unknown_and_hostile_headers() -> None:
    headers = [
        "Account Number",
        "accountnumber",
        "Status",
        'x"); drop table raw.account; --',
        "",
        "Notes",
        "notes",
        "_source_file",
        "Kontonummer",
    ]
    plan = plan_columns("account", headers)
    assert plan.names == [
        "accountnumber",
        "accountnumber__2",
        "statecode",
        "x_); drop table raw.account; --",  # quotes become `_`: a column dbt can quote
        "column_5",
        "Notes",
        "notes__2",
        "_source_file__2",
        "accountnumber__3",
    ]
    assert plan.unknown == ('x"); drop table raw.account; --', "", "Notes", "notes", "_source_file")
    assert plan.duplicates == (
        "'accountnumber' (column 2) -> accountnumber__2",
        "'notes' (column 7) -> notes__2",
        "'_source_file' (column 8) -> _source_file__2",
        "'Kontonummer' (column 9) -> accountnumber__3",
    )


ACCOUNT_HEADERS = ["(Do Not Modify) Account", "Account Number", "Account Name", "Status", "Company"]
CONTACT_HEADERS = ["(Do Not Modify) Contact", "First Name", "Last Name", "Email", "Status"]


def test_detect_entity_from_headers_not_file_name() -> None:
    assert detect_entity(ACCOUNT_HEADERS, "contacts.csv") == ("account", "headers")
    assert detect_entity(["Förnamn", "Efternamn", "Kontaktnummer"], "export.csv") == ("contact", "headers")
    assert detect_entity(["salesorderid__ordernumber", "quantity", "productid__productnumber"], "x.csv") == (
        "salesorderdetail",
        "headers",
    )


def test_detect_entity_tie_broken_by_file_name_else_error() -> None:
    # "Name" and "Status" are columns of salesorder, quote, invoice and product alike.
    assert detect_entity(["Name", "Status"], "Quotes 2024.csv") == ("quote", "headers+file name")
    with pytest.raises(EntityError, match="equally"):
        detect_entity(["Name", "Status"], "export.csv")


def test_detect_entity_needs_known_headers() -> None:
    with pytest.raises(EntityError, match="no header is a known column"):
        detect_entity(["a", "b"], "account.csv")
    with pytest.raises(EntityError, match="only 1 of 5 headers"):
        detect_entity(["Account Number", "a", "b", "c", "d"], "account.csv")


def test_wrong_entity_override_names_both_entities() -> None:
    with pytest.raises(EntityError) as error:
        detect_entity(CONTACT_HEADERS, "contacts.csv", override="product")
    assert str(error.value) == (
        "--entity product does not match the headers: they belong to contact "
        "(5 of 5 headers are contact columns, 1 are product columns)"
    )
    # An override that fits at least half as well is the user's call.
    assert detect_entity(["Name", "Status"], "x.csv", override="invoice") == ("invoice", "--entity")
    with pytest.raises(EntityError, match="not one of"):
        detect_entity(CONTACT_HEADERS, "x.csv", override="lead")
