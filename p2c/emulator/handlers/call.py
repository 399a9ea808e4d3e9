"""What every handler is given: the request (`ApiCall`) and the environment it works on (`Service`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from p2c.emulator.api_errors import payload_error
from p2c.emulator.limits import ServiceProtection
from p2c.emulator.record_query import RecordQuery
from p2c.emulator.record_state import RecordStateRules
from p2c.emulator.records import Context, Records
from p2c.emulator.schema import Schema
from p2c.emulator.store import Store, Txn

T = TypeVar("T")


@dataclass
class Service:
    """The emulated environment: its state, tables, record rules and service protection."""

    store: Store
    schema: Schema
    records: Records
    queries: RecordQuery
    record_state: RecordStateRules
    protection: ServiceProtection

    def write(self, txn: Txn | None, records: int, work: Callable[[Txn], T]) -> T:
        """Run a write in the change set's transaction, or in its own after paying its cost."""
        if txn is not None:
            return work(txn)
        self.protection.charge_records(records)
        with self.store.transaction() as own:
            return work(own)


@dataclass
class ApiCall:
    """One request (top level or inside a `$batch`), its URL split into resource and query options."""

    service: Service
    method: str
    resource: str  # the path after /api/data/v9.2/, percent-decoded, without surrounding slashes
    query: dict[str, str]
    headers: Mapping[str, str]  # lower-case names
    prefer: dict[str, str]
    body: bytes
    ctx: Context
    txn: Txn | None  # the open change-set (or batch group) transaction, if any


def json_body(body: bytes, entity_set: str) -> Any:
    """The request body as a JSON object, or the Web API's 400 naming the entity set."""
    try:
        document = json.loads(body or b"{}")
    except ValueError as error:
        raise payload_error(entity_set, f"The request body is not valid JSON: {error}.") from None
    if not isinstance(document, dict):
        raise payload_error(entity_set, "The request body must be a JSON object.")
    return document
