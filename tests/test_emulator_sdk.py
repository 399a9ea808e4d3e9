"""Microsoft's Python SDK (PowerPlatform-Dataverse-Client) runs its documented record and table operations
against the emulator with nothing pre-filled: every metadata read it makes is answered by the emulator.

ref: dataverse-web-api.md §8.1 (the SDK's API surface: records.create/retrieve/update/delete, create and
update of a list through CreateMultiple/UpdateMultiple, query.builder(), client.tables) and the SDK's
README (PyPI 1.1.0, "Create, read, update, delete", "Query records", "Work in bulk")."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from emulator_fixtures import build_tiny_duckdb, msal_token
from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError
from PowerPlatform.Dataverse.models import col

from p2c.emulator import RunningEmulator, running_emulator

ACCOUNT = "1b514ffd-bfec-4c6b-874c-403e17a7bd54"


class EmulatorCredential:
    """An azure-core TokenCredential: the emulator's msal token for its first application user."""

    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        result = msal_token(self.emulator)
        return AccessToken(result["access_token"], int(time.time()) + int(result.get("expires_in", 3600)))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    folder = tmp_path_factory.mktemp("emulator_sdk")
    db = build_tiny_duckdb(folder / "tiny.duckdb")
    with running_emulator(folder / "state.sqlite", seed_from=db) as running:
        yield running


@pytest.fixture
def client(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataverseClient]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_cert))  # the SDK's requests trust the CA
    with DataverseClient(emulator.base_url, EmulatorCredential(emulator)) as sdk:  # a fresh client
        yield sdk


def test_the_sdk_creates_reads_updates_and_deletes_a_record(client: DataverseClient) -> None:
    account_id = client.records.create("account", {"name": "Contoso Ltd", "customertypecode": 3})
    account = client.records.retrieve("account", account_id, select=["name"])
    assert account is not None and account["name"] == "Contoso Ltd"
    client.records.update("account", account_id, {"telephone1": "555-0199"})
    assert client.records.retrieve("account", account_id, select=["telephone1"])["telephone1"] == "555-0199"
    client.records.delete("account", account_id)
    assert client.records.retrieve("account", account_id, select=["name"]) is None


def test_the_sdk_writes_in_bulk(client: DataverseClient) -> None:
    ids = client.records.create("account", [{"name": "Company A"}, {"name": "Company B"}])
    assert len(ids) == 2
    client.records.update("account", ids, {"telephone1": "555-0100"})
    for record_id in ids:
        assert (
            client.records.retrieve("account", record_id, select=["telephone1"])["telephone1"] == "555-0100"
        )
    client.records.delete("account", ids, use_bulk_delete=False)
    assert all(client.records.retrieve("account", i, select=["name"]) is None for i in ids)


def test_the_sdk_queries_with_its_builder(client: DataverseClient) -> None:
    results = (
        client.query.builder("account")
        .select("name", "creditlimit")
        .where(col("name") == "Fourth Coffee")
        .order_by("name", descending=True)
        .top(100)
        .execute()
    )
    assert [r["name"] for r in results] == ["Fourth Coffee"]
    # a uuid.UUID is written bare; a GUID given as text is quoted, which Dataverse refuses for a GUID column
    by_id = client.query.builder("account").select("name").where(col("accountid") == uuid.UUID(ACCOUNT))
    assert [r["name"] for r in by_id.execute()] == ["Fourth Coffee"]
    with pytest.raises(HttpError) as quoted:
        client.query.builder("account").select("name").where(col("accountid") == ACCOUNT).execute()
    assert quoted.value.status_code == 400


def test_the_sdk_reads_table_metadata(client: DataverseClient) -> None:
    table = client.tables.get("account")
    assert table is not None and table.entity_set_name == "accounts"
    assert "contact" in {t["LogicalName"] for t in client.tables.list()}
    assert "accountnumber" in {c["LogicalName"] for c in client.tables.list_columns("account")}
    keys = client.tables.get_alternate_keys("account")
    assert ["accountnumber", "msdyn_company"] in [k.key_attributes for k in keys]


def test_sql_the_emulator_does_not_serve_is_refused_not_ignored(client: DataverseClient) -> None:
    """The service answers `?sql=`; the emulator does not, and says so rather than answering every row."""
    with pytest.raises(HttpError) as refused:
        client.query.sql("SELECT name FROM account")
    assert refused.value.status_code == 400
    assert "sql" in str(refused.value)
