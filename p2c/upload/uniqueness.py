"""Values that must stay unique once a record is initialized, checked against Dataverse before a write.

Two kinds of unique values, both read as the environment defines them:
* the table's alternate keys (`EntityDefinitions(...)/Keys`; the model contract's `alternate_key` is the
  documented default when the environment lists none or its keys cannot be read). An update that gives a
  record the key values of another record fails in Dataverse with 0x80060892 ("A record that has the
  attribute values ... already exists"); found here first, it is a conflict of the plan that names the
  other record, and the write is not attempted.
* the party number: one party has at most one account per company and relationship type, and one contact
  person per company (the GAB keys `msdyn_partyidkey` and `msdyn_partykey` on the party lookup,
  `initialization-identity.md` §4). Initialization links records to their party by `msdyn_partynumber`, so a
  number another record of the same company (and relationship type) already carries is "already used".

Only what an update changes is checked: values that stay as they are cannot newly collide. Rows of the same
chunk that would collide with each other are the dbt tests' business (uniqueness per company), not this."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from p2c.contract.dataverse import COMPANY_COLUMN, TableContract
from p2c.dataverse import DataverseClient, DataverseError
from p2c.dataverse.errors import DataverseTerminalError
from p2c.dataverse.odata import equals_filter
from p2c.upload.codes import KEY_CONFLICT, PARTY_NUMBER, PARTY_NUMBER_USED, PARTY_SCOPES

# A GET URL holds at most 32,768 characters (dataverse-web-api.md, `$batch`): the `or` of the rows' terms
# fills up to this many of them, encoded, leaving room for the address, `$select` and paging. Every query
# costs one request of the service-protection budget, whatever its length: few long queries, not many short.
MOST_FILTER_CHARACTERS = 24_000
# about the rows one query holds (a chunk is checked in parts of this many on threads of their own)
ROWS_PER_QUERY = 200


@dataclass(frozen=True)
class UniqueRule:
    """One set of columns whose values no two records of the table may share."""

    name: str  # the key's logical name, or "party number"
    attributes: tuple[str, ...]  # as the Web API reads them: `_msdyn_company_value` for a lookup
    code: str
    source: str  # "environment", "model contract" or the rule's document

    def describe(self, values: Sequence[Any]) -> str:
        pairs = ", ".join(f"{a} = {v}" for a, v in zip(self.attributes, values, strict=True))
        return f"{self.name} ({pairs})"


@dataclass(frozen=True)
class Collision:
    rule: UniqueRule
    values: tuple[Any, ...]
    other_id: str


LOOKUP_TYPES = {"Lookup", "Customer", "Owner"}  # AttributeType of the columns read as `_<name>_value`


def read_name(attribute: str, lookups: set[str]) -> str:
    return f"_{attribute}_value" if attribute in lookups else attribute


def unique_rules(client: DataverseClient, contract: TableContract) -> tuple[list[UniqueRule], list[str]]:
    """The table's rules, and notes for the run summary (where the environment and the contract differ)."""
    notes: list[str] = []
    table = contract.table
    # lookup columns are read as `_<name>_value`: the environment's, and the contract's (its default)
    lookups = {COMPANY_COLUMN, *contract.lookups}
    lookups |= {lookup.attribute for lookup in contract.lookups.values()}
    # without the environment's, the contract's lookups stand in (the binding says so in the notes)
    with contextlib.suppress(DataverseError):
        lookups |= {r.referencing_attribute for r in client.metadata.lookups(table)}
    columns: dict[str, str] = {}  # the environment's columns and their types, where it lists them
    with contextlib.suppress(DataverseError):
        columns = client.metadata.attributes(table)
    lookups |= {name for name, kind in columns.items() if kind in LOOKUP_TYPES}
    try:
        keys = [(k.logical_name or k.schema_name, k.key_attributes) for k in client.metadata.keys(table)]
    except DataverseError as error:
        keys = []
        notes.append(f"{table}: the environment's alternate keys could not be read ({error}): the model "
                     "contract's key is checked")  # fmt: skip
    contract_key = tuple(contract.alternate_key)
    if keys and contract_key and set(contract_key) not in [set(attributes) for _, attributes in keys]:
        listed = "; ".join(f"{name} ({', '.join(attributes)})" for name, attributes in keys)
        notes.append(
            f"{table}: the model contract's alternate key ({', '.join(contract_key)}) is not a key of this "
            f"environment, whose keys are {listed}: the environment's keys are checked"
        )
    if not keys and contract_key:
        keys = [("alternate key of the model contract", contract_key)]
        source = "model contract"
    else:
        source = "environment"
    rules = []
    # a column the models do not make is read as the environment lists it (the GAB keys'
    # `msdyn_contacthasnocompany`): the update does not write it, so its current value is what counts;
    # a column neither the model nor the environment's metadata knows would fail the whole chunk's read
    known = lookups | set(contract.columns) | set(columns)
    for name, attributes in keys:
        unknown = [a for a in attributes if a not in known]
        if unknown:
            notes.append(f"{table}: key {name} is not checked: {', '.join(unknown)} is neither a column of "
                         "the model nor of the environment's metadata")  # fmt: skip
            continue
        rules.append(UniqueRule(name, tuple(read_name(a, lookups) for a in attributes), KEY_CONFLICT, source))
    scope = PARTY_SCOPES.get(table)
    if scope is not None and PARTY_NUMBER in contract.initialize:
        attributes = tuple(read_name(a, lookups) for a in (PARTY_NUMBER, *scope))
        source = "initialization-identity.md §4"
        rules.append(UniqueRule("party number", attributes, PARTY_NUMBER_USED, source))
    return rules, notes


