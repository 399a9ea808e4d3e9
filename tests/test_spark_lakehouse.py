"""`p2c export-lakehouse`: the landed data as Parquet, one folder per raw table, and the Spark SQL that
registers them. Runs without Spark: the folders are read back with DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from loaders.vocabulary import exported_entities
from p2c.cli import app
from p2c.lakehouse import BOOKKEEPING_TABLES, register_statements


def _export(db: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["export-lakehouse", "--db", str(db), "--out", str(out)])
    return result.exit_code, result.output


def test_export_writes_every_raw_table_with_its_rows_and_provenance(sample_build, tmp_path: Path) -> None:
    code, output = _export(sample_build.db, tmp_path / "lake")
    assert code == 0, output
    tables = [*exported_entities(), *BOOKKEEPING_TABLES]
    assert sorted(p.name for p in (tmp_path / "lake" / "raw").iterdir()) == sorted(tables)
    with duckdb.connect(str(sample_build.db), read_only=True) as con:
        for table in tables:
            landed = con.execute(f'select * from raw."{table}" order by all').fetchall()
            exported = con.execute(
                f"select * from read_parquet('{tmp_path / 'lake' / 'raw' / table}/*.parquet') order by all"
            ).fetchall()
            assert exported == landed, table
        columns = [r[0] for r in con.execute("describe select * from raw.account").fetchall()]
    assert {"_source_file", "_source_row", "_loaded_at"} <= set(columns)


def test_register_sql_names_every_folder_once_as_an_external_parquet_table(
    sample_build, tmp_path: Path
) -> None:
    assert _export(sample_build.db, tmp_path / "lake")[0] == 0
    statements = register_statements(tmp_path / "lake" / "register.sql")
    creates = [s for s in statements if s.startswith("create table")]
    assert statements[0] == "create schema if not exists raw"
    assert len(creates) == len(exported_entities()) + len(BOOKKEEPING_TABLES)
    account = (tmp_path / "lake" / "raw" / "account").resolve().as_uri()
    assert f"create table raw.`account` using parquet location '{account}'" in creates


def test_export_again_into_its_own_folder_replaces_it(sample_build, tmp_path: Path) -> None:
    assert _export(sample_build.db, tmp_path / "lake")[0] == 0
    stale = tmp_path / "lake" / "raw" / "account" / "part-9.parquet"
    shutil.copy(tmp_path / "lake" / "raw" / "account" / "part-0.parquet", stale)
    assert _export(sample_build.db, tmp_path / "lake")[0] == 0
    assert not stale.exists()


def test_export_refuses_a_folder_holding_other_files(sample_build, tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "notes.txt").write_text("mine")
    code, output = _export(sample_build.db, tmp_path / "lake")
    assert code == 2
    assert "notes.txt" in output and "Traceback" not in output
    assert (tmp_path / "lake" / "notes.txt").read_text() == "mine"


def test_export_of_a_missing_database_exits_2_with_a_message(tmp_path: Path) -> None:
    code, output = _export(tmp_path / "none.duckdb", tmp_path / "lake")
    assert code == 2
    assert "none.duckdb" in output and "Traceback" not in output
