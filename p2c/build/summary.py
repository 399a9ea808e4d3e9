"""The closing summary of `p2c build`: node and test tallies, failing nodes, and what landed in `dualwrite`.

Relations are found through dbt's manifest (target/manifest.json, read by p2c.contract.artifacts), so the
summary follows the models' own schema and alias configuration."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console

from loaders.catalog import connect_file
from p2c.build.dbt import DbtOutcome, NodeOutcome
from p2c.contract.artifacts import ArtifactsMissing, Relation, load_artifacts
from p2c.output import Column, OutputFormat, emit_csv, emit_json, print_table

# dualwrite: the re-initialized tables; archive: invoices, invoice lines, products (initial sync only)
TARGET_SCHEMAS = ("dualwrite", "archive")
# The audit models (models/marts/audit): every rejected row with its reason, and the completeness equations.
REJECTS_MODEL = "dualwrite_rejects"
RECONCILIATION_MODEL = "dualwrite_reconciliation"
MAX_CATEGORY_LENGTH = 40
MAX_REASONS_PER_ENTITY = 6
FAILING_STATUSES = frozenset({"error", "fail", "runtime error", "partial success"})
# dbt's resource types, as the summary names them
KIND_LABELS = {"model": "models", "seed": "seeds", "snapshot": "snapshots", "test": "data tests"}
KIND_LABELS["unit_test"] = "unit tests"
KIND_LABELS["operation"] = "hooks"  # on-run-start: the landing zone (macros/landing_zone.sql)


@dataclass(frozen=True)
class RejectGroup:
    entity: str
    reason: str  # reason code, or the category of the free-text reason
    rows: int
    example: str  # one full reason text of the group


@dataclass
class BuildSummary:
    tallies: dict[str, Counter[str]] = field(default_factory=dict)  # kind label -> status -> count
    failing: list[NodeOutcome] = field(default_factory=list)
    warned: list[NodeOutcome] = field(default_factory=list)
    table_rows: list[tuple[str, int]] = field(default_factory=list)
    rejects: list[RejectGroup] = field(default_factory=list)
    reconciliation_columns: list[str] = field(default_factory=list)
    reconciliation: list[tuple[Any, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    nodes: list[NodeOutcome] = field(default_factory=list)
    build: dict[str, Any] = field(default_factory=dict)  # database, build id, status, selection


def build_target_dir(project_dir: Path) -> Path:
    """Where the invocation wrote its artifacts: target/ of the project, or where DBT_TARGET_PATH says."""
    target_dir = Path(os.environ.get("DBT_TARGET_PATH") or project_dir / "target")
    return target_dir if target_dir.is_absolute() else project_dir / target_dir


def tally(outcome: DbtOutcome) -> dict[str, Counter[str]]:
    tallies: dict[str, Counter[str]] = {}
    for node in outcome.nodes:
        label = KIND_LABELS.get(node.resource_type, node.resource_type)
        tallies.setdefault(label, Counter())[node.status] += 1
    return tallies


def _existing_relations(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    return {(schema, name) for schema, name in rows}


def collect_summary(
    outcome: DbtOutcome, db_path: Path, project_dir: Path, target_dir: Path | None = None
) -> BuildSummary:
    summary = BuildSummary(tallies=tally(outcome), nodes=list(outcome.nodes))
    summary.failing = [n for n in outcome.nodes if n.status in FAILING_STATUSES]
    summary.warned = [n for n in outcome.nodes if n.status == "warn"]
    try:
        models = load_artifacts(target_dir or build_target_dir(project_dir)).models()
    except ArtifactsMissing:
        summary.notes.append("no manifest: dbt did not parse the project")
        return summary
    try:
        _read_results(summary, models, db_path)
    except duckdb.Error as error:
        # e.g. another process took the write lock right after the build: the tallies still stand
        summary.notes.append(f"could not read the results from {db_path.name}: {error}")
    return summary


def _read_results(summary: BuildSummary, models: dict[str, Relation], db_path: Path) -> None:
    targets = sorted(
        (
            m
            for m in models.values()
            if m.schema in TARGET_SCHEMAS and m.model_name not in (REJECTS_MODEL, RECONCILIATION_MODEL)
        ),
        key=lambda m: (TARGET_SCHEMAS.index(m.schema), m.identifier),
    )
    # Read-only: the build is over, and a reader never blocks the next writer for long.
    with connect_file(db_path, read_only=True) as con:
        existing = _existing_relations(con)

        def built(relation: Relation | None) -> bool:
            return relation is not None and (relation.schema, relation.identifier) in existing

        for model in targets:
            if built(model):
                (count,) = con.execute(f"select count(*) from {model.sql_name}").fetchone() or (0,)
                summary.table_rows.append((model.name, int(count)))
        rejects, reconciliation = models.get(REJECTS_MODEL), models.get(RECONCILIATION_MODEL)
        if rejects is not None and built(rejects):
            summary.rejects = _rejects_by_reason(con, rejects)
        else:
            summary.notes.append(f"model {REJECTS_MODEL} was not built: no rejects to show")
        if reconciliation is not None and built(reconciliation):
            cursor = con.execute(f"select * from {reconciliation.sql_name} order by entity")
            summary.reconciliation_columns = [d[0] for d in cursor.description or []]
            summary.reconciliation = [tuple(row) for row in cursor.fetchall()]
        else:
            summary.notes.append(f"model {RECONCILIATION_MODEL} was not built: no reconciliation to show")


def _rejects_by_reason(con: duckdb.DuckDBPyConnection, rejects: Relation) -> list[RejectGroup]:
    rows = con.execute(
        f"select entity, reason_code, reason, count(*) as n from {rejects.sql_name} group by all"
    ).fetchall()
    groups: dict[tuple[str, str], RejectGroup] = {}
    for entity_value, code_value, reason_value, n in rows:
        key = (str(entity_value), code_value or reason_category(reason_value or ""))
        found = groups.get(key)
        example = found.example if found else str(reason_value or "")
        groups[key] = RejectGroup(key[0], key[1], (found.rows if found else 0) + int(n), example)
    ordered = sorted(groups.values(), key=lambda g: (g.entity, -g.rows, g.reason))
    return _cap_per_entity(ordered)


def reason_category(reason: str) -> str:
    """`superseded: revision 0 of quote Q1 ...` -> `superseded`: reasons name the record after a colon,
    and one line per record would bury the summary. Without a short prefix the whole text is the reason."""
    head, sep, _ = reason.partition(":")
    return head.strip() if sep and 0 < len(head.strip()) <= MAX_CATEGORY_LENGTH else reason.strip()


def _cap_per_entity(groups: list[RejectGroup]) -> list[RejectGroup]:
    """At most MAX_REASONS_PER_ENTITY lines per entity; the rest is summed into one line."""
    capped: list[RejectGroup] = []
    rest: dict[str, list[RejectGroup]] = {}
    for group in groups:
        shown = sum(1 for g in capped if g.entity == group.entity)
        if shown < MAX_REASONS_PER_ENTITY:
            capped.append(group)
        else:
            rest.setdefault(group.entity, []).append(group)
    for entity, others in rest.items():
        label = f"({len(others)} other reasons)"
        capped.append(RejectGroup(entity, label, sum(g.rows for g in others), others[0].example))
    return sorted(capped, key=lambda g: (g.entity, g.reason.startswith("(")))


def render_summary(summary: BuildSummary, console: Console) -> None:
    """The tables through p2c.output.print_table: rich on a terminal, plain text (no box characters, values
    whole) when stdout is piped or redirected, as for every command that prints tables."""
    if summary.table_rows:
        print_table(
            [{"table": name, "rows": f"{rows:,}"} for name, rows in summary.table_rows],
            [Column("table"), Column("rows", numeric=True)],
            title="target tables",
            console=console,
        )
    if summary.rejects:
        examples = ["" if g.example == g.reason else g.example for g in summary.rejects]
        columns = [Column("entity"), Column("reason"), Column("rows", numeric=True)]
        if any(examples):
            columns.append(Column("example"))
        print_table(
            [
                {"entity": g.entity, "reason": g.reason, "rows": f"{g.rows:,}", "example": example}
                for g, example in zip(summary.rejects, examples, strict=True)
            ],
            columns,
            title="rejects by reason",
            console=console,
        )
    elif not any("rejects" in note for note in summary.notes):
        console.print("rejects: none")
    if summary.reconciliation:
        names, rows = summary.reconciliation_columns, summary.reconciliation
        print_table(
            [dict(zip(names, row, strict=True)) for row in rows],
            [
                Column(name, numeric=all(isinstance(row[index], int | float) for row in rows))
                for index, name in enumerate(names)
            ],
            title="reconciliation",
            console=console,
        )
    for note in summary.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    _render_tallies(summary, console)
    for node in summary.warned:
        console.print(
            f"[yellow]WARN[/yellow] {node.resource_type} {node.name}: {_first_line(node.message)}",
            soft_wrap=True,
            highlight=False,
        )
    for node in summary.failing:
        console.print(
            f"[red]{node.status.upper()}[/red] {node.resource_type} {node.name}",
            soft_wrap=True,
            highlight=False,
        )
        console.print(f"  {_trim(node.message)}", highlight=False, markup=False, soft_wrap=True)


def _render_tallies(summary: BuildSummary, console: Console) -> None:
    parts = []
    for label in ("seeds", "models", "snapshots", "unit tests", "data tests"):
        counts = summary.tallies.get(label)
        if counts:
            detail = " ".join(f"{status}={n}" for status, n in sorted(counts.items()))
            parts.append(f"{label}: {detail}")
    verdict = "[red]FAILED[/red]" if summary.failing else "[green]OK[/green]"
    console.print(
        f"{verdict}  " + "; ".join(parts) if parts else f"{verdict}  nothing ran",
        soft_wrap=True,
        highlight=False,
    )


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


def _trim(message: str, max_lines: int = 12) -> str:
    lines = message.strip().splitlines()
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... ({len(lines) - max_lines} more lines in logs/dbt.log)"]
    return "\n  ".join(lines)


NODE_COLUMNS = (
    Column("unique_id"),
    Column("resource_type"),
    Column("name"),
    Column("status"),
    Column("failures", numeric=True),
    Column("execution_time", numeric=True),
    Column("relation_name"),
    Column("message"),
)


def summary_document(summary: BuildSummary) -> dict[str, Any]:
    """`p2c build --format json`: the whole summary as one document."""
    return {
        **summary.build,
        "ok": not summary.failing,
        "tallies": {label: dict(counts) for label, counts in summary.tallies.items()},
        "tables": [{"table": name, "rows": rows} for name, rows in summary.table_rows],
        "rejects": [asdict(group) for group in summary.rejects],
        "reconciliation": [
            dict(zip(summary.reconciliation_columns, row, strict=True)) for row in summary.reconciliation
        ],
        "failing": [asdict(node) for node in summary.failing],
        "warned": [asdict(node) for node in summary.warned],
        "notes": summary.notes,
        "nodes": [asdict(node) for node in summary.nodes],
    }


def render_build(summary: BuildSummary, outcome: DbtOutcome, console: Console, fmt: OutputFormat) -> None:
    if fmt == OutputFormat.JSON:
        emit_json(summary_document(summary))
    elif fmt == OutputFormat.CSV:
        emit_csv([asdict(node) for node in summary.nodes], NODE_COLUMNS)
    else:
        render_summary(summary, console)
