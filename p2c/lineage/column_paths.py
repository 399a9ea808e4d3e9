"""Follow a column's edges back through every model to where its value starts: raw export columns, seeds,
dbt vars, literals. Join keys are followed too but kept apart: they find a row, they are not the value.

Summary kind of a column (what a declaration states):
  constant       no origin but literals (computed without any input, e.g. `current_date`: transformation)
  configuration  no raw origin, only dbt vars and/or seeds
  lookup         a raw value reached through a join from another table (the value belongs to another record)
  transformation any step computes (CASE, COALESCE, CAST, functions), or decodes a raw value through a seed
  rename         raw value copied unchanged under another name
  pass-through   raw value copied unchanged under the same name
A seed joined on a raw value decodes it (a label -> an option value): the raw join key is a value origin."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from p2c.lineage.graph import (
    CONFIGURATION,
    CONSTANT,
    JOIN,
    LOOKUP,
    PASS_THROUGH,
    RENAME,
    TRANSFORMATION,
    VAR_RELATION,
    Edge,
    LineageGraph,
)


@dataclass
class ColumnTrace:
    relation: str
    column: str
    edges: list[Edge] = field(default_factory=list)  # every edge walked, value and join, target first
    value_origins: set[str] = field(default_factory=set)  # raw.<table>.<column>
    config_origins: set[str] = field(default_factory=set)  # <seed schema>.<seed>.<column>, var.<name>
    join_keys: set[str] = field(default_factory=set)  # raw columns used only to find rows
    hop_kinds: set[str] = field(default_factory=set)
    renamed: bool = False
    unresolved: set[str] = field(default_factory=set)  # relations without lineage (errors)
    value_edges: set[Edge] = field(default_factory=set)  # edges on a path of the value (the rest find rows)

    @property
    def kind(self) -> str:
        if not self.value_origins:
            if self.config_origins:
                return CONFIGURATION
            return TRANSFORMATION if TRANSFORMATION in self.hop_kinds else CONSTANT
        if LOOKUP in self.hop_kinds:
            return LOOKUP
        if self.hop_kinds & {TRANSFORMATION, CONFIGURATION, CONSTANT}:
            return TRANSFORMATION
        return RENAME if self.renamed else PASS_THROUGH

    @property
    def target(self) -> str:
        return f"{self.relation}.{self.column}"


def _configuration_only(graph: LineageGraph, relation: str, column: str) -> bool:
    """True when a column's value starts only in seeds, vars or literals (no raw export column)."""
    if relation == VAR_RELATION:
        return True
    node = graph.relations.get(relation)
    if node is None or node.resource_type != "model":
        return node is not None and node.resource_type == "seed"
    cache: dict[tuple[str, str], bool] = graph.__dict__.setdefault("_config_only", {})
    if (relation, column) not in cache:
        cache[(relation, column)] = not trace_column(graph, relation, column).value_origins
    return cache[(relation, column)]


def _decoded(graph: LineageGraph, edges: list[Edge]) -> list[Edge]:
    """A value looked up in configuration (a seed, or a model over seeds) by a raw key decodes that key:
    the join edges become the value's inputs (transformation); the lookup itself stays configuration."""
    joins = [e for e in edges if e.kind == JOIN]
    values = [e for e in edges if e.kind != JOIN and e.source_relation]
    if not joins or not values:
        return edges
    if not all(_configuration_only(graph, e.source_relation, e.source_column) for e in values):
        return edges
    decoded = []
    for edge in edges:
        if edge.kind == JOIN and not _configuration_only(graph, edge.source_relation, edge.source_column):
            edge = replace(edge, kind=TRANSFORMATION)  # the raw key being decoded
        elif edge in values:
            edge = replace(edge, kind=CONFIGURATION)
        decoded.append(edge)
    return decoded


def trace_column(graph: LineageGraph, relation: str, column: str) -> ColumnTrace:
    trace = ColumnTrace(relation=relation, column=column)
    seen: set[tuple[str, str, bool, frozenset[str]]] = set()
    walked: dict[Edge, None] = {}

    def walk(rel: str, col: str, as_key: bool, kinds: frozenset[str], first_name: str) -> None:
        if (rel, col, as_key, kinds) in seen:
            return
        seen.add((rel, col, as_key, kinds))
        node = graph.relations.get(rel)
        if node is None or node.resource_type != "model":
            record_origin(rel, col, as_key, kinds, first_name)
            return
        if rel in graph.errors:
            trace.unresolved.add(rel)
            return
        for edge in _decoded(graph, graph.edges_into(rel, col)):
            walked.setdefault(edge)
            if not as_key and edge.kind != JOIN:
                trace.value_edges.add(edge)
            if not edge.source_relation:
                if not as_key:
                    trace.hop_kinds |= kinds | {edge.kind}
                continue
            key = as_key or edge.kind == JOIN
            walk(edge.source_relation, edge.source_column, key, kinds | {edge.kind}, first_name)

    def record_origin(rel: str, col: str, as_key: bool, kinds: frozenset[str], first_name: str) -> None:
        node = graph.relations.get(rel)
        name = f"{rel}.{col}"
        if rel == VAR_RELATION or (node is not None and node.resource_type == "seed"):
            if not as_key:
                trace.config_origins.add(name)
            return
        if as_key:
            trace.join_keys.add(name)
            return
        trace.value_origins.add(name)
        trace.hop_kinds |= kinds
        if col != first_name:
            trace.renamed = True

    walk(relation, column, False, frozenset(), column)
    trace.edges = list(walked)
    trace.join_keys -= trace.value_origins
    return trace
