"""The model contract the uploader reads: the `meta.dataverse` block of every `models/marts/dualwrite/*.yml`.

One typed reading of it for everyone (build summary, lineage, row provenance, uploader): the entity set, the
columns that identify a row, the record id column, and per lookup column the navigation property, target and
target key. `contract_problems` says what makes a contract incomplete; a test runs it on every model.

Block shape (YAML, under the model's `config.meta.dataverse`):

    entity_set: accounts
    alternate_key: [accountnumber, msdyn_company]      # the business key of a row, in this order
    alternate_key_confidence: CONFIRMED
    record_id_column: _source_record_id                # optional; this is the default
    initialize: [msdyn_company, customertypecode, ...] # the columns initialization writes, nothing else
    text_columns: {msdyn_contactpersonid: why}         # optional: columns named like lookups that are not
    lookups:
      msdyn_company: {navigation_property: msdyn_company, target_entity_set: cdm_companies,
                      target_key: [cdm_companycode], confidence: UNCONFIRMED, note: ...}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loaders.vocabulary import initialized_entities
from p2c.contract.artifacts import Artifacts, Relation
from p2c.errors import ContractError

TARGET_SCHEMA = "dualwrite"
COMPANY_COLUMN = "msdyn_company"
DEFAULT_RECORD_ID_COLUMN = "_source_record_id"
# Provenance columns start with an underscore: they are never written to Dataverse.
PROVENANCE_PREFIX = "_"
# Dataverse names lookup attributes `...id`; a polymorphic customer lookup is split per target table.
_LOOKUP_NAME = re.compile(r".+id(_account|_contact)?$")


class Confidence(StrEnum):
    """How sure the reference material is of a fact (the labels of the dual-write target schema notes)."""

    CONFIRMED = "CONFIRMED"  # a primary source (Microsoft docs, a shipped solution or map) says it
    STRONG = "STRONG"  # two secondary sources agree, or it follows directly from a primary source
    UNCONFIRMED = "UNCONFIRMED"  # inference: a documented, overridable default


@dataclass(frozen=True)
class Lookup:
    column: str
    navigation_property: str
    target_entity_set: str
    target_key: tuple[str, ...]
    confidence: Confidence
    note: str = ""

    @property
    def attribute(self) -> str:
        """The Dataverse lookup attribute the column writes: the model splits a polymorphic customer lookup
        per target table (`customerid_account`, `customerid_contact`), and both write `customerid`."""
        split = _LOOKUP_NAME.match(self.column)
        return self.column.removesuffix(split.group(1)) if split and split.group(1) else self.column


@dataclass(frozen=True)
class TableContract:
    """What the uploader needs to know about one dualwrite table."""

    table: str  # the Dataverse table's logical name, which is also the model name
    relation: Relation
    entity_set: str
    alternate_key: tuple[str, ...]
    alternate_key_confidence: Confidence
    record_id_column: str
    lookups: dict[str, Lookup]
    text_columns: dict[str, str]
    columns: tuple[str, ...]  # every column of the model, in YAML (= table) order
    initialize: tuple[str, ...] = ()  # the columns the procedure initializes: all that is ever written

    @property
    def business_key(self) -> tuple[str, ...]:
        """The key columns a person names a row by, company apart: (accountnumber), (salesorderid,
        sequencenumber). `p2c lineage trace` takes one value per column."""
        return tuple(column for column in self.alternate_key if column != COMPANY_COLUMN)

    @property
    def written_columns(self) -> tuple[str, ...]:
        """Every column that may reach Dataverse (provenance never does); `initialize` is what is written."""
        return tuple(c for c in self.columns if not c.startswith(PROVENANCE_PREFIX))


def _text(block: dict[str, Any], key: str, where: str) -> str:
    value = block.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ContractError(f"{where}: meta.dataverse.{key} must be a non-empty text, got {value!r}")
    return value.strip()


def _names(block: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = block.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ContractError(f"{where}: meta.dataverse.{key} must be a non-empty list of column names")
    return tuple(v.lower() for v in value)


def _confidence(block: dict[str, Any], key: str, where: str) -> Confidence:
    value = block.get(key)
    try:
        return Confidence(str(value))
    except ValueError:
        allowed = ", ".join(c.value for c in Confidence)
        raise ContractError(f"{where}: {key} must be one of {allowed}, got {value!r}") from None


def _lookup(column: str, block: Any, where: str) -> Lookup:
    where = f"{where} lookup {column}"
    if not isinstance(block, dict):
        raise ContractError(f"{where}: expected a mapping, got {block!r}")
    return Lookup(
        column=column.lower(),
        navigation_property=_text(block, "navigation_property", where),
        target_entity_set=_text(block, "target_entity_set", where),
        target_key=_names(block, "target_key", where),
        confidence=_confidence(block, "confidence", where),
        note=str(block.get("note") or ""),
    )


def table_contract(relation: Relation) -> TableContract:
    """Read one model's contract; a malformed block is a ContractError naming the model and the key."""
    where = f"model {relation.model_name}"
    block = relation.meta.get("dataverse")
    if not isinstance(block, dict):
        raise ContractError(f"{where}: no meta.dataverse block")
    lookups = block.get("lookups") or {}
    if not isinstance(lookups, dict):
        raise ContractError(f"{where}: meta.dataverse.lookups must be a mapping of column -> lookup")
    return TableContract(
        table=relation.model_name,
        relation=relation,
        entity_set=_text(block, "entity_set", where),
        alternate_key=_names(block, "alternate_key", where),
        alternate_key_confidence=_confidence(block, "alternate_key_confidence", where),
        record_id_column=str(block.get("record_id_column") or DEFAULT_RECORD_ID_COLUMN).lower(),
        lookups={str(c).lower(): _lookup(str(c), b, where) for c, b in lookups.items()},
        text_columns={str(c).lower(): str(why) for c, why in (block.get("text_columns") or {}).items()},
        columns=tuple(relation.yaml_columns()),
        initialize=_names(block, "initialize", where) if "initialize" in block else (),
    )


