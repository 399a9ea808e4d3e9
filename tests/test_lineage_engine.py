"""The lineage engine on a tiny generated dbt project: source -> staging view -> intermediate with a join
and a seed decode -> mart with CASE / COALESCE / a var / a literal. Every expectation is exact."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from test_lineage_support import built_tiny_project, compiled_target, mutate_column

from p2c.contract.artifacts import load_artifacts
from p2c.lineage.column_paths import trace_column
from p2c.lineage.declarations import check_declarations
from p2c.lineage.graph import LineageGraph, compute_lineage
from p2c.lineage.jinja_vars import var_aliases
from p2c.lineage.pack_writer import write_pack
from p2c.lineage.row_provenance import RowSelector, trace_row

MART = "dualwrite.salesorder"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return built_tiny_project(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def graph(tiny: dict[str, Path]) -> LineageGraph:
    return compute_lineage(load_artifacts(tiny["target"]))


def _edges(graph: LineageGraph, relation: str) -> set[tuple[str, str, str]]:
    return {(e.target_column, e.source, e.kind) for e in graph.edges if e.target_relation == relation}


def test_mart_edges_name_source_and_kind(graph: LineageGraph) -> None:
    assert graph.errors == {}
    resolved = "main.int_orders_resolved"
    assert _edges(graph, MART) == {
        ("msdyn_salesordernumber", f"{resolved}.order_number", "rename"),
        ("msdyn_invoicecustomerid_account", f"{resolved}.customer_number", "rename"),
        ("msdyn_requestedreceiptdate", f"{resolved}.requested", "transformation"),
        ("msdyn_requestedreceiptdate", f"{resolved}.fulfilled", "transformation"),
        ("statuslabel", f"{resolved}.status_value", "transformation"),
        ("msdyn_language", "var.language", "configuration"),
        ("msdyn_ordertype", "(literal)", "constant"),
        ("msdyn_company", f"{resolved}.company", "transformation"),
        ("order_number", f"{resolved}.order_number", "pass-through"),
        ("_source_file", f"{resolved}._source_file", "pass-through"),
        ("_source_sheet", f"{resolved}._source_sheet", "pass-through"),
        ("_source_row", f"{resolved}._source_row", "pass-through"),
    }


def test_each_hop_carries_its_sql(graph: LineageGraph) -> None:
    [edge] = [
        e for e in graph.edges_into(MART, "msdyn_requestedreceiptdate") if e.source_column == "fulfilled"
    ]
    assert (
        edge.expression
        == "CAST(COALESCE(resolved.requested, resolved.fulfilled) AS DATE) AS msdyn_requestedreceiptdate"
    )
    [staging] = graph.edges_into("main.stg_orders", "order_number")
    assert (staging.source, staging.kind, staging.expression) == (
        "raw.orders.order_id",
        "rename",
        "source.order_id AS order_number",
    )


def test_lookup_reports_its_join_keys_as_separate_edges(graph: LineageGraph) -> None:
    edges = {
        (e.source, e.kind, e.expression)
        for e in graph.edges_into("main.int_orders_resolved", "customer_number")
    }
    on = "customers.customer_name = orders.customer_name"
    assert edges == {
        (
            "main.stg_customers.customer_number",
            "lookup",
            f"customers.customer_number AS customer_number  [LEFT JOIN customers AS customers ON {on}]",
        ),
        ("main.stg_customers.customer_name", "join", on),
        ("main.stg_orders.customer_name", "join", on),
    }


def test_column_summaries_back_to_the_raw_export(graph: LineageGraph) -> None:
    summary = {}
    for column in graph.columns[MART]:
        trace = trace_column(graph, MART, column)
        summary[column] = (
            trace.kind,
            sorted(trace.value_origins),
            sorted(trace.config_origins),
            sorted(trace.join_keys),
        )
    assert summary == {
        "msdyn_salesordernumber": ("rename", ["raw.orders.order_id"], [], []),
        "msdyn_invoicecustomerid_account": (
            "lookup",
            ["raw.customers.number"],
            [],
            ["raw.customers.name", "raw.orders.customer"],
        ),
        "msdyn_requestedreceiptdate": (
            "transformation",
            ["raw.orders.fulfilled", "raw.orders.requested"],
            [],
            [],
        ),
        # the seed decodes the exported label: the label is the value's input, the seed is configuration
        "statuslabel": ("transformation", ["raw.orders.status"], ["main.status_labels.value"], []),
        "msdyn_language": ("configuration", [], ["var.language"], []),
        "msdyn_ordertype": ("constant", [], [], []),
        "msdyn_company": ("transformation", ["raw.orders.company"], [], []),
        "order_number": ("rename", ["raw.orders.order_id"], [], []),
        "_source_file": ("pass-through", ["raw.orders._source_file"], [], []),
        "_source_sheet": ("pass-through", ["raw.orders._source_sheet"], [], []),
        "_source_row": ("pass-through", ["raw.orders._source_row"], [], []),
    }


def test_declarations_of_the_tiny_project_hold(graph: LineageGraph) -> None:
    assert [str(f) for f in check_declarations(graph)] == []


def test_moving_a_value_elsewhere_is_a_finding(tiny: dict[str, Path], graph: LineageGraph) -> None:
    copy = tiny["root"] / "mutated"
    shutil.copytree(tiny["project"], copy, ignore=shutil.ignore_patterns("target", "logs"))
    model = copy / "models/marts/salesorder.sql"
    model.write_text(
        mutate_column(
            model.read_text(encoding="utf-8"), "msdyn_requestedreceiptdate", "cast(order_number as date)"
        )
    )
    # a bare `dbt compile` (no catalog.json): the columns are derived from the manifest and the compiled SQL
    mutated = compute_lineage(load_artifacts(compiled_target(copy, tiny["root"] / "mutated-work")))
    assert mutated.errors == {}
    moved = "dualwrite.salesorder.msdyn_requestedreceiptdate"
    assert {(e.target, e.source, e.kind) for e in mutated.edges if e.target != moved} == {
        (e.target, e.source, e.kind) for e in graph.edges if e.target != moved
    }
    assert [str(f) for f in check_declarations(mutated)] == [
        "dualwrite.salesorder.msdyn_requestedreceiptdate: sources: declared [raw.orders.fulfilled, "
        "raw.orders.requested], computed [raw.orders.order_id]"
    ]


def test_undeclared_and_stale_columns_are_findings(graph: LineageGraph) -> None:
    node = graph.relations[MART].node
    saved = json.dumps(node["columns"])
    try:
        node["columns"].pop("msdyn_ordertype")
        node["columns"]["gone"] = {"name": "gone", "meta": {"lineage": {"kind": "constant", "sources": []}}}
        assert sorted(str(f) for f in check_declarations(graph)) == [
            "dualwrite.salesorder.gone: stale: declared in YAML but not produced by the SQL",
            "dualwrite.salesorder.msdyn_ordertype: undeclared: no meta.lineage in the model's YAML",
        ]
    finally:
        node["columns"] = json.loads(saved)


@pytest.mark.parametrize(
    ("raw_sql", "expected"),
    [
        ("select '{{ var(\"lang\", 'en') }}' as language, a from t", {"language": {"lang"}}),
        ("select cast({{ var('cg') }} as varchar) as custgroup, b as c from t", {"custgroup": {"cg"}}),
        ("with x as (select coalesce(a, '{{ var('d') }}') as d2 from t) select * from x", {"d2": {"d"}}),
        ("select a from t where c = {{ var('only_in_where') }}", {}),
    ],
)
def test_var_aliases_find_the_select_item(raw_sql: str, expected: dict[str, set[str]]) -> None:
    assert var_aliases(raw_sql) == expected


def test_pack_is_written(tiny: dict[str, Path], tmp_path: Path) -> None:
    result = write_pack(
        tmp_path / "pack", tiny["db"], project_dir=tiny["project"], build_target=tiny["build"]
    )
    out = result.out_dir
    assert (out / "findings.txt").read_text(encoding="utf-8") == ""
    rows = (out / "lineage.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "target_table,target_column,hop_target,source,expression,kind,role,rule,tests"
    assert (
        "dualwrite.salesorder,msdyn_salesordernumber,dualwrite.salesorder.msdyn_salesordernumber,"
        "main.int_orders_resolved.order_number,resolved.order_number AS msdyn_salesordernumber,rename,value,"
        "salesorder.order_number,not_null_salesorder_msdyn_salesordernumber [pass]"
    ) in rows
    document = json.loads((out / "lineage.json").read_text(encoding="utf-8"))
    [receipt] = [c for c in document["columns"] if c["column"] == "msdyn_requestedreceiptdate"]
    assert receipt["rule"]["step"] == "5"
    assert receipt["value_origins"] == ["raw.orders.fulfilled", "raw.orders.requested"]
    docs = out / "dbt-docs"
    assert {p.name for p in docs.iterdir()} >= {
        "index.html",
        "static_index.html",
        "manifest.json",
        "catalog.json",
    }
    manifest = json.loads((docs / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((docs / "catalog.json").read_text(encoding="utf-8"))
    undescribed = [
        f"{uid}.{column}"
        for section in ("nodes", "sources")
        for uid, entry in catalog[section].items()
        for column in entry["columns"]
        if not (manifest[section][uid]["columns"].get(column.lower()) or {}).get("description")
    ]
    assert undescribed == []
    assert "MANIFEST.JSON INLINE DATA" not in (docs / "static_index.html").read_text(encoding="utf-8")


def test_trace_finds_the_export_row(tiny: dict[str, Path]) -> None:
    con = duckdb.connect(str(tiny["db"]), read_only=True)
    try:
        selector = RowSelector(company="USMF", key=("SO-1",))
        traced = trace_row(load_artifacts(tiny["build"]), con, "salesorder", selector)
    finally:
        con.close()
    assert (traced.source_file, traced.source_sheet, traced.source_row, traced.raw_relation) == (
        "orders.xlsx",
        "Orders",
        1,
        "raw.orders",
    )
    values = {v.column: (v.value, v.kind, v.origins, v.raw_values) for v in traced.values}
    assert values["msdyn_requestedreceiptdate"] == (
        dt.date(2026, 3, 27),
        "transformation",
        ["raw.orders.fulfilled", "raw.orders.requested"],
        {"raw.orders.fulfilled": None, "raw.orders.requested": "2026-03-27"},
    )
    assert values["msdyn_invoicecustomerid_account"] == ("C-1", "lookup", ["raw.customers.number"], {})
    assert traced.upload is None


def test_cli_on_a_database_p2c_never_built(tiny: dict[str, Path], tmp_path: Path) -> None:
    """The tiny project is built by plain `dbt build`: no build record in the database. The trace still
    answers (with a note on stderr); the pack refuses, or with --allow-unverified says so on its first
    screen and exits 1; the declaration check needs no build."""
    from typer.testing import CliRunner

    from p2c.cli import app

    runner = CliRunner()
    args = ["--db", str(tiny["db"]), "--target", str(tiny["build"])]
    traced = runner.invoke(app, ["lineage", "trace", "salesorder", "USMF", "SO-2", *args])
    assert traced.exit_code == 0, traced.output
    assert "comes from orders.xlsx, sheet Orders, data row 2 (Excel row 3) (raw.orders)" in traced.stdout
    assert "upload: no upload result recorded yet" in traced.stdout
    assert "has no recorded build" in traced.stderr
    missing = runner.invoke(app, ["lineage", "trace", "salesorder", "USMF", "SO-404", *args])
    assert missing.exit_code == 2
    assert "no row in dualwrite.salesorder with msdyn_company = 'USMF' and msdyn_salesordernumber" in (
        missing.stderr
    )
    refused = runner.invoke(app, ["lineage", "pack", "--out", str(tmp_path / "refused"), "--no-docs", *args])
    assert refused.exit_code == 2
    assert not (tmp_path / "refused").exists() or not any((tmp_path / "refused").iterdir())
    packed = runner.invoke(
        app, ["lineage", "pack", "--out", str(tmp_path / "pack"), "--no-docs", "--allow-unverified", *args]
    )
    assert packed.exit_code == 1, packed.output
    written = {p.name for p in (tmp_path / "pack").iterdir()}
    assert {"findings.txt", "lineage.csv", "lineage.json", "report.html"} <= written
    checked = runner.invoke(app, ["lineage", "check", *args])
    assert (checked.exit_code, checked.output.splitlines()[-1]) == (0, "0 finding(s)")


def test_a_model_sqlglot_cannot_read_is_reported_not_fatal(tiny: dict[str, Path]) -> None:
    artifacts = load_artifacts(tiny["target"])
    node = artifacts.manifest["nodes"]["model.tiny.int_orders_resolved"]
    node["compiled_code"] = "select from ((("
    broken = compute_lineage(artifacts)
    assert list(broken.errors) == ["main.int_orders_resolved"]
    findings = {(f.column, f.problem) for f in check_declarations(broken)}
    assert ("msdyn_requestedreceiptdate", "unresolved") in findings


def test_a_column_the_parent_lacks_is_reported_not_guessed(tiny: dict[str, Path]) -> None:
    artifacts = load_artifacts(tiny["target"])
    node = artifacts.manifest["nodes"]["model.tiny.stg_customers"]
    node["compiled_code"] = node["compiled_code"].replace(
        "number as customer_number", "numbr as customer_number"
    )
    broken = compute_lineage(artifacts)
    assert broken.errors == {"main.stg_customers": "unknown column raw.customers.numbr"}


def test_the_lineage_of_a_build_is_computed_once_and_recomputed_when_the_build_changes(
    tiny: dict[str, Path], graph: LineageGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`p2c lineage trace` keeps the traced graph beside the build's manifest: the same build reads it back
    equal to a fresh computation, a changed manifest is traced again."""
    import p2c.lineage.graph as graph_module

    target = tmp_path / "target"
    shutil.copytree(tiny["target"], target)
    first = graph_module.cached_lineage(load_artifacts(target))
    assert (target / graph_module.CACHE_FILE).is_file()
    assert (first.edges, first.errors, first.columns) == (graph.edges, graph.errors, graph.columns)

    def not_again(artifacts: object) -> LineageGraph:
        raise AssertionError("the lineage of an unchanged build was traced again")

    monkeypatch.setattr(graph_module, "compute_lineage", not_again)
    again = graph_module.cached_lineage(load_artifacts(target))
    assert (again.edges, again.errors, again.columns) == (graph.edges, graph.errors, graph.columns)
    assert again.relations.keys() == graph.relations.keys()

    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["metadata"]["invocation_id"] = "another build"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(AssertionError, match="traced again"):
        graph_module.cached_lineage(load_artifacts(target))
