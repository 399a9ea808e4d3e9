"""Column lineage edges computed from the compiled SQL of every model with sqlglot (dialect duckdb).

One edge links a model's output column to a column of one of its parent relations (or to a literal or a
dbt var), with the SQL of every step inside the model and a kind. Edges of all models chain into paths
(see `paths`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.lineage import Node, lineage, to_node
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope
from sqlglot.schema import Schema, ensure_schema

from p2c.contract.artifacts import Artifacts, Relation
from p2c.lineage.jinja_vars import var_aliases
from p2c.lineage.schema import DIALECT, SchemaDict, build_schema

PASS_THROUGH = "pass-through"
RENAME = "rename"
TRANSFORMATION = "transformation"
CONSTANT = "constant"
CONFIGURATION = "configuration"
LOOKUP = "lookup"
JOIN = "join"
VALUE_KINDS = (PASS_THROUGH, RENAME, TRANSFORMATION, CONSTANT, CONFIGURATION, LOOKUP)
VAR_RELATION = "var"
STEP_SEPARATOR = "  <-  "
CACHE_FILE = "p2c_lineage.json"  # beside the build's manifest.json (see `cached_lineage`)


@dataclass(frozen=True)
class Edge:
    """target <- source inside one model. source_relation '' is a literal, 'var' a dbt var (its name)."""

    target_relation: str
    target_column: str
    source_relation: str
    source_column: str
    kind: str
    expression: str
    model: str

    @property
    def target(self) -> str:
        return f"{self.target_relation}.{self.target_column}"

    @property
    def source(self) -> str:
        if not self.source_relation:
            return "(literal)" if self.kind == CONSTANT else "(computed, no input column)"
        return f"{self.source_relation}.{self.source_column}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self) | {"target": self.target, "source": self.source}


@dataclass
class LineageGraph:
    relations: dict[str, Relation]
    columns: dict[str, list[str]]
    edges: list[Edge] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # model relation -> why its SQL could not be traced

    def edges_into(self, relation: str, column: str) -> list[Edge]:
        index = self.__dict__.setdefault("_index", {})
        if not index:
            for edge in self.edges:
                index.setdefault((edge.target_relation, edge.target_column), []).append(edge)
        found: list[Edge] = index.get((relation, column), [])
        return found


_TEXT_TYPES = {
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.CHAR,
    exp.DataType.Type.NCHAR,
}


def _uncleaned(expression: exp.Expr) -> exp.Expr:
    """Peel off cleaning that keeps a copy a copy: trimming whitespace, blank text to NULL (`NULLIF(x, '')`),
    casting to text, parentheses. What remains decides between a copy and a transformation."""
    while True:
        if (
            isinstance(expression, exp.Alias | exp.Paren)
            or (isinstance(expression, exp.Trim) and not expression.args.get("expression"))
            or (
                isinstance(expression, exp.Nullif)
                and isinstance(expression.expression, exp.Literal)
                and (expression.expression.is_string and expression.expression.this.strip() == "")
            )
            or (isinstance(expression, exp.Cast) and expression.to.this in _TEXT_TYPES)
        ):
            expression = expression.this
        else:
            return expression


def _is_reference(expression: exp.Expr) -> bool:
    return isinstance(_uncleaned(expression), exp.Column)


def _is_literal_or_reference(expression: exp.Expr) -> bool:
    inner = _uncleaned(expression)
    while isinstance(inner, exp.Cast):
        inner = inner.this
    return isinstance(inner, exp.Column | exp.Literal | exp.Null | exp.Boolean)


def _is_trivial(node: Node) -> bool:
    """`x.col AS col`: an import CTE or a plain re-select adds nothing an auditor needs to read."""
    expression = node.expression
    if not isinstance(expression, exp.Alias) or not isinstance(expression.this, exp.Column):
        return False
    return expression.this.name == expression.alias


def _column_of(node: Node) -> str:
    return node.name.split(".")[-1].lower()


def _table_alias(node: Node) -> str:
    return node.name.split(".")[0] if "." in node.name else ""


def _join_for(select: exp.Expr, alias: str) -> exp.Join | None:
    """The JOIN that brings `alias` into a select (None when it is the driving FROM table)."""
    if not isinstance(select, exp.Select):
        return None
    for join in select.args.get("joins") or []:
        if isinstance(join, exp.Join) and join.this.alias_or_name == alias:
            return join
    return None


@dataclass
class _ModelContext:
    relation: Relation
    relations: dict[str, Relation]
    schema: Schema
    scopes: dict[int, Scope]
    vars_by_alias: dict[str, set[str]]

    def relation_of(self, table: exp.Expr) -> str:
        """`<schema>.<name>` of a table expression (sqlglot types a lineage node's source as a plain Expr)."""
        assert isinstance(table, exp.Table), table
        return f"{table.db}.{table.name}".lower()


def _paths(node: Node, trail: tuple[Node, ...] = ()) -> Iterator[tuple[tuple[Node, ...], Node | None]]:
    """(steps, leaf) per path; leaf is the parent's column node, None for a literal."""
    if isinstance(node.expression, exp.Table):
        yield trail, node
        return
    trail = (*trail, node)
    if not node.downstream:
        yield trail, None
        return
    for child in node.downstream:
        yield from _paths(child, trail)


def _expression_text(steps: tuple[Node, ...]) -> str:
    shown = [s for s in steps if not _is_trivial(s)] or list(steps[-1:])
    return STEP_SEPARATOR.join(s.expression.sql(dialect=DIALECT, comments=False) for s in shown)


def _lookup_joins(steps: tuple[Node, ...], leaf: Node | None) -> list[tuple[Node, exp.Join]]:
    """Steps whose value comes from a joined (not the driving) table, with that join."""
    found = []
    following = [*steps[1:], leaf]
    for step, child in zip(steps, following, strict=True):
        if child is None:
            continue
        join = _join_for(step.source, _table_alias(child))
        if join is not None:
            found.append((step, join))
    return found


def _value_kind(ctx: _ModelContext, target_column: str, steps: tuple[Node, ...], leaf: Node) -> str:
    source = ctx.relations.get(ctx.relation_of(leaf.expression))
    if source is not None and source.resource_type == "seed":
        return CONFIGURATION
    if _lookup_joins(steps, leaf):
        return LOOKUP
    if not all(_is_reference(s.expression) for s in steps):
        return TRANSFORMATION
    return PASS_THROUGH if _column_of(leaf) == target_column else RENAME


def _join_key_edges(ctx: _ModelContext, target_column: str, join: exp.Join) -> Iterator[Edge]:
    """One `join` edge per column of the ON condition, traced to the parent relation it comes from."""
    condition = join.args.get("on")
    if condition is None:
        return
    select = join.parent
    scope = ctx.scopes.get(id(select))
    if scope is None:
        return
    text = condition.sql(dialect=DIALECT, comments=False)
    for column in condition.find_all(exp.Column):
        source = scope.sources.get(column.table)
        if isinstance(source, exp.Table):
            yield _edge(ctx, target_column, ctx.relation_of(source), column.name.lower(), JOIN, text)
        elif isinstance(source, Scope):
            root = to_node(column.name, source, DIALECT, ctx.schema, trim_selects=False)
            for _steps, leaf in _paths(root):
                if leaf is not None:
                    yield _edge(
                        ctx, target_column, ctx.relation_of(leaf.expression), _column_of(leaf), JOIN, text
                    )


def _edge(
    ctx: _ModelContext, column: str, source_relation: str, source_column: str, kind: str, sql: str
) -> Edge:
    return Edge(
        target_relation=ctx.relation.name,
        target_column=column,
        source_relation=source_relation,
        source_column=source_column,
        kind=kind,
        expression=sql,
        model=ctx.relation.unique_id,
    )


def _column_edges(ctx: _ModelContext, column: str, root: Node) -> list[Edge]:
    edges: dict[tuple[str, str, str, str], Edge] = {}

    def add(edge: Edge) -> None:
        edges.setdefault((edge.source_relation, edge.source_column, edge.kind, edge.expression), edge)

    var_names: set[str] = set()
    for steps, leaf in _paths(root):
        for step in steps:
            var_names |= ctx.vars_by_alias.get(_column_of(step), set())
        text = _expression_text(steps)
        if leaf is None:
            if not any(ctx.vars_by_alias.get(_column_of(step)) for step in steps):
                # no input column: a literal is a constant, `COUNT(*)` or `current_date` is computed
                kind = (
                    CONSTANT if all(_is_literal_or_reference(s.expression) for s in steps) else TRANSFORMATION
                )
                add(_edge(ctx, column, "", "", kind, text))
            continue
        joins = _lookup_joins(steps, leaf)
        if joins and all(_is_trivial(s) for s in steps):
            text = STEP_SEPARATOR.join(
                step.expression.sql(dialect=DIALECT, comments=False) for step, _join in joins
            )
        if joins:
            # the auditor needs the join that found the value next to the value's SQL
            text += "".join(
                f"  [{join.sql(dialect=DIALECT, comments=False).strip()}]" for _step, join in joins
            )
        kind = _value_kind(ctx, column, steps, leaf)
        add(_edge(ctx, column, ctx.relation_of(leaf.expression), _column_of(leaf), kind, text))
        for _step, join in joins:
            for join_edge in _join_key_edges(ctx, column, join):
                add(join_edge)
    for name in sorted(var_names):
        # the compiled SQL shows the rendered literal; name the var so the auditor sees where it is configured
        add(_edge(ctx, column, VAR_RELATION, name, CONFIGURATION, f"{{{{ var('{name}') }}}}"))
    return list(edges.values())


def model_edges(relation: Relation, relations: dict[str, Relation], schema: SchemaDict) -> list[Edge]:
    """Every edge into every output column of one compiled model."""
    sql = relation.node.get("compiled_code")
    if not sql:
        raise ValueError(f"{relation.unique_id} has no compiled SQL: run `dbt compile`")
    sqlglot_schema = ensure_schema(dict(schema), dialect=DIALECT)
    tree = qualify(
        sqlglot.parse_one(sql, dialect=DIALECT),
        dialect=DIALECT,
        schema=sqlglot_schema,
        validate_qualify_columns=False,
        identify=False,
    )
    root_scope = build_scope(tree)
    if root_scope is None:
        raise ValueError(f"{relation.unique_id} is not a query")
    ctx = _ModelContext(
        relation=relation,
        relations=relations,
        schema=sqlglot_schema,
        scopes={id(s.expression): s for s in root_scope.traverse()},
        vars_by_alias=var_aliases(relation.node.get("raw_code", "")),
    )
    roots: dict[str, Node] = lineage(
        None, tree, sqlglot_schema, dialect=DIALECT, scope=root_scope, trim_selects=False, copy=False
    )
    edges: list[Edge] = []
    for name, root in roots.items():
        edges.extend(_column_edges(ctx, name.lower(), root))
    return edges


class _Warnings(logging.Handler):
    """sqlglot only logs (never raises) when a column cannot be resolved; such lineage would be a guess."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def compute_lineage(artifacts: Artifacts) -> LineageGraph:
    """Edges of every model in the manifest. A model sqlglot cannot trace (a parse error, or a column it
    could not resolve) is recorded in `errors` without edges, never guessed: its columns become unresolved."""
    schema, columns = build_schema(artifacts)
    relations = artifacts.relations()
    graph = LineageGraph(relations=relations, columns=columns)
    logger = logging.getLogger("sqlglot")
    for relation in relations.values():
        if relation.resource_type != "model":
            continue
        warnings = _Warnings()
        logger.addHandler(warnings)
        propagate, logger.propagate = logger.propagate, False
        try:
            edges = model_edges(relation, relations, schema)
        except (sqlglot.errors.SqlglotError, ValueError) as error:
            graph.errors[relation.name] = str(error)
            continue
        finally:
            logger.removeHandler(warnings)
            logger.propagate = propagate
        unknown = sorted(
            {
                e.source
                for e in edges
                if columns.get(e.source_relation) and e.source_column not in columns[e.source_relation]
            }
        )
        if unknown:  # a column the parent does not have: sqlglot kept the name, the lineage would be fiction
            warnings.messages.append("unknown column " + ", ".join(unknown))
        if warnings.messages:
            graph.errors[relation.name] = "; ".join(dict.fromkeys(warnings.messages))[:2000]
            continue
        graph.edges.extend(edges)
    return graph


def _cache_key(artifacts: Artifacts) -> str:
    """What the lineage is made of: the manifest and catalog as loaded, the code that traces, sqlglot."""
    digest = hashlib.sha256()
    for part in (artifacts.manifest, artifacts.catalog):
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    here = Path(__file__).parent
    for module in ("graph.py", "schema.py", "jinja_vars.py"):
        digest.update((here / module).read_bytes())
    digest.update(version("sqlglot").encode())
    return digest.hexdigest()


def cached_lineage(artifacts: Artifacts) -> LineageGraph:
    """`compute_lineage`, kept in the build's target folder: tracing every model's SQL takes seconds, and a
    `p2c lineage trace` of the same build needs the same graph. Keyed by everything it is made of, so a
    changed build, catalog or tracing code recomputes it; a folder that cannot be written only costs time."""
    key = _cache_key(artifacts)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        cached = json.loads((artifacts.target_dir / CACHE_FILE).read_text(encoding="utf-8"))
        if cached["key"] == key:
            return LineageGraph(
                relations=artifacts.relations(),
                columns={name: list(columns) for name, columns in cached["columns"].items()},
                edges=[Edge(**edge) for edge in cached["edges"]],
                errors=dict(cached["errors"]),
            )
    graph = compute_lineage(artifacts)
    _store_lineage(artifacts, graph, key)
    return graph


def _store_lineage(artifacts: Artifacts, graph: LineageGraph, key: str) -> None:
    """Keep `graph` beside the artifacts it was computed from. (The audit pack traces afresh on a private
    `dbt docs generate` with its catalog: a graph of other artifacts, not kept.)"""
    path = artifacts.target_dir / CACHE_FILE
    document = {
        "key": key,
        "columns": graph.columns,
        "edges": [asdict(edge) for edge in graph.edges],
        "errors": graph.errors,
    }
    with contextlib.suppress(OSError):
        scratch = path.with_name(path.name + ".tmp")
        scratch.write_text(json.dumps(document), encoding="utf-8")
        scratch.replace(path)


def graph_as_records(graph: LineageGraph) -> list[dict[str, Any]]:
    return [edge.as_dict() for edge in graph.edges]
