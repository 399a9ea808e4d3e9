"""The emulator refuses updates of records in read-only Sales states (quotes not Draft, orders not Active,
their lines) to callers without System Administrator, on every write path, as Dataverse does
(record-state.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from emulator_fixtures import api_session, build_tiny_duckdb

from p2c.emulator import EmulatorState, RunningEmulator, running_emulator
from p2c.emulator.record_state import RecordStatePolicy

QUOTE = "4c580978-792b-4877-b9fe-39c60f5ec1cb"
QUOTE_LINE = "9d2c9dc5-fb2d-464c-83b7-263404fe9060"
ORDER = "84983e39-b13f-46b2-acd5-7c943773ef10"
ORDER_LINE = "57238893-5ba2-46b1-8973-bf5ca9122034"
ACCOUNT = "1b514ffd-bfec-4c6b-874c-403e17a7bd54"
USER, ADMIN, INTEGRATION = "p2c-user", "p2c-admin", "p2c-integration"


def _start(folder: Path, policy: RecordStatePolicy) -> Any:
    db = build_tiny_duckdb(folder / "tiny.duckdb")
    return running_emulator(
        folder / "state.sqlite",
        seed_from=db,
        client_id=USER,
        client_secret="s1",
        extra_users=[(ADMIN, "s2"), (INTEGRATION, "s3")],
        record_state=policy,
    )


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    policy = RecordStatePolicy(
        admins=frozenset({ADMIN}), integration_users=frozenset({INTEGRATION}), sop_integration=True
    )
    with _start(tmp_path_factory.mktemp("record_state"), policy) as running:
        yield running


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    policy = RecordStatePolicy(
        admins=frozenset({ADMIN}), plugin_error=True, locked_fields=True, inactive_read_only=True
    )
    with _start(tmp_path_factory.mktemp("record_state_strict"), policy) as running:
        yield running


def set_state(emulator: RunningEmulator, table: str, record_id: str, state: int, status: int) -> None:
    """Put a record in a state directly in the store (what the export says it was in)."""
    store = emulator.app.store
    with store.transaction() as txn:
        row = txn.get(table, record_id)
        assert row is not None
        txn.update(table, record_id, {**row.data, "statecode": state, "statuscode": status}, "test")


def row(emulator: RunningEmulator, table: str, record_id: str) -> dict[str, Any]:
    found = EmulatorState(emulator.state).row(table, record_id)
    assert found is not None
    return found


def patch(session: requests.Session, emulator: RunningEmulator, path: str, body: dict[str, Any]) -> Any:
    return session.patch(emulator.service_root + path, json=body, headers={"If-Match": "*"})


def code(response: requests.Response) -> str:
    return str(response.json()["error"]["code"])


def test_seeding_keeps_the_exported_state_and_defaults_the_rest(emulator: RunningEmulator) -> None:
    # the tiny export has quote statecode "0" and no statecode for orders: Draft / Active with default status
    assert (row(emulator, "quote", QUOTE)["statecode"], row(emulator, "quote", QUOTE)["statuscode"]) == (0, 1)
    assert row(emulator, "salesorder", ORDER)["statecode"] == 0
    assert row(emulator, "salesorder", ORDER)["statuscode"] == 1
    assert row(emulator, "account", ACCOUNT)["statecode"] == 0


def test_non_admin_patch_of_won_quote_and_its_line_is_refused_admin_writes(emulator: RunningEmulator) -> None:
    user, admin = api_session(emulator, USER), api_session(emulator, ADMIN)
    set_state(emulator, "quote", QUOTE, 2, 4)
    try:
        refused = patch(user, emulator, f"quotes({QUOTE})", {"shipto_city": "Oslo"})
        assert refused.status_code == 400
        assert code(refused) == "0x8004022E"
        assert refused.json()["error"]["message"] == "The object cannot be updated because it is read-only."
        assert row(emulator, "quote", QUOTE).get("shipto_city") != "Oslo"
        line = patch(user, emulator, f"quotedetails({QUOTE_LINE})", {"quantity": 3})
        assert line.status_code == 400 and code(line) == "0x8004022E"
        assert patch(admin, emulator, f"quotes({QUOTE})", {"shipto_city": "Oslo"}).status_code == 204
        assert row(emulator, "quote", QUOTE)["shipto_city"] == "Oslo"
        assert patch(admin, emulator, f"quotedetails({QUOTE_LINE})", {"quantity": 3}).status_code == 204
    finally:
        set_state(emulator, "quote", QUOTE, 0, 1)
    assert patch(user, emulator, f"quotes({QUOTE})", {"shipto_city": "Bergen"}).status_code == 204


def test_update_multiple_with_one_read_only_order_changes_nothing(emulator: RunningEmulator) -> None:
    user, admin = api_session(emulator, USER), api_session(emulator, ADMIN)
    lines = user.get(emulator.service_root + "salesorderdetails?$select=quantity").json()["value"]
    targets = [
        {
            "@odata.type": "Microsoft.Dynamics.CRM.salesorderdetail",
            "salesorderdetailid": line["salesorderdetailid"],
            "quantity": 77,
        }
        for line in lines
    ]
    set_state(emulator, "salesorder", ORDER, 4, 100003)  # Invoiced
    try:
        path = emulator.service_root + "salesorderdetails/Microsoft.Dynamics.CRM.UpdateMultiple"
        refused = user.post(path, json={"Targets": targets})
        assert refused.status_code == 400 and code(refused) == "0x8004022E"
        assert all(
            row(emulator, "salesorderdetail", t["salesorderdetailid"])["quantity"] != 77 for t in targets
        )
        assert admin.post(path, json={"Targets": targets}).status_code == 204
        assert all(
            row(emulator, "salesorderdetail", t["salesorderdetailid"])["quantity"] == 77 for t in targets
        )
    finally:
        set_state(emulator, "salesorder", ORDER, 0, 1)


def test_batch_part_for_a_canceled_order_is_refused(emulator: RunningEmulator) -> None:
    user = api_session(emulator, USER)
    set_state(emulator, "salesorder", ORDER, 2, 4)  # Canceled
    try:
        part = (
            "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"PATCH /api/data/v9.2/salesorders({ORDER}) HTTP/1.1\r\nIf-Match: *\r\n"
            f"Content-Type: application/json; type=entry\r\n\r\n{json.dumps({'shipto_city': 'Rome'})}\r\n"
        )
        body = f"--batch_1\r\n{part}--batch_1--\r\n".encode()
        answer = user.post(
            emulator.service_root + "$batch",
            data=body,
            headers={
                "Content-Type": "multipart/mixed; boundary=batch_1",
                "Prefer": "odata.continue-on-error",
            },
        )
        assert "0x8004022E" in answer.text and "HTTP/1.1 400" in answer.text
        assert row(emulator, "salesorder", ORDER).get("shipto_city") != "Rome"
    finally:
        set_state(emulator, "salesorder", ORDER, 0, 1)


def test_submitted_order_is_writable_by_the_integration_user_only(emulator: RunningEmulator) -> None:
    user, integration = api_session(emulator, USER), api_session(emulator, INTEGRATION)
    set_state(emulator, "salesorder", ORDER, 1, 3)
    try:
        assert code(patch(user, emulator, f"salesorders({ORDER})", {"shipto_city": "Lima"})) == "0x8004022E"
        assert (
            patch(integration, emulator, f"salesorders({ORDER})", {"shipto_city": "Lima"}).status_code == 204
        )
        set_state(emulator, "salesorder", ORDER, 3, 100001)  # Fulfilled: not the integration user's
        assert (
            code(patch(integration, emulator, f"salesorders({ORDER})", {"shipto_city": "Quito"}))
            == "0x8004022E"
        )
    finally:
        set_state(emulator, "salesorder", ORDER, 0, 1)


def test_state_and_status_are_checked_on_write(emulator: RunningEmulator) -> None:
    user = api_session(emulator, USER)
    wrong_pair = patch(user, emulator, f"quotes({QUOTE})", {"statecode": 0, "statuscode": 4})
    assert wrong_pair.status_code == 400 and code(wrong_pair) == "0x80048408"
    to_won = patch(user, emulator, f"quotes({QUOTE})", {"statecode": 2})
    assert to_won.status_code == 400 and "WinQuote" in to_won.json()["error"]["message"]
    assert row(emulator, "quote", QUOTE)["statecode"] == 0


def test_caller_identity_as_an_admin_reads_it(emulator: RunningEmulator) -> None:
    for client, role, integration in (
        (USER, "Salesperson", False),
        (ADMIN, "System Administrator", False),
        (INTEGRATION, "Salesperson", True),
    ):
        session = api_session(emulator, client)
        user_id = session.get(emulator.service_root + "WhoAmI").json()["UserId"]
        query = "?$select=isintegrationuser&$expand=systemuserroles_association($select=name,roleid)"
        user = session.get(emulator.service_root + f"systemusers({user_id}){query}").json()
        assert [r["name"] for r in user["systemuserroles_association"]] == [role]
        assert user["isintegrationuser"] is integration
    org = session.get(emulator.service_root + "organizations?$select=issopintegrationenabled").json()
    assert org["value"][0]["issopintegrationenabled"] is True


def test_plugin_error_locked_fields_and_inactive_accounts(strict: RunningEmulator) -> None:
    user, admin = api_session(strict, USER), api_session(strict, ADMIN)
    set_state(strict, "quote", QUOTE, 3, 5)  # Closed, Lost
    refused = patch(user, strict, f"quotes({QUOTE})", {"shipto_city": "Oslo"})
    assert refused.status_code == 400 and code(refused) == "0x80040265"
    assert "read only" in refused.json()["error"]["message"]
    written = patch(admin, strict, f"quotes({QUOTE})", {"shipto_country": "NO", "name": "Renamed"})
    assert written.status_code == 204
    assert row(strict, "quote", QUOTE).get("shipto_country") != "NO"  # a locked field: did not change
    assert row(strict, "quote", QUOTE)["name"] == "Renamed"  # the rest of the update did
    set_state(strict, "account", ACCOUNT, 1, 2)
    inactive = patch(admin, strict, f"accounts({ACCOUNT})", {"name": "Gone"})
    assert inactive.status_code == 400 and code(inactive) == "0x80040230"
