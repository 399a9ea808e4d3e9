"""The same dbt project on Apache Spark: the default sample, built once on DuckDB (the shared `sample_build`)
and once on a local Spark session (dbt-spark's `session` method) from its `p2c export-lakehouse` folder, must
give the same result: every node green on both, every dualwrite/audit/archive relation equal value by value,
and for every model the same row count and key set (the generic check that catches a model whose meaning
depends on the engine, such as `"column"`, which Spark reads as a string).

Needs pyspark (pip extra `spark`, installed by `make test`) and a Java runtime (Makefile target `java`).
Without them the module is skipped with the reason, unless P2C_REQUIRE_SPARK=1 (CI), where it fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from p2c.cli import app

PROJECT = Path(__file__).resolve().parent.parent
COMPARED_SCHEMAS = ("dualwrite", "audit", "archive")
PROVENANCE_KEY = ("_source_file", "_source_sheet", "_source_row")
SPARK_BUILD_TIMEOUT_S = 1800


def _spark_missing() -> str | None:
    """Why the Spark build cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
        from dbt.adapters import spark  # noqa: F401
    except ImportError:
        return "pyspark/dbt-spark not installed (pip install -e '.[spark]', which `make test` does)"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return "no Java runtime (`make java` installs Debian's as root)"
    return None


@dataclass(frozen=True)
class SparkBuild:
    duckdb_file: Path
    duckdb_target: Path
    out: Path
    results: list[dict[str, str]]
    returncode: int
    log: str


