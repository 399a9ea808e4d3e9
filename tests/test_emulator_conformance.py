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
from emulator_fixtures import api_session, build_tiny_duckdb

from p2c.emulator import RunningEmulator, running_emulator
from p2c.emulator.schema import load_schema

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


# --- 3. OData queries, key URLs, conditional deletes, headers (issue 20) --------------------------------


def test_a_quoted_guid_in_a_filter_is_refused_and_a_bare_one_works(
    api: requests.Session, emulator: RunningEmulator
) -> None:
    """ref: dataverse-web-api.md §2.3 (string literals are single-quoted; GUIDs are not: the documented
    examples compare `accountid`/`_x_value` with bare GUIDs); a quoted GUID is an Edm.String, which OData
    refuses to compare with an Edm.Guid property (the code is the emulator's choice, docs/emulator.md)."""
    for text in (
        f"accountid eq '{ACCOUNT}'",
        f"_primarycontactid_value eq '{ACCOUNT}'",
        f"accountid in ('{ACCOUNT}')",
        f"name eq {ACCOUNT}",
    ):
        refused = api.get(emulator.service_root + "accounts", params={"$filter": text})
        assert refused.status_code == 400, (text, refused.text)
        assert "incompatible types" in refused.json()["error"]["message"]
    found = api.get(emulator.service_root + "accounts", params={"$filter": f"accountid eq {ACCOUNT}"})
    assert [r["accountid"] for r in found.json()["value"]] == [ACCOUNT]
    # the documented query function takes its values as strings, GUIDs included
    crm_in = f"Microsoft.Dynamics.CRM.In(PropertyName='accountid',PropertyValues=['{ACCOUNT}'])"
    assert len(api.get(emulator.service_root + "accounts", params={"$filter": crm_in}).json()["value"]) == 1


@pytest.mark.parametrize("character", ["/", "%", "&", ":", "+", "*", "<", ">", "\\", "?"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_key_url_whose_value_holds_a_forbidden_character_is_refused(
    api: requests.Session, emulator: RunningEmulator, character: str, method: str
) -> None:
    """ref: dataverse-web-api.md §2.3 "If the data within a column used in an alternate key contains one of
    the following characters /,<,>,*,%,&,:,\\,?,+ then retrieve (GET), update, or upsert (PATCH) actions
    don't work" (define-alternate-keys-entity); no code is documented (docs/emulator.md)."""
    from urllib.parse import quote

    value = quote(f"ACC{character}1", safe="")
    company = "a1b2c3d4-0000-0000-0000-000000000001"
    url = emulator.service_root + f"accounts(accountnumber='{value}',_msdyn_company_value={company})"
    response = api.request(method, url, data=json.dumps({"name": "x"}), headers={"If-Match": "*"})
    assert response.status_code == 400, response.text
    assert "alternate key" in response.json()["error"]["message"]


def test_delete_honours_if_match(api: requests.Session, emulator: RunningEmulator) -> None:
    """ref: dataverse-web-api.md §2.2 (`If-Match: W/"<etag>"` is optimistic concurrency: a mismatch is 412
    "The version of the existing record doesn't match the RowVersion property provided."; Microsoft Learn
    perform-conditional-operations-using-web-api applies it to DELETE)."""
    created = api.post(emulator.service_root + "accounts", json={"name": "Delete me"})
    assert created.status_code == 204, created.text
    url = created.headers["OData-EntityId"]
    current = api.get(url).headers["ETag"]
    assert patch(api, emulator, url.split("/v9.2/")[1], {"telephone1": "1"}).status_code == 204
    stale = api.delete(url, headers={"If-Match": current})
    assert stale.status_code == 412, stale.text
    assert "RowVersion" in stale.json()["error"]["message"]
    assert api.get(url).status_code == 200
    assert api.delete(url, headers={"If-Match": api.get(url).headers["ETag"]}).status_code == 204
    assert api.get(url).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "fetchXml=%3Cfetch%3E%3Centity%20name%3D%22account%22%2F%3E%3C%2Ffetch%3E",
        "sql=SELECT%20name%20FROM%20account",
        "foo=bar",
        "$foo=bar",
        "$count=yes",
    ],
)
def test_an_unknown_query_option_is_refused_not_ignored(
    api: requests.Session, emulator: RunningEmulator, query: str
) -> None:
    """ref: dataverse-web-api.md §5 (the only options outside `$` are `tag` and `partitionid`; every other
    optional parameter is a header) and §10 (refuse what is not served, never answer unfiltered rows)."""
    for path in ("accounts", f"accounts({ACCOUNT})"):
        response = api.get(emulator.service_root + path + "?" + query)
        assert response.status_code == 400, (path, query, response.text)
    assert api.get(emulator.service_root + "accounts?$top=1&tag=p2c").status_code == 200


