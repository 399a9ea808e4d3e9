"""The columns of every relation, as sqlglot needs them to expand `select *` and qualify columns.

catalog.json (from `dbt docs generate`) is the warehouse's truth; a relation it lacks (never built, or no
catalog at all) gets its columns from the manifest: a source's YAML columns, a seed's CSV header, a model's
compiled SQL qualified against its parents. So lineage also works after a bare `dbt compile`."""

from __future__ import annotations

import csv
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from p2c.contract.artifacts import Artifacts, Relation

DIALECT = "duckdb"
SchemaDict = dict[str, dict[str, dict[str, dict[str, str]]]]


def _seed_columns(node: dict[str, Any]) -> list[str]:
    path = Path(node.get("root_path", ".")) / node["original_file_path"]
    if not path.is_file():
        return [str(c).lower() for c in node.get("columns", {})]
    with path.open(encoding="utf-8", newline="") as handle:
        return [h.strip().lower() for h in next(csv.reader(handle), [])]


def derive_model_columns(compiled_sql: str, schema: SchemaDict) -> list[str]:
    """Output columns of a compiled model: qualify expands every `*` from the parents' columns."""
    tree = qualify(
        sqlglot.parse_one(compiled_sql, dialect=DIALECT),
        dialect=DIALECT,
        schema=dict(schema),
        validate_qualify_columns=False,
    )
    assert isinstance(tree, exp.Query)
    return [name.lower() for name in tree.named_selects]


def _put(schema: SchemaDict, relation: Relation, columns: list[str]) -> None:
    database = str(relation.node.get("database") or "").lower()
    tables = schema.setdefault(database, {}).setdefault(relation.schema, {})
    tables[relation.identifier] = dict.fromkeys(columns, "VARCHAR")


def build_schema(artifacts: Artifacts) -> tuple[SchemaDict, dict[str, list[str]]]:
    """(sqlglot schema, columns by relation name). Models are derived in DAG order so parents come first."""
    schema: SchemaDict = {}
    columns_by_relation: dict[str, list[str]] = {}
    relations = artifacts.relations()
    by_id = {r.unique_id: r for r in relations.values()}
    order = TopologicalSorter(
        {
            r.unique_id: [p for p in r.node.get("depends_on", {}).get("nodes", []) if p in by_id]
            for r in by_id.values()
        }
    ).static_order()
    for unique_id in order:
        relation = by_id[unique_id]
        columns = artifacts.catalog_columns(unique_id)
        if columns is None:
            if relation.resource_type == "seed":
                columns = _seed_columns(relation.node)
            elif relation.resource_type == "model" and relation.node.get("compiled_code"):
                try:
                    columns = derive_model_columns(relation.node["compiled_code"], schema)
                except sqlglot.errors.SqlglotError:
                    # the model itself is reported by the lineage; its children fall back to its YAML columns
                    columns = [str(c).lower() for c in relation.node.get("columns", {})]
            else:
                columns = [str(c).lower() for c in relation.node.get("columns", {})]
        columns_by_relation[relation.name] = columns
        if columns:  # sqlglot rejects a table without columns; an unknown one just stays unexpanded
            _put(schema, relation, columns)
    return schema, columns_by_relation
