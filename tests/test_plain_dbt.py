"""Plain `dbt build` from the project root, without `p2c`: what a dbt user types first.

- On a fresh database the project's on-run-start hook (macros/landing_zone.sql) creates the landing zone that
  `p2c load` would have created: the `raw` sources exist, empty, and the whole project builds.
- The hook creates exactly what the loader creates (loaders/raw_schema.py), column by column, type by type and
  in the same order, so the two can never drift apart.
- After `p2c load`, the hook changes nothing: the landed raw.<table> views (which union the file tables) stay.
- dbt's console output and its log file carry no colour codes when they are not a terminal (dbt-core 1.11 does
  not check: dbt_project.yml turns colours off, DBT_USE_COLORS=true turns them back on).

dbt runs as a subprocess from the project root, exactly `dbt build`; only DBT_TARGET_PATH and DBT_LOG_PATH
point into the test's folder, so the project's own target/ and logs/ are left alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from loaders.catalog import CATALOG
from loaders.raw_schema import FILES_SCHEMA, ensure_landing_zone
from loaders.vocabulary import exported_entities
from p2c.settings import project_dir

PROJECT_DIR = project_dir()
BIN = Path(sys.executable).parent
ESCAPE = "\x1b["
BOOKKEEPING = ("_choice_labels", "_files", "_loads", "_rejects")
LANDING_SCHEMAS = ("raw", FILES_SCHEMA)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    log: str  # the run's dbt.log


def _run(
    command: list[str], db: Path, work: Path, env: dict[str, str] | None = None, timeout: int = 900
) -> Run:
    """One command from the project root with P2C_DB=db; dbt's artifacts and log under `work`."""
    logs = work / "logs"
    environment = {
        **os.environ,
        "P2C_DB": str(db),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(logs),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        **(env or {}),
    }
    for name in ("DBT_USE_COLORS", "DBT_USE_COLORS_FILE"):  # the project's defaults, unless a test sets them
        if name not in (env or {}):
            environment.pop(name, None)
    done = subprocess.run(
        command,
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,  # stdout and stderr are pipes, not a terminal
        text=True,
        timeout=timeout,
        check=False,
    )
    log_file = logs / "dbt.log"
    log = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
    return Run(done.returncode, done.stdout, done.stderr, log)


def _dbt(args: list[str], db: Path, work: Path, env: dict[str, str] | None = None) -> Run:
    return _run([str(BIN / "dbt"), *args], db, work, env)


def _landing_zone(db: Path) -> dict[str, Any]:
    """Schemas, relations (with their kind) and columns (position, type, nullability) of raw and raw_files."""
    schemas = ", ".join(f"'{schema}'" for schema in LANDING_SCHEMAS)
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            "schemas": con.execute(
                f"select schema_name from information_schema.schemata where schema_name in ({schemas}) "
                "order by all"
            ).fetchall(),
            "relations": con.execute(
                "select table_schema, table_name, table_type from information_schema.tables "
                f"where table_schema in ({schemas}) order by all"
            ).fetchall(),
            "columns": con.execute(
                "select table_schema, table_name, ordinal_position, column_name, data_type, is_nullable "
                f"from information_schema.columns where table_schema in ({schemas}) order by all"
            ).fetchall(),
        }


def _hook_statements(log: str) -> list[str]:
    """The DDL the landing-zone hook ran (it names the landing zone as "<database>".raw...: the catalog every
    connection attaches `db` under, loaders.catalog, not the file's stem)."""
    pattern = re.compile(rf'^\s*create (?:schema|table|view)\b.*"{re.escape(CATALOG)}"\.raw', re.MULTILINE)
    return pattern.findall(log)


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    """Plain `dbt build` on a database file that does not exist yet."""
    work = tmp_path_factory.mktemp("plain_dbt")
    db = work / "fresh.duckdb"
    return db, _dbt(["build"], db, work)