def test_count_is_answered_as_documented(api: requests.Session, emulator: RunningEmulator) -> None:
    """ref: Microsoft Learn query/count-rows: `$count=true` adds `@odata.count`; `<entity set>/$count` answers
    the number alone as text/plain (limited to 5,000 like a page)."""
    every = api.get(emulator.service_root + "accounts").json()["value"]
    counted = api.get(emulator.service_root + "accounts?$count=true&$top=1").json()
    assert counted["@odata.count"] == len(every) and len(counted["value"]) == 1
    plain = api.get(emulator.service_root + "accounts/$count")
    assert plain.status_code == 200, plain.text
    assert plain.headers["Content-Type"].startswith("text/plain")
    assert plain.text.lstrip("\ufeff") == str(len(every))
    filtered = api.get(emulator.service_root + f"accounts/$count?$filter=accountid eq {ACCOUNT}")
    assert filtered.text.lstrip("\ufeff") == "1"


@pytest.fixture(scope="module")
def with_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    from p2c.emulator.record_state import RecordStatePolicy

    folder = tmp_path_factory.mktemp("emulator_bypass")
    db = build_tiny_duckdb(folder / "tiny.duckdb")
    with running_emulator(
        folder / "state.sqlite",
        seed_from=db,
        extra_users=[("p2c-plain-user", "plain-secret")],
        record_state=RecordStatePolicy(admins=frozenset({"p2c-test-client"})),
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("MSCRM.BypassBusinessLogicExecution", "CustomSync,CustomAsync"),
        ("MSCRM.BypassBusinessLogicExecution", "CustomAsync"),
        ("MSCRM.BypassCustomPluginExecution", "true"),
    ],
)
def test_bypass_headers_need_the_privilege(with_admin: RunningEmulator, header: str, value: str) -> None:
    """ref: dataverse-web-api.md §5: BypassBusinessLogicExecution needs prvBypassCustomBusinessLogic and
    BypassCustomPluginExecution prvBypassCustomPlugins, which only System Administrator has by default;
    §6.2 privilege errors are 403 PrivilegeDenied 0x80040220."""
    url = with_admin.service_root + f"accounts({ACCOUNT})"
    body = json.dumps({"telephone1": "555-0111"})
    headers = {"If-Match": "*", header: value}
    admin = api_session(with_admin, "p2c-test-client")
    assert admin.patch(url, data=body, headers=headers).status_code == 204
    plain = api_session(with_admin, "p2c-plain-user")
    refused = plain.patch(url, data=body, headers=headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "0x80040220"
    assert plain.patch(url, data=body, headers={"If-Match": "*"}).status_code == 204


def test_suppressing_flows_needs_no_privilege(with_admin: RunningEmulator) -> None:
    """ref: dataverse-web-api.md §5: MSCRM.SuppressCallbackRegistrationExpanderJob "No special privilege
    needed" (bypass-power-automate-flows)."""
    plain = api_session(with_admin, "p2c-plain-user")
    answer = plain.patch(
        with_admin.service_root + f"accounts({ACCOUNT})",
        data=json.dumps({"telephone1": "555-0112"}),
        headers={"If-Match": "*", "MSCRM.SuppressCallbackRegistrationExpanderJob": "true"},
    )
    assert answer.status_code == 204, answer.text


def test_an_unknown_bypass_value_is_refused(with_admin: RunningEmulator) -> None:
    """ref: dataverse-web-api.md §5: the values are CustomSync, CustomAsync or both (the code of the refusal
    is the emulator's choice, docs/emulator.md)."""
    admin = api_session(with_admin, "p2c-test-client")
    answer = admin.patch(
        with_admin.service_root + f"accounts({ACCOUNT})",
        data=json.dumps({"telephone1": "555-0113"}),
        headers={"If-Match": "*", "MSCRM.BypassBusinessLogicExecution": "everything"},
    )
    assert answer.status_code == 400, answer.text


# --- 4. metadata and annotations (issue 20) --------------------------------------------------------------


def test_entity_definitions_filter_select_and_expand_keys(
    api: requests.Session, emulator: RunningEmulator
) -> None:
    """ref: dataverse-web-api.md §7.2
    `EntityDefinitions?$select=SchemaName&$expand=Keys($select=KeyAttributes)`
    (define-alternate-keys-entity)."""
    response = api.get(
        emulator.service_root + "EntityDefinitions?$select=LogicalName,EntitySetName"
        "&$filter=LogicalName eq 'account'&$expand=Keys($select=KeyAttributes)"
    )
    assert response.status_code == 200, response.text
    (account,) = response.json()["value"]
    assert account["EntitySetName"] == "accounts" and "PrimaryIdAttribute" not in account
    assert ["accountnumber", "msdyn_company"] in [k["KeyAttributes"] for k in account["Keys"]]
    assert set(account["Keys"][0]) <= {"KeyAttributes", "MetadataId"}


def test_entity_definitions_expand_attributes_and_relationships(
    api: requests.Session, emulator: RunningEmulator
) -> None:
    """ref: dataverse-web-api.md §2.4 (ManyToOneRelationships with ReferencingEntityNavigationPropertyName)
    and §7.2 (EntityDefinitions(LogicalName='x') with $expand of its collections); a record by MetadataId
    as Microsoft's Python SDK reads it (`EntityDefinitions(<MetadataId>)/Attributes`)."""
    one = api.get(
        emulator.service_root + "EntityDefinitions(LogicalName='contact')?$select=LogicalName"
        "&$expand=Attributes($select=LogicalName,AttributeType),"
        "ManyToOneRelationships($select=ReferencingAttribute,ReferencingEntityNavigationPropertyName)"
    )
    assert one.status_code == 200, one.text
    document = one.json()
    assert {"LogicalName": "lastname", "AttributeType": "String"} in [
        {k: v for k, v in a.items() if k != "MetadataId"} for a in document["Attributes"]
    ]
    navigations = {r["ReferencingEntityNavigationPropertyName"] for r in document["ManyToOneRelationships"]}
    assert "parentcustomerid_account" in navigations
    by_id = api.get(emulator.service_root + f"EntityDefinitions({document['MetadataId']})/Attributes")
    assert by_id.status_code == 200, by_id.text
    assert "lastname" in {a["LogicalName"] for a in by_id.json()["value"]}
    unknown = api.get(emulator.service_root + "EntityDefinitions(LogicalName='contact')?$expand=Nothing")
    assert unknown.status_code == 400


def test_formatted_values_are_annotated_when_asked(api: requests.Session, emulator: RunningEmulator) -> None:
    """ref: dataverse-web-api.md §5 `Prefer: odata.include-annotations="OData.Community.Display.V1.
    FormattedValue"` gives formatted values (compose-http-requests-handle-errors; `Preference-Applied` echoes
    the preference as for return=representation, §2.1)."""
    formatted = "OData.Community.Display.V1.FormattedValue"
    asked = api.get(
        emulator.service_root + f"accounts({ACCOUNT})?$select=customertypecode,name",
        headers={"Prefer": f'odata.include-annotations="{formatted}"'},
    )
    assert asked.status_code == 200, asked.text
    assert asked.headers["Preference-Applied"] == f'odata.include-annotations="{formatted}"'
    record = asked.json()
    assert isinstance(record[f"customertypecode@{formatted}"], str)
    assert "name@" + formatted not in record
    plain = api.get(emulator.service_root + f"accounts({ACCOUNT})?$select=customertypecode").json()
    assert not any("@OData.Community" in k for k in plain)
    listed = api.get(
        emulator.service_root + "accounts?$select=customertypecode&$top=1",
        headers={"Prefer": 'odata.include-annotations="*",odata.maxpagesize=1'},
    )
    assert 'odata.include-annotations="*"' in listed.headers["Preference-Applied"]
    assert f"customertypecode@{formatted}" in listed.json()["value"][0]