def read_contracts(artifacts: Artifacts) -> dict[str, TableContract]:
    """The contract of every dualwrite model, in the upload's dependency order."""
    models = {
        relation.model_name: relation
        for relation in artifacts.models().values()
        if relation.schema == TARGET_SCHEMA
    }
    ordered = [name for name in initialized_entities() if name in models]
    ordered += sorted(set(models) - set(ordered))
    return {name: table_contract(models[name]) for name in ordered}


def contract_problems(contract: TableContract) -> list[str]:
    """Why the contract cannot drive an upload; empty when it is complete."""
    problems: list[str] = []
    columns = set(contract.columns)
    for key_column in contract.alternate_key:
        if key_column not in columns:
            problems.append(f"key column {key_column} is not a column of the model")
    if contract.record_id_column not in columns:
        problems.append(f"record id column {contract.record_id_column} is not a column of the model")
    for column in contract.lookups:
        if column not in columns:
            problems.append(f"lookup {column} is not a column of the model")
    if not contract.initialize:
        problems.append("meta.dataverse.initialize names no column: the upload would write nothing")
    for column in contract.initialize:
        if column not in columns or column.startswith(PROVENANCE_PREFIX):
            problems.append(f"initialized column {column} is not a written column of the model")
    for column in contract.text_columns:
        if column in contract.lookups:
            problems.append(f"{column} is declared both a lookup and a text column")
    for column in contract.written_columns:
        named_like_lookup = _LOOKUP_NAME.fullmatch(column) is not None
        if named_like_lookup and column not in contract.lookups and column not in contract.text_columns:
            problems.append(
                f"column {column} is named like a lookup but has no lookups entry "
                "(declare it under lookups, or under text_columns with the reason)"
            )
    return [f"{contract.table}: {problem}" for problem in problems]