def _normal(value: Any) -> Any:
    text = str(value)
    if len(text) == 36 and text.count("-") == 4:
        return text.lower()
    return value


def _literal(attribute: str, value: Any) -> Any:
    # a lookup's value is a GUID, written bare in a filter
    if attribute.startswith("_") and attribute.endswith("_value"):
        return uuid.UUID(str(value))
    return value


def find_collisions(
    client: DataverseClient,
    entity_set: str,
    id_column: str,
    rules: Sequence[UniqueRule],
    rows: Sequence[tuple[str, dict[str, Any], set[str]]],
    notes: list[str],
) -> dict[str, Collision]:
    """`rows`: (record id, the record's values after the update, the attributes the update changes).

    The first collision per record id, for the rules whose values the update changes. A rule the service
    refuses to query (a column it cannot filter on) is noted once and not checked; running out of retries
    (the service is down) stops the run as any read would."""
    found: dict[str, Collision] = {}
    for rule in rules:
        try:
            _check(client, entity_set, id_column, rule, rows, found)
        except DataverseTerminalError as error:
            note = f"{entity_set}: {rule.name} could not be checked ({error})"
            if note not in notes:
                notes.append(note)
    return found


def _check(
    client: DataverseClient,
    entity_set: str,
    id_column: str,
    rule: UniqueRule,
    rows: Sequence[tuple[str, dict[str, Any], set[str]]],
    found: dict[str, Collision],
) -> None:
    wanted: dict[tuple[Any, ...], list[str]] = {}
    for record_id, after, changed in rows:
        if record_id in found or not changed & set(rule.attributes):
            continue
        values = tuple(after.get(a) for a in rule.attributes)
        if any(v is None or v == "" for v in values):
            continue  # a key with an empty part is not enforced (nor is a party number not given)
        wanted.setdefault(tuple(_normal(v) for v in values), []).append(record_id)
    terms = [
        "(" + equals_filter({a: _literal(a, v) for a, v in zip(rule.attributes, key, strict=True)}) + ")"
        for key in wanted
    ]
    select = [id_column, *rule.attributes]
    for filter_text in _filters(terms):
        for other in client.query(entity_set, filter=filter_text, select=select):
            key = tuple(_normal(other.get(a)) for a in rule.attributes)
            other_id = str(other.get(id_column, "")).lower()
            for record_id in wanted.get(key, []):
                if record_id != other_id and record_id not in found:
                    found[record_id] = Collision(rule, key, other_id)


def _filters(terms: Sequence[str]) -> Iterator[str]:
    """`term or term or ...` filters, each as long as MOST_FILTER_CHARACTERS allows once percent-encoded."""
    part: list[str] = []
    length = 0
    for term in terms:
        size = len(quote(term)) + len("%20or%20")
        if part and length + size > MOST_FILTER_CHARACTERS:
            yield " or ".join(part)
            part, length = [], 0
        part.append(term)
        length += size
    if part:
        yield " or ".join(part)
