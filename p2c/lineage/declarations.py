"""The declared lineage of every `dualwrite` column (YAML `meta.lineage`) against the lineage computed
from the SQL.

A refactor that silently changes where a value comes from, or a new column nobody declared, becomes a finding;
the tests in tests/test_lineage_declarations.py fail on any finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from p2c.contract.dataverse import PROVENANCE_PREFIX, TARGET_SCHEMA
from p2c.lineage.column_paths import ColumnTrace, trace_column
from p2c.lineage.graph import VALUE_KINDS, LineageGraph

__all__ = ["TARGET_SCHEMA", "Declaration", "Finding", "check_declarations", "declared"]
# Provenance columns (`_source_file`, ...) are never uploaded to Dataverse: their declaration is optional.


@dataclass(frozen=True)
class Declaration:
    kind: str
    sources: frozenset[str]
    rule: str | None


@dataclass(frozen=True)
class Finding:
    relation: str
    column: str
    problem: str  # undeclared | kind | sources | stale | unresolved | invalid
    detail: str

    def __str__(self) -> str:
        return f"{self.relation}.{self.column}: {self.problem}: {self.detail}"


def column_meta(column: dict[str, Any]) -> dict[str, Any]:
    """dbt >= 1.10 may file column meta under `config.meta`; older YAML under `meta`. Either counts."""
    return {**(column.get("config") or {}).get("meta", {}), **(column.get("meta") or {})}


def declared(graph: LineageGraph, relation: str) -> dict[str, Declaration | str]:
    """{column: Declaration}, or an error text for a declaration that cannot be read."""
    node = graph.relations[relation].node
    found: dict[str, Declaration | str] = {}
    for name, column in (node.get("columns") or {}).items():
        meta = column_meta(column)
        lineage = meta.get("lineage")
        if lineage is None:
            continue
        if not isinstance(lineage, dict) or lineage.get("kind") not in VALUE_KINDS:
            found[name.lower()] = (
                f"meta.lineage.kind must be one of {', '.join(VALUE_KINDS)}; got {lineage!r}"
            )
            continue
        sources = lineage.get("sources") or []
        found[name.lower()] = Declaration(
            kind=lineage["kind"],
            sources=frozenset(str(s).lower() for s in sources),
            rule=meta.get("rule"),
        )
    return found


def target_relations(graph: LineageGraph, schema: str = TARGET_SCHEMA) -> list[str]:
    return sorted(
        name for name, rel in graph.relations.items() if rel.resource_type == "model" and rel.schema == schema
    )


def _fmt(values: set[str] | frozenset[str]) -> str:
    return "[" + ", ".join(sorted(values)) + "]"


def compare(declaration: Declaration, trace: ColumnTrace) -> list[Finding]:
    findings = []
    if trace.unresolved:
        findings.append(
            Finding(trace.relation, trace.column, "unresolved", f"no lineage for {_fmt(trace.unresolved)}")
        )
    if declaration.kind != trace.kind:
        findings.append(
            Finding(
                trace.relation, trace.column, "kind", f"declared {declaration.kind}, computed {trace.kind}"
            )
        )
    if declaration.sources != trace.value_origins:
        findings.append(
            Finding(
                trace.relation,
                trace.column,
                "sources",
                f"declared {_fmt(declaration.sources)}, computed {_fmt(trace.value_origins)}",
            )
        )
    return findings


def check_declarations(graph: LineageGraph, schema: str = TARGET_SCHEMA) -> list[Finding]:
    """Every finding over every column of every model in `schema`; empty when code and YAML agree."""
    findings: list[Finding] = []
    for relation in target_relations(graph, schema):
        if relation in graph.errors:
            findings.append(Finding(relation, "*", "unresolved", graph.errors[relation]))
            continue
        declarations = declared(graph, relation)
        columns = graph.columns.get(relation, [])
        for column in columns:
            declaration = declarations.get(column)
            if declaration is None:
                if not column.startswith(PROVENANCE_PREFIX):
                    findings.append(
                        Finding(relation, column, "undeclared", "no meta.lineage in the model's YAML")
                    )
                continue
            if isinstance(declaration, str):
                findings.append(Finding(relation, column, "invalid", declaration))
                continue
            findings.extend(compare(declaration, trace_column(graph, relation, column)))
        for stale in sorted(set(declarations) - set(columns)):
            findings.append(Finding(relation, stale, "stale", "declared in YAML but not produced by the SQL"))
    return findings


def suggested_declaration(graph: LineageGraph, relation: str, column: str) -> str:
    """The computed lineage of one column as the YAML `meta.lineage` block (to review, then paste)."""
    trace = trace_column(graph, relation, column)
    sources = ", ".join(sorted(trace.value_origins))
    return f"- name: {column}\n  meta:\n    lineage:\n      kind: {trace.kind}\n      sources: [{sources}]\n"