def test_plain_dbt_build_on_a_fresh_database(fresh_build: tuple[Path, Run]) -> None:
    db, run = fresh_build
    assert run.code == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "hook: p2c_dualwrite.on-run-start.0" in run.stdout
    zone = _landing_zone(db)
    relations = {(schema, name): kind for schema, name, kind in zone["relations"]}
    for table_name in exported_entities():
        assert relations[("raw", table_name)] == "VIEW", table_name
    for table_name in BOOKKEEPING:
        assert relations[("raw", table_name)] == "BASE TABLE", table_name
    assert zone["schemas"] == [(schema,) for schema in sorted(LANDING_SCHEMAS)]
    with duckdb.connect(str(db), read_only=True) as con:
        for schema, name in relations:
            (rows,) = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone() or (None,)
            assert rows == 0, f"{schema}.{name}"
        (accounts,) = con.execute("select count(*) from dualwrite.account").fetchone() or (None,)
    assert accounts == 0
    # everything it created, it created in this build (the DDL is in the log)
    assert len(_hook_statements(run.log)) == len(LANDING_SCHEMAS) + len(BOOKKEEPING) + len(
        exported_entities()
    )


def test_hook_creates_exactly_what_the_loader_creates(fresh_build: tuple[Path, Run], tmp_path: Path) -> None:
    db, run = fresh_build
    assert run.code == 0, run.stdout[-4000:]
    by_loader = tmp_path / "loader.duckdb"
    with duckdb.connect(str(by_loader)) as con:
        ensure_landing_zone(con)
    expected = _landing_zone(by_loader)
    assert expected["columns"], "the loader created no columns"
    assert _landing_zone(db) == expected


def test_piped_output_and_log_have_no_colour_codes(fresh_build: tuple[Path, Run]) -> None:
    _, run = fresh_build
    assert run.code == 0, run.stdout[-4000:]
    assert "Completed successfully" in run.stdout
    assert ESCAPE not in run.stdout and ESCAPE not in run.stderr
    assert run.log and ESCAPE not in run.log


def test_hook_does_nothing_when_the_landing_zone_exists_and_colours_can_be_asked_for(tmp_path: Path) -> None:
    """On a database the loader prepared, the hook only reads the catalog. DBT_USE_COLORS=true (as in a
    terminal, for whoever wants colours) colours the console, never the log file."""
    db = tmp_path / "prepared.duckdb"
    with duckdb.connect(str(db)) as con:
        ensure_landing_zone(con)
    before = _landing_zone(db)
    run = _dbt(["run-operation", "landing_zone"], db, tmp_path, env={"DBT_USE_COLORS": "true"})
    assert run.code == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "information_schema.schemata" in run.log  # the hook looked
    assert _hook_statements(run.log) == []  # and created nothing
    assert _landing_zone(db) == before
    assert ESCAPE in run.stdout
    assert ESCAPE not in run.log


def test_plain_dbt_build_keeps_the_landed_rows(tmp_path: Path) -> None:
    db = tmp_path / "loaded.duckdb"
    sample = tmp_path / "sample"
    made = _run([str(BIN / "p2c"), "sample", str(sample), "--scale", "3", "--format", "csv"], db, tmp_path)
    assert made.code == 0, made.stderr
    loaded = _run(
        [str(BIN / "p2c"), "load", str(sample / "USMF"), "--company", "USMF", "--db", str(db)], db, tmp_path
    )
    assert loaded.code == 0, loaded.stdout + loaded.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        landed = con.execute("select * from raw.account order by _source_file, _source_row").fetchall()
        (definition,) = con.execute(
            "select sql from duckdb_views() where schema_name = 'raw' and view_name = 'account'"
        ).fetchone() or (None,)
    assert landed, "the sample landed no account"

    run = _dbt(["build"], db, tmp_path)
    assert run.code == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert _hook_statements(run.log) == []
    with duckdb.connect(str(db), read_only=True) as con:
        assert (
            con.execute("select * from raw.account order by _source_file, _source_row").fetchall() == landed
        )
        assert con.execute(
            "select sql from duckdb_views() where schema_name = 'raw' and view_name = 'account'"
        ).fetchone() == (definition,)
        (accounts,) = con.execute("select count(*) from dualwrite.account").fetchone() or (0,)
    assert accounts > 0  # the landed accounts went through the models
