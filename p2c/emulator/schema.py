"""The emulator's tables, read from the committed `schema.json` (generated from the reference by the
build-time tool `tools/emulator_schema_gen.py`, which is not part of this package).

Typed views over the JSON: a `Table` knows its columns, lookups with their case-sensitive navigation
properties, and alternate keys. Nothing here is learned from the project's dbt models."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.json"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # string memo integer decimal money boolean datetime dateonly choice
    max_length: int | None
    options: frozenset[int]
    read_only: bool  # IsValidForCreate and IsValidForUpdate both False (e.g. calculated totals)
    updatable: bool  # IsValidForUpdate
    minimum: float | str | None = None  # a number, or the earliest date (ISO) of a date column
    maximum: float | None = None
    option_labels: tuple[tuple[int, str], ...] = ()
    # a statuscode: (status reason, its statecode), each state's default status first (schema_gen)
    state_of_status: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Navigation:
    """A single-valued navigation property: `<name>@odata.bind` sets `attribute` to a `target` row."""

    name: str
    attribute: str
    target: str


@dataclass(frozen=True)
class Key:
    name: str
    attributes: tuple[str, ...]


@dataclass
class Table:
    logical_name: str
    entity_set: str
    primary_key: str
    primary_name: str
    bulk_messages: frozenset[str]
    columns: dict[str, Column]
    lookups: dict[str, dict[str, str]]  # lookup attribute -> {target table: navigation name}
    keys: list[Key]
    navigations: dict[str, Navigation] = field(default_factory=dict)
    fixed_lookups: frozenset[str] = frozenset()  # lookups not valid for update

    def is_lookup(self, name: str) -> bool:
        return name in self.lookups


@dataclass
class Schema:
    tables: dict[str, Table]
    by_set: dict[str, Table]
    options: dict[str, bool]

    def table(self, logical_name: str) -> Table:
        return self.tables[logical_name]


def _parse(document: dict[str, Any]) -> Schema:
    tables: dict[str, Table] = {}
    for name, raw in document["tables"].items():
        columns = {
            column_name: Column(
                name=column_name,
                type=spec["type"],
                max_length=spec.get("max_length"),
                options=frozenset(int(v) for v in spec.get("options", {})),
                read_only=not spec.get("valid_for_create", True),
                updatable=bool(spec.get("valid_for_update", True)),
                minimum=spec.get("minimum"),
                maximum=spec.get("maximum"),
                option_labels=tuple((int(v), str(label)) for v, label in spec.get("options", {}).items()),
                state_of_status=tuple(
                    (int(status), int(state)) for status, state in spec.get("state_of_status", {}).items()
                ),
            )
            for column_name, spec in raw["columns"].items()
        }
        lookups = {lookup: dict(spec["targets"]) for lookup, spec in raw["lookups"].items()}
        table = Table(
            logical_name=name,
            entity_set=raw["entity_set"],
            primary_key=raw["primary_key"],
            primary_name=raw["primary_name"],
            bulk_messages=frozenset(raw["bulk_messages"]),
            columns=columns,
            lookups=lookups,
            keys=[Key(k["name"], tuple(k["attributes"])) for k in raw["keys"]],
            fixed_lookups=frozenset(
                name for name, spec in raw["lookups"].items() if not spec.get("valid_for_update", True)
            ),
        )
        for attribute, targets in lookups.items():
            for target, navigation in targets.items():
                table.navigations[navigation] = Navigation(navigation, attribute, target)
        tables[name] = table
    options = {name: bool(spec["default"]) for name, spec in document.get("options", {}).items()}
    return Schema(tables=tables, by_set={t.entity_set: t for t in tables.values()}, options=options)


@lru_cache(maxsize=1)
def load_schema(path: Path = SCHEMA_FILE) -> Schema:
    return _parse(json.loads(path.read_text(encoding="utf-8")))
