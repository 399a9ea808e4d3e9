"""Helpers for tests that run against the emulator: a tiny hand-built `p2c load` DuckDB file, a real msal
token, and a requests session that trusts the emulator's CA. Used by `tests/test_emulator_*.py` and the
upload tests (imported as `emulator_fixtures`: pytest puts tests/ on the path); not part of the package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from p2c.emulator.server import RunningEmulator

ACCOUNTS = [
    # accountid, accountnumber, name, customertypecode (label), statecode, primary contact, currency, company
    (
        "1b514ffd-bfec-4c6b-874c-403e17a7bd54",
        "ACC-01000-EJJJXD",
        "Fourth Coffee",
        "Customer",
        "Active",
        "Yvonne McKay",
        "US Dollar",
        "USMF",
    ),
    (
        "c21f7b6b-679d-495e-af9b-7d9bf576499a",
        "ACC-01001-MNRXAN",
        "Litware, Inc.",
        "Prospect",
        "Active",
        None,
        "US Dollar",
        "USMF",
    ),
    (
        "5b0a1c7e-8e8d-4a2f-9a53-0d6e1b5a0c11",
        "ACC-01000-EJJJXD",
        "Fourth Coffee UK",
        "Customer",
        "Active",
        None,
        "Pound Sterling",
        "GBSI",
    ),
    (None, "ACC-01002-NOIDNO", "No Id Ltd", "Customer", "Active", None, "US Dollar", "USMF"),
]
CONTACTS = [
    (
        "bbad905d-8a55-487b-9970-0ea8d93c7607",
        "Yvonne",
        "McKay",
        "CON-01000-ZJALQT",
        "Fourth Coffee",
        "ACC-01000-EJJJXD",
        "USMF",
    ),
    (
        "158c5753-09fb-4ca8-805d-13524560c030",
        "Paul",
        "Anderson",
        "CON-01001-NCPXAZ",
        "Litware, Inc.",
        "ACC-01001-MNRXAN",
        "USMF",
    ),
]
ORDERS = [
    (
        "84983e39-b13f-46b2-acd5-7c943773ef10",
        "ORD-01000-FHWHHW",
        "Trade show",
        "Fourth Coffee",
        "USMF Standard Prices",
        "US Dollar",
        "USMF",
    )
]
ORDER_LINES = [
    (
        "57238893-5ba2-46b1-8973-bf5ca9122034",
        "Trade show",
        "ORD-01000-FHWHHW",
        "1",
        "M0008",
        "pcs",
        "9",
        "35.9",
    ),
    (
        "338e106f-7c59-43d4-b50c-b889bbeddd6c",
        "Trade show",
        "ORD-01000-FHWHHW",
        "2",
        "D0027",
        "ea",
        "6",
        "1357.45",
    ),
]
PRODUCTS = [
    ("63e0222e-d6b4-4fd4-a2b7-d4188c3db5a0", "M0008", "Serving Tray", "pcs", "Sales Inventory", "USMF"),
    ("db6f8bb8-9bfa-409a-a2de-a98891677203", "D0027", "Car Audio System", "ea", "Sales Inventory", "USMF"),
]
QUOTES = [
    (
        "4c580978-792b-4877-b9fe-39c60f5ec1cb",
        "QUO-01000-LQUDHL",
        "0",
        "Store refit",
        "Litware, Inc.",
        "c21f7b6b-679d-495e-af9b-7d9bf576499a",
        "USMF",
    )
]
QUOTE_LINES = [
    ("9d2c9dc5-fb2d-464c-83b7-263404fe9060", "Store refit", "QUO-01000-LQUDHL", "1", "D0027", "ea", "17")
]


def build_tiny_duckdb(path: Path) -> Path:
    """A DuckDB file shaped like `p2c load` output (raw.* tables, text columns, provenance columns)."""
    import duckdb

    connection = duckdb.connect(str(path))
    try:
        connection.execute("CREATE SCHEMA raw")
        provenance = "_source_file VARCHAR, _source_row BIGINT, _company VARCHAR"
        connection.execute(
            "CREATE TABLE raw.account (accountid VARCHAR, accountnumber VARCHAR, name VARCHAR, "
            "customertypecode "
            "VARCHAR, statecode VARCHAR, primarycontactid VARCHAR, transactioncurrencyid VARCHAR, "
            f"{provenance}, "
            "msdyn_company VARCHAR, msdynce_accountnumber VARCHAR)"
        )
        for row, (rid, number, name, kind, state, contact, currency, company) in enumerate(ACCOUNTS, 1):
            connection.execute(
                "INSERT INTO raw.account VALUES (?,?,?,?,?,?,?,'accounts.xlsx',?,?,NULL,'x')",
                [rid, number, name, kind, state, contact, currency, row, company],
            )
        connection.execute(
            "CREATE TABLE raw.contact (contactid VARCHAR, firstname VARCHAR, lastname VARCHAR, "
            "msdynce_contactnumber VARCHAR, parentcustomerid VARCHAR, "
            "parentcustomerid__accountnumber VARCHAR, "
            f"msdyn_isprospect VARCHAR, {provenance})"
        )
        for row, (rid, first, last, number, parent, parent_number, company) in enumerate(CONTACTS, 1):
            connection.execute(
                "INSERT INTO raw.contact VALUES (?,?,?,?,?,?,'No','contacts.xlsx',?,?)",
                [rid, first, last, number, parent, parent_number, row, company],
            )
        connection.execute(
            "CREATE TABLE raw.product (productid VARCHAR, productnumber VARCHAR, name VARCHAR, "
            "defaultuomid VARCHAR, "
            f"producttypecode VARCHAR, {provenance})"
        )
        for row, (rid, number, name, unit, kind, company) in enumerate(PRODUCTS, 1):
            connection.execute(
                "INSERT INTO raw.product VALUES (?,?,?,?,?,'products.xlsx',?,?)",
                [rid, number, name, unit, kind, row, company],
            )
        connection.execute(
            "CREATE TABLE raw.salesorder (salesorderid VARCHAR, ordernumber VARCHAR, name VARCHAR, "
            "customerid "
            f"VARCHAR, pricelevelid VARCHAR, transactioncurrencyid VARCHAR, {provenance})"
        )
        for row, values in enumerate(ORDERS, 1):
            connection.execute(
                "INSERT INTO raw.salesorder VALUES (?,?,?,?,?,?,'orders.xlsx',?,?)",
                [*values[:-1], row, values[-1]],
            )
        connection.execute(
            "CREATE TABLE raw.salesorderdetail (salesorderdetailid VARCHAR, salesorderid VARCHAR, "
            "salesorderid__ordernumber VARCHAR, sequencenumber VARCHAR, productid__productnumber VARCHAR, "
            f"uomid VARCHAR, quantity VARCHAR, priceperunit VARCHAR, {provenance})"
        )
        for row, line in enumerate(ORDER_LINES, 1):
            connection.execute(
                "INSERT INTO raw.salesorderdetail VALUES (?,?,?,?,?,?,?,?,'lines.xlsx',?,'USMF')",
                [*line, row],
            )
        connection.execute(
            "CREATE TABLE raw.quote (quoteid VARCHAR, quotenumber VARCHAR, revisionnumber VARCHAR, "
            "name VARCHAR, "
            f"customerid VARCHAR, _customerid_value VARCHAR, msdyn_company VARCHAR, {provenance})"
        )
        for row, values in enumerate(QUOTES, 1):
            connection.execute(
                "INSERT INTO raw.quote VALUES (?,?,?,?,?,?,?,'quotes.csv',?,NULL)", [*values, row]
            )
        connection.execute(
            "CREATE TABLE raw.quotedetail (quotedetailid VARCHAR, quoteid VARCHAR, "
            "quoteid__quotenumber VARCHAR, "
            "sequencenumber VARCHAR, productid__productnumber VARCHAR, uomid VARCHAR, quantity VARCHAR, "
            f"msdyn_company VARCHAR, {provenance})"
        )
        for row, values in enumerate(QUOTE_LINES, 1):
            connection.execute(
                "INSERT INTO raw.quotedetail VALUES (?,?,?,?,?,?,?,'USMF','quotedetails.csv',?,NULL)",
                [*values, row],
            )
    finally:
        connection.close()
    return path


def trusting_session(emulator: RunningEmulator) -> requests.Session:
    """A session that trusts the emulator's CA. `trust_env` is off because requests lets an exported
    REQUESTS_CA_BUNDLE override `session.verify`; a client run would export REQUESTS_CA_BUNDLE=<ca file>."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(emulator.ca_cert)
    return session


def msal_token(
    emulator: RunningEmulator, client_id: str | None = None, secret: str | None = None
) -> dict[str, Any]:
    """Run the real msal client-credentials flow against the emulator; returns msal's result dict."""
    import msal

    client_id = client_id or next(iter(emulator.users))
    secret = secret if secret is not None else emulator.users[client_id]
    session = trusting_session(emulator)
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=emulator.authority,
        http_client=session,
        # msal checks unknown hosts with login.microsoftonline.com: a non-Microsoft authority needs this.
        instance_discovery=False,
    )
    result: dict[str, Any] = app.acquire_token_for_client(scopes=[emulator.scope])
    return result


def api_session(emulator: RunningEmulator, client_id: str | None = None) -> requests.Session:
    """A requests session with a bearer token from msal, trusting the emulator's CA."""
    result = msal_token(emulator, client_id)
    if "access_token" not in result:
        raise RuntimeError(f"no token: {result.get('error')}: {result.get('error_description')}")
    session = trusting_session(emulator)
    session.headers.update(
        {
            "Authorization": f"Bearer {result['access_token']}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
        }
    )
    return session
