"""What an auditor reads next to a column's lineage: the procedure rule it implements
(seeds/procedure_rules.csv), the dbt tests that guard it (manifest) with their last result (run_results.json),
and the export headers of the raw column (seeds/header_vocabulary.csv; the landed files' with a DB)."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2c.contract.artifacts import Artifacts
from p2c.lineage.graph import LineageGraph

RULES_SEED = "procedure_rules"
VOCABULARY_SEED = "header_vocabulary"
LANGUAGE_NAMES = {
    1033: "English",
    1053: "Swedish",
    1031: "German",
    1036: "French",
    1030: "Danish",
    1044: "Norwegian",
}


@dataclass(frozen=True)
class Rule:
    rule_id: str
    document: str
    section: str
    step: str
    summary: str


@dataclass(frozen=True)
class GuardingTest:
    unique_id: str
    name: str
    test_type: str  # data | unit
    status: str  # pass | fail | error | warn | skipped | not run


@dataclass(frozen=True)
class Header:
    language_code: int
    header: str
    origin: str  # the vocabulary's origin column, or 'landed file <name>'


def _seed_path(artifacts: Artifacts, seed_name: str) -> Path | None:
    for node in artifacts.manifest.get("nodes", {}).values():
        if node.get("resource_type") == "seed" and node.get("name") == seed_name:
            path = Path(node.get("root_path", ".")) / node["original_file_path"]
            return path if path.is_file() else None
    return None


def read_rules(artifacts: Artifacts) -> dict[str, Rule]:
    path = _seed_path(artifacts, RULES_SEED)
    if path is None:
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            row["rule_id"]: Rule(
                row["rule_id"], row["document"], row["section"], str(row["step"]), row["summary"]
            )
            for row in csv.DictReader(handle)
        }


def _statuses(artifacts: Artifacts) -> dict[str, str]:
    results = (artifacts.run_results or {}).get("results", [])
    return {r["unique_id"]: str(r.get("status", "")).lower() for r in results}


def _test_columns(node: dict[str, Any]) -> list[str]:
    """The columns a data test checks: its column, or the columns named in its arguments."""
    if node.get("column_name"):
        return [str(node["column_name"]).lower()]
    kwargs = (node.get("test_metadata") or {}).get("kwargs") or {}
    found: list[str] = []
    for value in kwargs.values():
        if isinstance(value, list):
            found.extend(str(v).lower() for v in value if isinstance(v, str))
    return found


def guarding_tests(artifacts: Artifacts, graph: LineageGraph) -> dict[tuple[str, str], list[GuardingTest]]:
    """{(relation, column): tests}: data tests on the column and unit tests whose expected rows check it."""
    status = _statuses(artifacts)
    relation_by_id = {r.unique_id: name for name, r in graph.relations.items()}
    relation_by_model_name = {
        r.node["name"]: name for name, r in graph.relations.items() if r.resource_type == "model"
    }
    found: dict[tuple[str, str], list[GuardingTest]] = defaultdict(list)
    for node in artifacts.manifest.get("nodes", {}).values():
        if node.get("resource_type") != "test":
            continue
        attached = node.get("attached_node") or next(iter(node.get("depends_on", {}).get("nodes", [])), None)
        relation = relation_by_id.get(attached or "")
        if relation is None:
            continue
        test = GuardingTest(node["unique_id"], node["name"], "data", status.get(node["unique_id"], "not run"))
        for column in _test_columns(node):
            found[(relation, column)].append(test)
    for node in (artifacts.manifest.get("unit_tests") or {}).values():
        relation = relation_by_model_name.get(node.get("model", ""))
        if relation is None:
            continue
        test = GuardingTest(node["unique_id"], node["name"], "unit", status.get(node["unique_id"], "not run"))
        rows = (node.get("expect") or {}).get("rows")
        columns = {str(k).lower() for row in rows for k in row} if isinstance(rows, list) else set()
        for column in sorted(columns):
            found[(relation, column)].append(test)
    return dict(found)


def vocabulary_headers(artifacts: Artifacts) -> dict[tuple[str, str], list[Header]]:
    """{(raw table, logical name): headers in every language the vocabulary knows}."""
    path = _seed_path(artifacts, VOCABULARY_SEED)
    found: dict[tuple[str, str], list[Header]] = defaultdict(list)
    if path is None:
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["table_name"], row["logical_name"])
            found[key].append(Header(int(row["language_code"]), row["header"], row["origin"]))
    return dict(found)


def preferred_headers(headers: list[Header], languages: tuple[int, ...] = (1033, 1053)) -> list[Header]:
    """Headers in the languages a reader most likely exported in first (English, Swedish), then the rest."""
    return sorted(
        headers,
        key=lambda h: (
            h.language_code not in languages,
            languages.index(h.language_code) if h.language_code in languages else h.language_code,
        ),
    )