@pytest.fixture(scope="session")
def spark_build(sample_build, tmp_path_factory: pytest.TempPathFactory) -> SparkBuild:
    reason = _spark_missing()
    if reason:
        if os.environ.get("P2C_REQUIRE_SPARK") == "1":
            pytest.fail(f"P2C_REQUIRE_SPARK=1 but the Spark target cannot run: {reason}")
        pytest.skip(f"Spark target not tested: {reason}")
    assert sample_build.steps["build"].exit_code == 0, sample_build.steps["build"].output
    root = tmp_path_factory.mktemp("spark-build")
    exported = CliRunner().invoke(
        app, ["export-lakehouse", "--db", str(sample_build.db), "--out", str(root / "lakehouse")]
    )
    assert exported.exit_code == 0, exported.output
    out = root / "out"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("P2C_", "DBT_"))}
    env["DBT_LOG_PATH"] = str(root / "logs")
    done = subprocess.run(
        [
            sys.executable,
            str(PROJECT / "tests" / "spark_build.py"),
            str(root / "lakehouse"),
            str(root / "spark"),
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=SPARK_BUILD_TIMEOUT_S,
        check=False,
    )
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else []
    return SparkBuild(
        sample_build.db, sample_build.target, out, results, done.returncode, done.stdout + done.stderr
    )


def _duckdb_relations(db: Path) -> dict[str, list[tuple[str, str]]]:
    """schema.name -> [(column, type)] of every table and view dbt built in the DuckDB file."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns"
            " where table_schema in ('seeds', 'staging', 'intermediate', 'dualwrite', 'audit', 'archive')"
            " order by table_schema, table_name, ordinal_position"
        ).fetchall()
    relations: dict[str, list[tuple[str, str]]] = {}
    for schema, name, column, data_type in rows:
        relations.setdefault(f"{schema}.{name}", []).append((column, data_type))
    return relations


def _spark_models(build: SparkBuild) -> list[str]:
    return [
        f"{r['schema']}.{r['alias']}"
        for r in build.results
        if r["resource_type"] == "model" and r["status"] == "success"
    ]


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _difference(
    con: duckdb.DuckDBPyConnection,
    db_relation: str,
    parquet: Path,
    columns: list[tuple[str, str]],
    group: bool,
) -> list[tuple[object, ...]]:
    """Rows of one side missing from the other (both directions, with multiplicity). `group`: compare the
    count per value of `columns` instead of the rows themselves."""
    duck = ", ".join(_quoted(c) for c, _ in columns)
    spark = ", ".join(f"cast({_quoted(c)} as {t}) as {_quoted(c)}" for c, t in columns)
    left = f"select {duck} from migration.{db_relation}"
    right = f"select {spark} from read_parquet('{parquet}/*.parquet')"
    if group:
        left = f"select {duck}, count(*) as n from ({left}) group by all"
        right = f"select {duck}, count(*) as n from ({right}) group by all"
    return con.execute(
        f"(select 'duckdb only', * from ({left} except all {right}))"
        f" union all (select 'spark only', * from ({right} except all {left})) limit 10"
    ).fetchall()


def test_spark_build_runs_every_seed_model_unit_test_and_data_test_green(spark_build: SparkBuild) -> None:
    failed = [r for r in spark_build.results if r["status"] not in ("success", "pass")]
    assert spark_build.results, spark_build.log[-5000:]
    assert not failed, json.dumps(failed, indent=1)
    assert spark_build.returncode == 0, spark_build.log[-5000:]
    duckdb_nodes = {
        r["unique_id"]
        for r in json.loads((spark_build.duckdb_target / "run_results.json").read_text())["results"]
    }
    assert {r["unique_id"] for r in spark_build.results} == duckdb_nodes


def test_landing_zone_hook_on_spark_names_the_missing_raw_tables(spark_build: SparkBuild) -> None:
    text = (spark_build.out / "unregistered.txt").read_text()
    assert text.startswith("success=False"), text
    assert "raw.account" in text and "raw._choice_labels" in text and "p2c export-lakehouse" in text, text


def test_register_sql_of_the_export_gives_spark_every_raw_table_with_its_rows(
    spark_build: SparkBuild,
) -> None:
    registered = json.loads((spark_build.out / "registered_counts.json").read_text())
    with duckdb.connect() as con:
        con.execute(f"attach '{spark_build.duckdb_file}' as migration (read_only)")
        landed = {
            name: con.execute(f'select count(*) from migration.raw."{name}"').fetchone()[0]
            for name in registered
        }
    assert registered == landed
    assert landed["account"] > 0 and landed["_loads"] > 0


def test_every_dualwrite_audit_and_archive_relation_is_equal_value_by_value(spark_build: SparkBuild) -> None:
    relations = _duckdb_relations(spark_build.duckdb_file)
    compared = [name for name in relations if name.split(".")[0] in COMPARED_SCHEMAS]
    assert len(compared) >= 10, compared
    differences = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{spark_build.duckdb_file}' as migration (read_only)")
        for name in compared:
            parquet = spark_build.out / "relations" / name
            assert parquet.is_dir(), f"{name} was not built on Spark"
            rows = _difference(con, name, parquet, relations[name], group=False)
            if rows:
                differences[name] = rows
    assert not differences, differences


def test_every_model_has_the_same_row_count_and_key_set_on_both_engines(spark_build: SparkBuild) -> None:
    """Per model, by its provenance key (file, sheet, row) when it carries one, else by all its columns that
    are not lists: a model that keeps other rows on Spark fails here even when no data test notices."""
    relations = _duckdb_relations(spark_build.duckdb_file)
    models = _spark_models(spark_build)
    assert set(models) == {name for name in relations if not name.startswith("seeds.")}
    differences = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{spark_build.duckdb_file}' as migration (read_only)")
        for name in models:
            columns = relations[name]
            key = [(c, t) for c, t in columns if c in PROVENANCE_KEY]
            if len(key) < len(PROVENANCE_KEY):
                key = [(c, t) for c, t in columns if not t.endswith("[]") and not c.startswith("_value_hash")]
            rows = _difference(con, name, spark_build.out / "relations" / name, key, group=True)
            if rows:
                differences[name] = rows
    assert not differences, differences
