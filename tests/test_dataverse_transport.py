"""The transport under the client: the helpers (metadata, references, bulk writes) send through it alone,
and its read-only guard refuses every write, whichever of its update shapes is called."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from test_dataverse_support import FAST, STATIC_TOKEN, FakeDataverse, make_client
from test_dataverse_support import fake as fake

from p2c.dataverse import BulkMode, DataverseTerminalError, StaticTokenProvider, UpdateRow
from p2c.dataverse.batch import BatchOperation, batch_content_type, build_batch_body
from p2c.dataverse.bulk import BulkWriter
from p2c.dataverse.metadata import MetadataCache
from p2c.dataverse.options import ClientOptions
from p2c.dataverse.references import ReferenceResolver
from p2c.dataverse.transport import Transport

DATAVERSE = Path(__file__).resolve().parent.parent / "p2c" / "dataverse"
HELPERS = ("bulk.py", "metadata.py", "references.py", "transport.py", "signin.py")


def _transport(fake: FakeDataverse, options: ClientOptions = FAST) -> Transport:
    fake.valid_tokens.add(STATIC_TOKEN)
    return Transport(fake.url, [StaticTokenProvider(STATIC_TOKEN, label="user1")], options)


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


@pytest.mark.parametrize("module", HELPERS)
def test_the_layers_under_the_client_never_import_it(module: str) -> None:
    assert "p2c.dataverse.client" not in _imported_modules(DATAVERSE / module)


def test_metadata_references_and_bulk_writes_need_only_a_transport(fake: FakeDataverse) -> None:
    fake.add_table("account", "accounts", "accountid")
    ids = [fake.add_record("accounts", {"name": f"acc {n}"}) for n in range(3)]
    with_transport = _transport(fake)
    metadata = MetadataCache(with_transport)
    entity = metadata.entity("account")
    assert ReferenceResolver(with_transport).require("accounts", {"name": "acc 1"}, "accountid") == ids[1]
    writer = BulkWriter(with_transport, metadata)
    results = writer.update_many(entity, [UpdateRow(i, {"name": "new"}) for i in ids], BulkMode.AUTO)
    assert [r.ok for r in results] == [True, True, True]
    assert {fake.records["accounts"][i]["name"] for i in ids} == {"new"}


def test_the_client_sends_no_raw_write(fake: FakeDataverse) -> None:
    client = make_client(fake)
    assert not hasattr(client, "send_write") and not hasattr(client.transport, "send_write")


def test_a_read_only_transport_refuses_every_update_shape(fake: FakeDataverse) -> None:
    fake.add_table("account", "accounts", "accountid")
    record_id = fake.add_record("accounts", {"name": "kept"})
    transport = _transport(fake, dataclasses.replace(FAST, read_only=True))
    patch = {"If-Match": "*"}
    batch = build_batch_body([BatchOperation("PATCH", f"accounts({record_id})", patch, {"name": "x"})], "b")
    attempts = [
        lambda: transport.patch(f"accounts({record_id})", {"name": "x"}, headers=patch, what="patch"),
        lambda: transport.update_multiple(
            "accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
            [{"accountid": record_id, "name": "x"}],
            headers={},
            what="UpdateMultiple",
        ),
        lambda: transport.batch(
            batch, headers={"Content-Type": batch_content_type("b")}, what="$batch", records=1
        ),
    ]
    for attempt in attempts:
        with pytest.raises(DataverseTerminalError, match="read-only"):
            attempt()
    assert not [r for r in fake.requests if r.method in ("PATCH", "POST")]
    assert fake.records["accounts"][record_id]["name"] == "kept"
