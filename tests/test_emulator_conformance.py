"""The emulator refuses what Dataverse refuses: one test per documented behaviour, each naming its source.

Sources are files and sections of ../shared/reference (the `ref:` line of each docstring) or the Microsoft
Learn page quoted there. Where the reference gives no error code, the emulator's choice is written in
docs/emulator.md and the test checks only what is documented (the status, the refusal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from p2c.emulator import RunningEmulator, running_emulator
from p2c.emulator.schema import load_schema
from p2c.emulator.testing import api_session, build_tiny_duckdb

ORDER = "84983e39-b13f-46b2-acd5-7c943773ef10"
QUOTE = "4c580978-792b-4877-b9fe-39c60f5ec1cb"
ACCOUNT = "1b514ffd-bfec-4c6b-874c-403e17a7bd54"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    folder = tmp_path_factory.mktemp("emulator_conformance")
    db = build_tiny_duckdb(folder / "tiny.duckdb")
    with running_emulator(folder / "state.sqlite", seed_from=db) as running:
        yield running


@pytest.fixture(scope="module")
def api(emulator: RunningEmulator) -> requests.Session:
    return api_session(emulator)


def patch(
    api: requests.Session, emulator: RunningEmulator, path: str, body: dict[str, Any]
) -> requests.Response:
    return api.patch(emulator.service_root + path, data=json.dumps(body), headers={"If-Match": "*"})


def code(response: requests.Response) -> str:
    return str(response.json()["error"]["code"])


# --- 1. every column typed from the documented schema ---------------------------------------------------


def test_no_column_is_left_untyped() -> None:
    """ref: dualwrite-target-schema.md and dualwrite-maps/*.json; every column has a Dataverse type, none
    is 'any' (unchecked)."""
    schema = load_schema()
    untyped = [
        f"{t.logical_name}.{c.name}"
        for t in schema.tables.values()
        for c in t.columns.values()
        if c.type
        not in {"string", "memo", "integer", "decimal", "money", "boolean", "datetime", "dateonly", "choice"}
    ]
    assert untyped == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"quotes({QUOTE})", {"billto_city": "x" * 300}),
        (f"salesorders({ORDER})", {"shipto_line1": "y" * 251}),
        (f"quotes({QUOTE})", {"description": "z" * 2001}),
        (f"accounts({ACCOUNT})", {"description": "z" * 2001}),
    ],
)
def test_a_string_over_its_max_length_is_refused(
    api: requests.Session, emulator: RunningEmulator, path: str, body: dict[str, Any]
) -> None:
    """ref: dataverse-web-api.md §3.2 ($batch example): 400 0x80044331 "The length of the 'subject'
    attribute … exceeded the maximum allowed length"."""
    response = patch(api, emulator, path, body)
    assert response.status_code == 400
    assert code(response) == "0x80044331"
    assert "maximum allowed length" in response.json()["error"]["message"]


def test_a_number_in_a_text_column_is_refused(api: requests.Session, emulator: RunningEmulator) -> None:
    """ref: dataverse-web-api.md §2.5 (value formats: text is a JSON string); 0x80048d19 payload error."""
    response = patch(api, emulator, f"quotes({QUOTE})", {"billto_line1": 12})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"quotes({QUOTE})", {"discountamount": -1}),
        (f"salesorders({ORDER})", {"freightamount": 1e13}),
        (f"accounts({ACCOUNT})", {"creditlimit": 1e15}),
        (f"quotes({QUOTE})", {"msdyn_deliveryaddresslatitude": 91}),
    ],
)
def test_a_number_outside_its_range_is_refused(
    api: requests.Session, emulator: RunningEmulator, path: str, body: dict[str, Any]
) -> None:
    """ref: dataverse-web-api.md §6.2 (0x80044331 validation error; the code for a range is the emulator's
    choice, docs/emulator.md): Money, Decimal and Whole Number columns have a MinValue and MaxValue."""
    response = patch(api, emulator, path, body)
    assert response.status_code == 400
    assert "outside the valid range" in response.json()["error"]["message"]


def test_a_date_before_1753_is_refused(api: requests.Session, emulator: RunningEmulator) -> None:
    """ref: dataverse-web-api.md §2.5 "Minimum value: 1/1/1753 12:00 AM."."""
    response = patch(api, emulator, f"quotes({QUOTE})", {"msdyn_salesquotationexpirydate": "1752-12-31"})
    assert response.status_code == 400
    ok = patch(api, emulator, f"quotes({QUOTE})", {"msdyn_salesquotationexpirydate": "1753-01-01"})
    assert ok.status_code == 204


def test_control_characters_in_text_are_refused(api: requests.Session, emulator: RunningEmulator) -> None:
    """ref: dataverse-web-api.md §2.5 "Text values cannot contain some characters
    (InvalidCharactersInField)"."""
    response = patch(api, emulator, f"quotes({QUOTE})", {"billto_city": "Oslo\x00"})
    assert response.status_code == 400
    assert "invalid characters" in response.json()["error"]["message"]
    assert (
        patch(api, emulator, f"quotes({QUOTE})", {"description": "line 1\r\nline 2\tend"}).status_code == 204
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"quotes({QUOTE})", {"quotenumber": "QUO-NEW"}),
        (f"quotes({QUOTE})", {"totalamount": 10}),
        (f"salesorders({ORDER})", {"totalamount": 10}),
        (
            f"salesorders({ORDER})",
            {"transactioncurrencyid@odata.bind": "/transactioncurrencies(isocurrencycode='USD')"},
        ),
    ],
)
def test_a_column_not_valid_for_update_is_refused(
    api: requests.Session, emulator: RunningEmulator, path: str, body: dict[str, Any]
) -> None:
    """ref: schema.json valid_for_update (IsValidForUpdate; UNCONFIRMED per column, Microsoft's quote and
    salesorder table reference); the code 0x80040203 is the emulator's choice (docs/emulator.md)."""
    response = patch(api, emulator, path, body)
    assert response.status_code == 400, response.text
    assert (
        "not valid for update" in response.json()["error"]["message"]
        or "read-only" in response.json()["error"]["message"]
    )


# --- 2. UpdateMultiple on the six tables, metadata ------------------------------------------------------

SIX_TABLES = ["account", "contact", "quote", "quotedetail", "salesorder", "salesorderdetail"]


@pytest.mark.parametrize("table", SIX_TABLES)
def test_sdkmessagefilters_list_updatemultiple_on_the_six_tables(
    api: requests.Session, emulator: RunningEmulator, table: str
) -> None:
    """ref: record-state.md §6 "UpdateMultiple is listed on all six tables, account and contact included";
    the check is the documented sdkmessagefilters query (bulk-operations.md, "Availability with standard
    tables")."""
    query = (
        "sdkmessagefilters?$select=sdkmessagefilterid&$filter=sdkmessageid/name eq @message and "
        f"primaryobjecttypecode eq @table&@message='UpdateMultiple'&@table='{table}'"
    )
    response = api.get(emulator.service_root + query)
    assert response.status_code == 200
    assert response.json()["value"]


def test_updatemultiple_updates_accounts(api: requests.Session, emulator: RunningEmulator) -> None:
    """ref: record-state.md §6 (account lists UpdateMultiple); dataverse-web-api.md §3.1 (Targets with the
    primary key and @odata.type, 204)."""
    target = {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": ACCOUNT, "telephone1": "555-0100"}
    response = api.post(
        emulator.service_root + "accounts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": [target]}
    )
    assert response.status_code == 204, response.text
    assert api.get(emulator.service_root + f"accounts({ACCOUNT})").json()["telephone1"] == "555-0100"


def test_picklist_cast_answers_choice_columns_with_their_option_set(
    api: requests.Session, emulator: RunningEmulator
) -> None:
    """ref: dataverse-web-api.md §7 (the Python SDK reads choice labels with
    `EntityDefinitions(LogicalName='x')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata
    ?$select=LogicalName&$expand=OptionSet($select=Options)`, microsoft/PowerPlatform-DataverseClient-Python
    _odata.py)."""
    response = api.get(
        emulator.service_root + "EntityDefinitions(LogicalName='salesorder')/Attributes/"
        "Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet($select=Options)"
    )
    assert response.status_code == 200, response.text
    by_name = {item["LogicalName"]: item for item in response.json()["value"]}
    options = {
        o["Value"]: o["Label"]["LocalizedLabels"][0]["Label"]
        for o in by_name["msdyn_ordertype"]["OptionSet"]["Options"]
    }
    assert options[192350000] == "Item based"
    assert "name" not in by_name  # only choice columns


def test_attribute_metadata_states_ranges_and_validity(
    api: requests.Session, emulator: RunningEmulator
) -> None:
    """ref: dataverse-web-api.md §7.2 (EntityDefinitions(...)/Attributes); MinValue/MaxValue and
    IsValidForUpdate as schema.json types them."""
    response = api.get(emulator.service_root + "EntityDefinitions(LogicalName='salesorder')/Attributes")
    assert response.status_code == 200, response.text
    by_name = {item["LogicalName"]: item for item in response.json()["value"]}
    assert by_name["freightamount"]["MinValue"] == 0
    assert by_name["totalamount"]["IsValidForUpdate"] is False
    assert by_name["transactioncurrencyid"]["IsValidForUpdate"] is False
