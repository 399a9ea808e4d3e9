"""The emulated Web API against real requests + msal: auth, reads, writes, validation, bulk, $batch, "
"metadata."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from emulator_fixtures import api_session, build_tiny_duckdb, msal_token, trusting_session

from p2c.emulator import EmulatorState, RunningEmulator, running_emulator

FOURTH_COFFEE = "1b514ffd-bfec-4c6b-874c-403e17a7bd54"
FOURTH_COFFEE_UK = "5b0a1c7e-8e8d-4a2f-9a53-0d6e1b5a0c11"
LITWARE = "c21f7b6b-679d-495e-af9b-7d9bf576499a"
ORDER = "84983e39-b13f-46b2-acd5-7c943773ef10"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    folder = tmp_path_factory.mktemp("emulator_api")
    db = build_tiny_duckdb(folder / "tiny.duckdb")
    with running_emulator(folder / "state.sqlite", seed_from=db) as running:
        yield running


@pytest.fixture(scope="module")
def api(emulator: RunningEmulator) -> requests.Session:
    return api_session(emulator)


def url(emulator: RunningEmulator, path: str) -> str:
    return emulator.service_root + path


def error_code(response: requests.Response) -> str:
    return str(response.json()["error"]["code"])


def company_id(api: requests.Session, emulator: RunningEmulator, code: str) -> str:
    response = api.get(url(emulator, f"cdm_companies(cdm_companycode='{code}')?$select=cdm_companyid"))
    assert response.status_code == 200
    return str(response.json()["cdm_companyid"])


# --- token service and auth ----------------------------------------------------------------------------


def test_msal_client_credentials_gets_a_token(emulator: RunningEmulator) -> None:
    result = msal_token(emulator)
    assert result.get("token_type") == "Bearer"
    assert len(result["access_token"]) > 40


def test_wrong_secret_is_invalid_client(emulator: RunningEmulator) -> None:
    result = msal_token(emulator, secret="not-the-secret")
    assert result["error"] == "invalid_client"
    assert "AADSTS7000215" in result["error_description"]
    assert "access_token" not in result


def test_unknown_client_is_refused(emulator: RunningEmulator) -> None:
    result = msal_token(emulator, client_id="someone-else", secret="x")
    assert result["error"] == "unauthorized_client"
    assert "AADSTS700016" in result["error_description"]


def test_device_code_flow_with_msal(emulator: RunningEmulator) -> None:
    import msal

    app = msal.PublicClientApplication(
        next(iter(emulator.users)),
        authority=emulator.authority,
        http_client=trusting_session(emulator),
        instance_discovery=False,
    )
    flow = app.initiate_device_flow(scopes=[f"{emulator.base_url}/user_impersonation"])
    assert "user_code" in flow, flow
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result


def test_api_without_token_is_401(emulator: RunningEmulator) -> None:
    response = trusting_session(emulator).get(url(emulator, "accounts"))
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]
    forged = trusting_session(emulator).get(
        url(emulator, "accounts"), headers={"Authorization": "Bearer forged"}
    )
    assert forged.status_code == 401


def test_standard_requests_ca_bundle_is_enough(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_cert))
    token = msal_token(emulator)["access_token"]
    response = requests.get(url(emulator, "WhoAmI"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200
    assert set(response.json()) >= {"UserId", "BusinessUnitId", "OrganizationId"}
    assert response.headers["x-ms-dop-hint"] == "8"


# --- reads ---------------------------------------------------------------------------------------------


def test_get_by_id_with_select(api: requests.Session, emulator: RunningEmulator) -> None:
    response = api.get(
        url(emulator, f"accounts({FOURTH_COFFEE})?$select=name,accountnumber,customertypecode")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Fourth Coffee"
    assert body["customertypecode"] == 3  # the seed turned the label "Customer" back into its value
    assert "telephone1" not in body
    assert body["@odata.etag"].startswith('W/"')


def test_seed_left_out_p2c_and_dualwrite_columns(api: requests.Session, emulator: RunningEmulator) -> None:
    body = api.get(url(emulator, f"accounts({FOURTH_COFFEE})")).json()
    assert body["_msdyn_company_value"] is None
    assert not any(name.startswith("msdynce_") for name in body)
    contact = api.get(url(emulator, "contacts(bbad905d-8a55-487b-9970-0ea8d93c7607)")).json()
    assert contact["_parentcustomerid_value"] == FOURTH_COFFEE
    assert contact["msdyn_isprospect"] is None
    assert api.get(url(emulator, f"accounts({FOURTH_COFFEE})")).json()["_primarycontactid_value"] == (
        "bbad905d-8a55-487b-9970-0ea8d93c7607"
    )


def test_missing_id_is_404(api: requests.Session, emulator: RunningEmulator) -> None:
    response = api.get(url(emulator, f"accounts({uuid.uuid4()})"))
    assert response.status_code == 404
    assert error_code(response) == "0x80040217"


def test_filter_eq_and_or_null_functions(api: requests.Session, emulator: RunningEmulator) -> None:
    def names(query: str) -> list[str]:
        response = api.get(url(emulator, f"accounts?$select=name&$filter={query}"))
        assert response.status_code == 200, response.text
        return sorted(r["name"] for r in response.json()["value"])

    assert names("accountnumber eq 'ACC-01000-EJJJXD'") == ["Fourth Coffee", "Fourth Coffee UK"]
    assert names("accountnumber eq 'acc-01001-mnrxan'") == ["Litware, Inc."]  # collation ignores case
    assert names("customertypecode eq 8 or name eq 'No Id Ltd'") == ["Litware, Inc.", "No Id Ltd"]
    assert names("_msdyn_company_value eq null and contains(name,'coffee')") == [
        "Fourth Coffee",
        "Fourth Coffee UK",
    ]
    assert names("name in ('Litware, Inc.','No Id Ltd')") == ["Litware, Inc.", "No Id Ltd"]
    assert names("Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['Fourth Coffee'])") == [
        "Fourth Coffee"
    ]
    assert names("not startswith(name,'Fourth') and name ne 'No Id Ltd'") == ["Litware, Inc."]
    assert names("primarycontactid/lastname eq 'McKay'") == ["Fourth Coffee"]


def test_unsupported_filter_is_400_not_wrong_data(api: requests.Session, emulator: RunningEmulator) -> None:
    for query in ("length(name) gt 3", "name eqq 'x'", "name eq", "Name eq 'x'"):
        response = api.get(url(emulator, f"accounts?$filter={query}"))
        assert response.status_code == 400, query
        assert "value" not in response.json()
    assert error_code(api.get(url(emulator, "accounts?$select=Name"))) == "0x0"


def test_paging_with_maxpagesize_and_count(api: requests.Session, emulator: RunningEmulator) -> None:
    seen: list[str] = []
    link: str | None = url(emulator, "accounts?$select=name&$count=true")
    pages = 0
    while link:
        response = api.get(link, headers={"Prefer": "odata.maxpagesize=2"})
        assert response.status_code == 200
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=2"
        body = response.json()
        assert len(body["value"]) <= 2
        seen += [row["name"] for row in body["value"]]
        link = body.get("@odata.nextLink")
        pages += 1
    assert pages >= 2
    assert len(seen) == len(set(seen)) >= 4
    top = api.get(url(emulator, "accounts?$top=1&$orderby=name desc")).json()
    assert [r["name"] for r in top["value"]] == ["No Id Ltd"]


# --- writes --------------------------------------------------------------------------------------------


def test_patch_if_match_star_updates_and_never_creates(
    api: requests.Session, emulator: RunningEmulator
) -> None:
    state = EmulatorState(emulator.state)
    usmf = company_id(api, emulator, "USMF")
    before = api.get(url(emulator, f"accounts({LITWARE})")).json()["@odata.etag"]
    response = api.patch(
        url(emulator, f"accounts({LITWARE})"),
        json={"msdyn_company@odata.bind": f"/cdm_companies({usmf})", "telephone1": "+1 555"},
        headers={"If-Match": "*"},
    )
    assert response.status_code == 204, response.text
    assert response.headers["OData-EntityId"].endswith(f"accounts({LITWARE})")
    after = api.get(url(emulator, f"accounts({LITWARE})")).json()
    assert after["_msdyn_company_value"] == usmf
    assert after["@odata.etag"] != before
    creates = state.api_writes("create", "account")
    missing = str(uuid.uuid4())
    response = api.patch(url(emulator, f"accounts({missing})"), json={"name": "x"}, headers={"If-Match": "*"})
    assert response.status_code == 404
    assert state.api_writes("create", "account") == creates
    assert state.row("account", missing) is None


def test_etag_mismatch_is_412(api: requests.Session, emulator: RunningEmulator) -> None:
    target = url(emulator, "contacts(158c5753-09fb-4ca8-805d-13524560c030)")
    current = api.get(target).json()["@odata.etag"]
    assert api.patch(target, json={"telephone1": "1"}, headers={"If-Match": current}).status_code == 204
    stale = api.patch(target, json={"telephone1": "2"}, headers={"If-Match": current})
    assert stale.status_code == 412
    assert api.get(target).json()["telephone1"] == "1"


def test_if_none_match_star_refuses_update(api: requests.Session, emulator: RunningEmulator) -> None:
    response = api.patch(
        url(emulator, f"accounts({FOURTH_COFFEE})"), json={"name": "x"}, headers={"If-None-Match": "*"}
    )
    assert response.status_code == 412


def test_post_creates_204_and_representation_201(api: requests.Session, emulator: RunningEmulator) -> None:
    response = api.post(url(emulator, "accounts"), json={"name": "Created Ltd", "accountnumber": "ACC-9"})
    assert response.status_code == 204
    created = response.headers["OData-EntityId"]
    record_id = created.rsplit("(", 1)[1].rstrip(")")
    assert EmulatorState(emulator.state).row("account", record_id)["name"] == "Created Ltd"  # type: ignore[index]
    represented = api.post(
        url(emulator, "accounts?$select=name"),
        json={"name": "Shown Ltd"},
        headers={"Prefer": "return=representation"},
    )
    assert represented.status_code == 201
    assert represented.json()["name"] == "Shown Ltd"


def test_alternate_key_uniqueness(api: requests.Session, emulator: RunningEmulator) -> None:
    usmf = company_id(api, emulator, "USMF")
    bind = {"msdyn_company@odata.bind": "/cdm_companies(cdm_companycode='USMF')"}
    first = api.patch(url(emulator, f"accounts({FOURTH_COFFEE})"), json=bind, headers={"If-Match": "*"})
    assert first.status_code == 204
    # Another USMF account taking the same account number violates (accountnumber, msdyn_company).
    clash = api.post(
        url(emulator, "accounts"), json={"name": "Dup", "accountnumber": "acc-01000-ejjjxd", **bind}
    )
    assert clash.status_code == 412
    assert error_code(clash) == "0x80060892"
    # The same number in another company is fine: the P2C accountnumber-only index is gone (option off).
    gbsi = api.patch(
        url(emulator, f"accounts({FOURTH_COFFEE_UK})"),
        json={"msdyn_company@odata.bind": "/cdm_companies(cdm_companycode='GBSI')"},
        headers={"If-Match": "*"},
    )
    assert gbsi.status_code == 204
    by_key = api.get(url(emulator, f"accounts(accountnumber='ACC-01000-EJJJXD',_msdyn_company_value={usmf})"))
    assert by_key.json()["accountid"] == FOURTH_COFFEE


def test_navigation_property_is_case_sensitive(api: requests.Session, emulator: RunningEmulator) -> None:
    # On salesorder the company navigation property is msdyn_Company (reference: SchemaName casing).
    wrong = api.patch(
        url(emulator, f"salesorders({ORDER})"),
        json={"msdyn_company@odata.bind": "/cdm_companies(cdm_companycode='USMF')"},
        headers={"If-Match": "*"},
    )
    assert wrong.status_code == 400
    assert error_code(wrong) == "0x80048d19"
    lookup_name = api.post(
        url(emulator, "contacts"),
        json={"lastname": "x", "parentcustomerid@odata.bind": f"/accounts({FOURTH_COFFEE})"},
    )
    assert error_code(lookup_name) == "0x80048d19"
    right = api.patch(
        url(emulator, f"salesorders({ORDER})"),
        json={"msdyn_Company@odata.bind": "/cdm_companies(cdm_companycode='USMF')"},
        headers={"If-Match": "*"},
    )
    assert right.status_code == 204, right.text


def test_missing_bind_target(api: requests.Session, emulator: RunningEmulator) -> None:
    by_id = api.patch(
        url(emulator, f"accounts({FOURTH_COFFEE})"),
        json={"primarycontactid@odata.bind": f"/contacts({uuid.uuid4()})"},
        headers={"If-Match": "*"},
    )
    assert by_id.status_code == 404
    assert error_code(by_id) == "0x80040217"
    by_key = api.patch(
        url(emulator, f"accounts({FOURTH_COFFEE})"),
        json={"msdyn_company@odata.bind": "/cdm_companies(cdm_companycode='NOPE')"},
        headers={"If-Match": "*"},
    )
    assert by_key.status_code == 404
    assert error_code(by_key) == "0x80060891"


def test_bad_choice_value_and_too_long_string(api: requests.Session, emulator: RunningEmulator) -> None:
    choice = api.patch(
        url(emulator, f"accounts({FOURTH_COFFEE})"), json={"customertypecode": 99}, headers={"If-Match": "*"}
    )
    assert choice.status_code == 400
    assert error_code(choice) == "0x8004431A"
    assert "Accepted Values: 1,2,3" in choice.json()["error"]["message"]
    long = api.patch(
        url(emulator, f"salesorders({ORDER})"),
        json={"msdyn_salesordernumber": "X" * 21},
        headers={"If-Match": "*"},
    )
    assert long.status_code == 400
    assert error_code(long) == "0x80044331"
    unknown = api.patch(
        url(emulator, f"accounts({FOURTH_COFFEE})"), json={"Name": "x"}, headers={"If-Match": "*"}
    )
    assert unknown.status_code == 400
    assert api.get(url(emulator, f"accounts({FOURTH_COFFEE})")).json()["name"] == "Fourth Coffee"


def test_delete(api: requests.Session, emulator: RunningEmulator) -> None:
    created = api.post(url(emulator, "accounts"), json={"name": "Short-lived"}).headers["OData-EntityId"]
    assert api.delete(created).status_code == 204
    assert api.delete(created).status_code == 404


# --- bulk messages -------------------------------------------------------------------------------------


def test_update_multiple_is_all_or_nothing(api: requests.Session, emulator: RunningEmulator) -> None:
    lines = api.get(url(emulator, "salesorderdetails?$select=quantity")).json()["value"]
    good = {
        "@odata.type": "Microsoft.Dynamics.CRM.salesorderdetail",
        "salesorderdetailid": lines[0]["salesorderdetailid"],
        "quantity": 42,
    }
    bad = {
        "@odata.type": "Microsoft.Dynamics.CRM.salesorderdetail",
        "salesorderdetailid": lines[1]["salesorderdetailid"],
        "msdyn_linestatus": 1,
    }
    failed = api.post(
        url(emulator, "salesorderdetails/Microsoft.Dynamics.CRM.UpdateMultiple"),
        json={"Targets": [good, bad]},
    )
    assert failed.status_code == 400
    assert error_code(failed) == "0x8004431A"
    assert EmulatorState(emulator.state).row("salesorderdetail", good["salesorderdetailid"])["quantity"] != 42  # type: ignore[index]
    ok = api.post(
        url(emulator, "salesorderdetails/Microsoft.Dynamics.CRM.UpdateMultiple"), json={"Targets": [good]}
    )
    assert ok.status_code == 204
    assert EmulatorState(emulator.state).row("salesorderdetail", good["salesorderdetailid"])["quantity"] == 42  # type: ignore[index]


def test_create_and_upsert_multiple(api: requests.Session, emulator: RunningEmulator) -> None:
    kind = "Microsoft.Dynamics.CRM.salesorder"
    created = api.post(
        url(emulator, "salesorders/Microsoft.Dynamics.CRM.CreateMultiple"),
        json={"Targets": [{"@odata.type": kind, "name": "A"}, {"@odata.type": kind, "name": "B"}]},
    )
    assert created.status_code == 200
    assert len(created.json()["Ids"]) == 2
    usmf = company_id(api, emulator, "USMF")
    target = f"salesorders(msdyn_salesordernumber='SO-77',_msdyn_company_value={usmf})"
    upserted = api.post(
        url(emulator, "salesorders/Microsoft.Dynamics.CRM.UpsertMultiple"),
        json={"Targets": [{"@odata.type": kind, "@odata.id": target, "name": "Upserted"}]},
    )
    assert upserted.status_code == 204, upserted.text
    assert api.get(url(emulator, target)).json()["name"] == "Upserted"
    untyped = api.post(
        url(emulator, "salesorders/Microsoft.Dynamics.CRM.CreateMultiple"), json={"Targets": [{"name": "C"}]}
    )
    assert untyped.status_code == 400


def test_a_table_without_bulk_messages_refuses_them(api: requests.Session, emulator: RunningEmulator) -> None:
    response = api.post(
        url(emulator, "pricelevels/Microsoft.Dynamics.CRM.CreateMultiple"),
        json={"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.pricelevel", "name": "x"}]},
    )
    assert response.status_code == 400


# --- metadata ------------------------------------------------------------------------------------------


def test_sdkmessagefilters_answer_per_schema(api: requests.Session, emulator: RunningEmulator) -> None:
    def supported(message: str, table: str) -> bool:
        query = (
            "sdkmessagefilters?$select=sdkmessagefilterid&$filter=sdkmessageid/name eq @message and "
            f"primaryobjecttypecode eq @table&@message='{message}'&@table='{table}'"
        )
        response = api.get(url(emulator, query))
        assert response.status_code == 200, response.text
        return bool(response.json()["value"])

    assert supported("UpdateMultiple", "salesorderdetail")
    assert supported("CreateMultiple", "quote")
    assert supported("UpdateMultiple", "account")
    assert not supported("UpsertMultiple", "salesorder")  # never listed (reference §3.1)
    assert supported("Update", "account")


def test_entity_definitions_keys_and_relationships(api: requests.Session, emulator: RunningEmulator) -> None:
    keys = api.get(
        url(emulator, "EntityDefinitions(LogicalName='account')/Keys?$select=SchemaName,KeyAttributes")
    )
    assert keys.status_code == 200
    attributes = [sorted(k["KeyAttributes"]) for k in keys.json()["value"]]
    assert ["accountnumber", "msdyn_company"] in attributes
    relations = api.get(
        url(
            emulator,
            "EntityDefinitions(LogicalName='salesorder')/ManyToOneRelationships"
            "?$select=ReferencingAttribute,ReferencingEntityNavigationPropertyName,ReferencedEntity",
        )
    )
    # metadata answers keep their MetadataId whatever `$select` names, as the service's do
    rows = [{k: v for k, v in r.items() if k != "MetadataId"} for r in relations.json()["value"]]
    company = [r for r in rows if r["ReferencingAttribute"] == "msdyn_company"]
    assert company == [
        {
            "ReferencingAttribute": "msdyn_company",
            "ReferencingEntityNavigationPropertyName": "msdyn_Company",
            "ReferencedEntity": "cdm_company",
        }
    ]
    customers = {
        r["ReferencingEntityNavigationPropertyName"]
        for r in rows
        if r["ReferencingAttribute"] == "customerid"
    }
    assert customers == {"customerid_account", "customerid_contact"}


def test_wrong_entity_set_name(api: requests.Session, emulator: RunningEmulator) -> None:
    response = api.get(url(emulator, "Account"))
    assert response.status_code == 404
    assert error_code(response) == "0x8006088a"


# --- $batch --------------------------------------------------------------------------------------------


def batch_body(parts: list[str], boundary: str = "batch_1") -> bytes:
    return ("".join(f"--{boundary}\r\n{part}" for part in parts) + f"--{boundary}--\r\n").encode()


def request_part(
    method: str, path: str, body: dict[str, Any] | None = None, content_id: str | None = None
) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id:
        head += f"Content-ID: {content_id}\r\n"
    text = f"{head}\r\n{method} {path} HTTP/1.1\r\n"
    if body is None:
        return text + "\r\n\r\n"
    return text + f"Content-Type: application/json; type=entry\r\n\r\n{json.dumps(body)}\r\n"


def change_set(parts: list[str], boundary: str = "changeset_1") -> str:
    inner = "".join(f"--{boundary}\r\n{p}" for p in parts) + f"--{boundary}--\r\n"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}"


def post_batch(
    api: requests.Session, emulator: RunningEmulator, body: bytes, prefer: str | None = None
) -> requests.Response:
    headers = {"Content-Type": "multipart/mixed; boundary=batch_1"}
    if prefer:
        headers["Prefer"] = prefer
    return api.post(url(emulator, "$batch"), data=body, headers=headers)


def test_batch_change_set_with_content_id_reference(api: requests.Session, emulator: RunningEmulator) -> None:
    root = "/api/data/v9.2/"
    body = batch_body(
        [
            change_set(
                [
                    request_part("POST", root + "accounts", {"name": "Batch Parent"}, "1"),
                    request_part(
                        "POST",
                        root + "contacts",
                        {"lastname": "Batch Child", "parentcustomerid_account@odata.bind": "$1"},
                        "2",
                    ),
                ]
            ),
            request_part("GET", root + "accounts?$select=name&$filter=name%20eq%20'Batch%20Parent'"),
        ]
    )
    response = post_batch(api, emulator, body)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert response.text.count("HTTP/1.1 204 No Content") == 2
    assert "Batch Parent" in response.text
    state = EmulatorState(emulator.state)
    parent = next(r for r in state.rows("account") if r.get("name") == "Batch Parent")
    child = next(r for r in state.rows("contact") if r.get("lastname") == "Batch Child")
    assert child["_parentcustomerid_value"] == parent["id"]


def test_batch_change_set_rolls_back_and_stops(api: requests.Session, emulator: RunningEmulator) -> None:
    root = "/api/data/v9.2/"
    body = batch_body(
        [
            change_set(
                [
                    request_part("POST", root + "accounts", {"name": "Rolled Back"}, "1"),
                    request_part("POST", root + "accounts", {"name": "Bad", "customertypecode": 99}, "2"),
                ]
            ),
            request_part("POST", root + "accounts", {"name": "Never Reached"}),
        ]
    )
    response = post_batch(api, emulator, body)
    assert response.status_code == 400
    assert "0x8004431A" in response.text
    names = {r.get("name") for r in EmulatorState(emulator.state).rows("account")}
    assert "Rolled Back" not in names and "Never Reached" not in names


def test_batch_continue_on_error(api: requests.Session, emulator: RunningEmulator) -> None:
    root = "/api/data/v9.2/"
    body = batch_body(
        [
            request_part("POST", root + "accounts", {"name": "Bad", "customertypecode": 99}),
            request_part("POST", root + "accounts", {"name": "After The Error"}),
        ]
    )
    response = post_batch(api, emulator, body, prefer="odata.continue-on-error")
    assert response.status_code == 200
    assert "HTTP/1.1 400 Bad Request" in response.text and "HTTP/1.1 204 No Content" in response.text
    assert "After The Error" in {r.get("name") for r in EmulatorState(emulator.state).rows("account")}


def test_batch_parts_fail_alone_and_a_get_after_them_sees_their_writes(
    api: requests.Session, emulator: RunningEmulator
) -> None:
    """Independent writes of one batch share a transaction (a savepoint each): the bad one fails with its
    own error while those around it are written, and a GET later in the batch reads what they wrote."""
    root = "/api/data/v9.2/"
    record = str(uuid.uuid4())
    body = batch_body(
        [
            request_part("POST", f"{root}accounts", {"accountid": record, "name": "Batch Savepoint"}),
            request_part("PATCH", f"{root}accounts({record})", {"customertypecode": 99}),
            request_part("PATCH", f"{root}accounts({record})", {"name": "Batch Savepoint Patched"}),
            request_part("GET", f"{root}accounts({record})?$select=name,customertypecode"),
        ]
    )
    response = post_batch(api, emulator, body, prefer="odata.continue-on-error")
    assert response.status_code == 200
    assert re.findall(r"HTTP/1.1 (\d{3})", response.text) == ["204", "400", "204", "200"]
    assert "0x8004431A" in response.text
    assert '"name": "Batch Savepoint Patched"' in response.text
    assert '"customertypecode": null' in response.text
    stored = EmulatorState(emulator.state).row("account", record)
    assert stored is not None and stored["name"] == "Batch Savepoint Patched"
    assert stored.get("customertypecode") is None


def test_batch_without_crlf_is_refused(api: requests.Session, emulator: RunningEmulator) -> None:
    body = batch_body([request_part("POST", "/api/data/v9.2/accounts", {"name": "LF Only"})]).replace(
        b"\r\n", b"\n"
    )
    response = post_batch(api, emulator, body)
    assert response.status_code == 400
    assert error_code(response) == "0x80048d19"
    assert "LF Only" not in {r.get("name") for r in EmulatorState(emulator.state).rows("account")}


def test_state_inspector_counts(emulator: RunningEmulator, tmp_path: Path) -> None:
    state = EmulatorState(emulator.state)
    assert state.count("cdm_company") == 2
    assert state.seed_report()["minted_ids"] == {"account": 1}  # type: ignore[index]
    assert state.writes("create", "account", client_id="seed") == 4
