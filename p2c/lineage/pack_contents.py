"""One auditable record per `dualwrite` column: its path back to the export header, each hop's SQL and kind,
the rule, the guarding tests with their last result, and how the declaration compares. The exporters and the
HTML report all render this one structure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from p2c.contract.artifacts import Artifacts
from p2c.lineage.column_evidence import (
    GuardingTest,
    Header,
    Rule,
    guarding_tests,
    preferred_headers,
    read_rules,
    vocabulary_headers,
)
from p2c.lineage.column_paths import trace_column
from p2c.lineage.declarations import (
    TARGET_SCHEMA,
    Declaration,
    Finding,
    check_declarations,
    column_meta,
    declared,
    target_relations,
)
from p2c.lineage.graph import LineageGraph, compute_lineage
from p2c.lineage.landed_headers import Landed, read_landed

HEADER = "header"
SHOWN_LANGUAGES = (1033, 1053)


@dataclass
class Hop:
    target: str
    source: str
    kind: str
    expression: str
    tests: list[GuardingTest] = field(default_factory=list)
    role: str = "value"  # value: on the value's path; key: finds the row (join keys and their paths)


@dataclass
class ColumnAudit:
    relation: str
    column: str
    description: str
    kind: str
    value_origins: list[str]
    config_origins: list[str]
    join_keys: list[str]
    hops: list[Hop]
    headers: dict[str, list[Header]]  # raw column -> export headers (landed files first, else the vocabulary)
    landed_files: dict[str, list[str]]  # raw table -> files landed
    rule: Rule | None
    rule_id: str | None
    tests: list[GuardingTest]
    declaration: Declaration | None
    findings: list[Finding]

    @property
    def target(self) -> str:
        return f"{self.relation}.{self.column}"


@dataclass
class AuditPack:
    columns: list[ColumnAudit]
    findings: list[Finding]
    errors: dict[str, str]
    graph: LineageGraph = field(repr=False)

    def tables(self) -> list[str]:
        return sorted({c.relation for c in self.columns})


# Provenance columns are not export headers: say where the loader took them from.
PROVENANCE_ORIGINS = {
    "_company": "the --company option of `p2c load`",
    "_source_file": "the landed file's path (loader)",
    "_source_sheet": "the landed workbook sheet (loader)",
    "_source_row": "the data row number in the file (loader)",
    "_source_sha256": "the landed file's SHA-256 (loader)",
    "_load_id": "the load run (loader)",
    "_loaded_at": "the load time (loader)",
}


def _headers_for(
    raw_column: str, vocabulary: dict[tuple[str, str], list[Header]], landed: Landed
) -> list[Header]:
    parts = raw_column.split(".")
    if len(parts) != 3 or parts[0] != "raw":
        return []
    if parts[2] in PROVENANCE_ORIGINS:
        return [Header(0, PROVENANCE_ORIGINS[parts[2]], "provenance")]
    key = (parts[1], parts[2])
    seen = {
        Header(0, h.header, f"landed file {Path(h.file).name}" + (f" [{h.sheet}]" if h.sheet else "")): None
        for h in landed.headers.get(key, [])
    }
    return list(seen) + preferred_headers(vocabulary.get(key, []), SHOWN_LANGUAGES)


def _path_tests(own: list[GuardingTest], hops: list[Hop]) -> list[GuardingTest]:
    """The column's own tests, then the tests on every column of its path (a unit test of the intermediate
    model that implements a rule guards the value as much as a test on the final column)."""
    found = {t.unique_id: t for t in own}
    for hop in hops:
        for test in hop.tests:
            found.setdefault(test.unique_id, test)
    return list(found.values())


def build_audit(artifacts: Artifacts, db_path: Path | None = None, schema: str = TARGET_SCHEMA) -> AuditPack:
    graph = compute_lineage(artifacts)
    findings = check_declarations(graph, schema)
    rules = read_rules(artifacts)
    tests = guarding_tests(artifacts, graph)
    vocabulary = vocabulary_headers(artifacts)
    landed = read_landed(db_path) if db_path else Landed({}, {})
    columns: list[ColumnAudit] = []
    for relation in target_relations(graph, schema):
        node = graph.relations[relation].node
        declarations = declared(graph, relation)
        for column in graph.columns.get(relation, []):
            meta_column = (node.get("columns") or {}).get(column, {})
            meta = column_meta(meta_column)
            trace = trace_column(graph, relation, column)
            hops = [
                Hop(
                    e.target,
                    e.source,
                    e.kind,
                    e.expression,
                    tests.get((e.target_relation, e.target_column), []),
                    "value" if e in trace.value_edges else "key",
                )
                for e in trace.edges
            ]
            raw_columns = sorted(trace.value_origins | trace.join_keys)
            headers = {raw: _headers_for(raw, vocabulary, landed) for raw in raw_columns}
            for raw, found in headers.items():
                # the headers of the user's own files when known, else the vocabulary's English and Swedish
                in_files = [h for h in found if h.origin.startswith("landed")]
                for header in in_files or found:
                    if in_files or (
                        header.origin != "provenance" and header.language_code in SHOWN_LANGUAGES
                    ):
                        label = f'"{header.header}"' + (
                            f" ({header.language_code})" if header.language_code else ""
                        )
                        role = "value" if raw in trace.value_origins else "key"
                        hops.append(Hop(raw, f"{HEADER}:{label}", HEADER, header.origin, [], role))
            declaration = declarations.get(column)
            rule_id = meta.get("rule")
            columns.append(
                ColumnAudit(
                    relation=relation,
                    column=column,
                    description=str(meta_column.get("description") or ""),
                    kind=trace.kind,
                    value_origins=sorted(trace.value_origins),
                    config_origins=sorted(trace.config_origins),
                    join_keys=sorted(trace.join_keys),
                    hops=hops,
                    headers=headers,
                    landed_files={
                        t: list(landed.files_by_table.get(t, []))
                        for t in sorted({r.split(".")[1] for r in raw_columns})
                    },
                    rule=rules.get(rule_id) if rule_id else None,
                    rule_id=rule_id,
                    tests=_path_tests(tests.get((relation, column), []), hops),
                    declaration=declaration if isinstance(declaration, Declaration) else None,
                    findings=[f for f in findings if f.relation == relation and f.column == column],
                )
            )
    return AuditPack(columns=columns, findings=findings, errors=dict(graph.errors), graph=graph)


def column_record(audit: ColumnAudit) -> dict[str, Any]:
    """JSON-ready form of one column's audit."""
    record = asdict(audit)
    record["target"] = audit.target
    if audit.declaration is not None:
        record["declaration"] = {"kind": audit.declaration.kind, "sources": sorted(audit.declaration.sources)}
    record["findings"] = [str(f) for f in audit.findings]
    return record
