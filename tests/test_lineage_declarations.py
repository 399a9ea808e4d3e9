"""Tested lineage over the project's own models: the lineage computed from the compiled SQL must equal the
`meta.lineage` declaration of every `dualwrite` column, and every such column must have one. A refactor that
silently changes where a value comes from fails here (proven by the mutation test at the bottom)."""

from __future__ import annotations

import pytest
from test_lineage_support import compiled_target, copy_dbt_project, mutate_column

from p2c.contract.artifacts import Artifacts, load_artifacts
from p2c.lineage.column_evidence import vocabulary_headers
from p2c.lineage.column_paths import trace_column
from p2c.lineage.declarations import Declaration, Finding, check_declarations, declared, target_relations
from p2c.lineage.graph import LineageGraph, compute_lineage
from p2c.settings import project_dir

PROJECT_DIR = project_dir()

DUALWRITE_TABLES = [
    "dualwrite.account",
    "dualwrite.contact",
    "dualwrite.quote",
    "dualwrite.quotedetail",
    "dualwrite.salesorder",
    "dualwrite.salesorderdetail",
]
DECLARATION_PROBLEMS = {"undeclared", "invalid", "stale"}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return load_artifacts(compiled_target(PROJECT_DIR, tmp_path_factory.mktemp("project")))


@pytest.fixture(scope="module")
def graph(artifacts: Artifacts) -> LineageGraph:
    return compute_lineage(artifacts)


@pytest.fixture(scope="module")
def findings(graph: LineageGraph) -> list[Finding]:
    return check_declarations(graph)


def _report(findings: list[Finding]) -> str:
    return "\n".join(str(f) for f in findings)


def test_every_dualwrite_table_is_traced(graph: LineageGraph) -> None:
    assert target_relations(graph) == DUALWRITE_TABLES
    assert graph.errors == {}


def test_every_dualwrite_column_has_a_declaration(findings: list[Finding]) -> None:
    missing = [f for f in findings if f.problem in DECLARATION_PROBLEMS]
    assert not missing, "declare meta.lineage for:\n" + _report(missing)


def test_declared_lineage_matches_the_sql(findings: list[Finding]) -> None:
    differing = [f for f in findings if f.problem not in DECLARATION_PROBLEMS]
    assert not differing, "the SQL and the YAML disagree:\n" + _report(differing)


def test_contact_person_id_comes_from_the_contact_number_header(
    graph: LineageGraph, artifacts: Artifacts
) -> None:
    trace = trace_column(graph, "dualwrite.contact", "msdyn_contactpersonid")
    assert trace.value_origins == {"raw.contact.msdynce_contactnumber"}
    headers = vocabulary_headers(artifacts)
    english = [h.header for h in headers[("contact", "msdynce_contactnumber")] if h.language_code == 1033]
    assert english == ["Contact Number"]


def test_requested_receipt_date_falls_back_over_three_export_dates(graph: LineageGraph) -> None:
    trace = trace_column(graph, "dualwrite.salesorder", "msdyn_requestedreceiptdate")
    assert trace.value_origins == {
        "raw.salesorder.requestdeliveryby",
        "raw.salesorder.datefulfilled",
        "raw.salesorder.submitdate",
    }
    assert trace.kind == "transformation"


def test_moving_a_value_elsewhere_fails_the_check(
    graph: LineageGraph, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Copy the project, make one declared salesorder column come from another column, recompile: the check
    must report exactly that column."""
    relation = "dualwrite.salesorder"
    declarations = {c: d for c, d in declared(graph, relation).items() if isinstance(d, Declaration)}
    assert declarations, f"{relation} has no lineage declarations yet"
    origins = {c: trace_column(graph, relation, c).value_origins for c in graph.columns[relation]}
    column = (
        "msdyn_requestedreceiptdate"
        if "msdyn_requestedreceiptdate" in declarations
        else sorted(declarations)[0]
    )
    elsewhere = next(c for c in graph.columns[relation] if origins[c] and origins[c] != origins[column])
    work = tmp_path_factory.mktemp("mutated")
    copy = copy_dbt_project(PROJECT_DIR, work / "project")
    model_path = copy / graph.relations[relation].node["original_file_path"]
    model_path.write_text(
        mutate_column(model_path.read_text(encoding="utf-8"), column, elsewhere), encoding="utf-8"
    )
    mutated = compute_lineage(load_artifacts(compiled_target(copy, work)))
    before = {(f.column, f.problem) for f in check_declarations(graph) if f.relation == relation}
    after = {(f.column, f.problem) for f in check_declarations(mutated) if f.relation == relation}
    assert after - before == {(column, "sources")}
