"""Every database file name works, for every command: the default `./p2c.duckdb`, a file named after one of
the project's schemas (`raw.duckdb`, `audit.duckdb`...) and an odd name (spaces, dots, parentheses, a quote).

DuckDB names a file's catalog after its stem, so `p2c.duckdb` opened as such makes `p2c.builds` ambiguous
(catalog p2c or schema p2c?), `raw.duckdb` makes `raw._loads` ambiguous, and so on. The whole chain (load ->
build -> lineage pack -> lineage trace -> rejects -> plan -> upload -> results) runs on the default path (no
--db, in a fresh working folder) and on `raw.duckdb` in a folder with an odd name: one dbt build each, on a
tiny sample (`p2c sample --scale 2`). The commands that do not run dbt then run on a copy of the default
database (and its `<db>.target/`) named after every schema a built and uploaded database has, after the
catalogs DuckDB itself has, and with an odd name."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loaders.catalog import CATALOG
from p2c.cli import app
from p2c.database import reading
from p2c.emulator.record_state import RecordStatePolicy
from p2c.emulator.seed import _read_raw
from p2c.emulator.server import running_emulator
from p2c.settings import DEFAULT_DB, project_dir

CLIENT_ID = "p2c-file-names"
SECRET = "file-names-secret"
ODD_NAME = "Q3 run's db.v2 (final)"  # spaces, dots, parentheses, a quote: a file's stem, or a folder
# the schemas of a loaded, built and uploaded database (test_the_names_cover_every_schema checks the list)
SCHEMA_NAMES = (
    "archive",
    "audit",
    "dualwrite",
    "intermediate",
    "main",
    "p2c",
    "raw",
    "raw_files",
    "seeds",
    "staging",
    "upload",
)
# the catalogs of every DuckDB connection, and the one the project attaches the file under
DUCKDB_CATALOGS = ("memory", "system", "temp", CATALOG)
FULL_CHAIN = (
    "load USMF",
    "load GBSI",
    "load multi-company",
    "build",
    "lineage pack",
    "lineage trace",
    "rejects",
    "plan",
    "upload",
    "results",
)


@dataclass
class Chain:
    """The commands run on one database, in order; stops after the first that did not exit 0."""

    db: Path
    db_options: tuple[str, ...]
    steps: dict[str, tuple[tuple[str, ...], int, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(code == 0 for _, code, _ in self.steps.values())

    def run(self, name: str, *args: str) -> None:
        if self.ok:
            command = (*args, *self.db_options)
            result = CliRunner().invoke(app, list(command))
            self.steps[name] = (command, result.exit_code, result.output)

    def failures(self) -> list[tuple[tuple[str, ...], int, str]]:
        return [step for step in self.steps.values() if step[1] != 0]


@contextmanager
def _clean_environment(cwd: Path) -> Iterator[pytest.MonkeyPatch]:
    """None of the caller's P2C_*/DBT_* settings; `cwd` the working folder; dbt's log out of the project."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith(("P2C_", "DBT_", "REQUESTS_CA"))]:
            patch.delenv(name)
        patch.setenv("DBT_LOG_PATH", str(cwd.parent / f"{cwd.name}-dbt-logs"))
        patch.chdir(cwd)
        yield patch


def _an_account_number(db: Path) -> str:
    with reading(db) as con:
        row = con.execute(
            "select accountnumber from dualwrite.account where msdyn_company = 'USMF' order by 1 limit 1"
        ).fetchone()
    assert row is not None
    return str(row[0])


def _run_chain(exports: Path, cwd: Path, db_option: str | None) -> Chain:
    """The whole chain in `cwd`, on `--db <db_option>` or, when None, on the default database (no --db)."""
    cwd.mkdir(parents=True, exist_ok=True)
    chain = Chain(cwd / (db_option or DEFAULT_DB), ("--db", db_option) if db_option else ())
    with _clean_environment(cwd) as patch:
        chain.run("load USMF", "load", str(exports / "USMF"), "--company", "USMF")
        chain.run("load GBSI", "load", str(exports / "GBSI"), "--company", "GBSI")
        chain.run("load multi-company", "load", str(exports / "multi-company"))
        chain.run("build", "build")
        chain.run("lineage pack", "lineage", "pack", "--out", "audit")
        if chain.ok:
            chain.run("lineage trace", "lineage", "trace", "account", "USMF", _an_account_number(chain.db))
        chain.run("rejects", "rejects", "--format", "csv")
        if chain.ok:
            with running_emulator(
                cwd.parent / f"{cwd.name}-emulator.sqlite",
                seed_from=chain.db,
                client_id=CLIENT_ID,
                client_secret=SECRET,
                # the rehearsal of an admin app user: read-only records are tested in test_record_state.py
                record_state=RecordStatePolicy(admins=frozenset({CLIENT_ID})),
            ) as emulator:
                patch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_cert))
                patch.setenv("P2C_TENANT_ID", "p2c-emulator")
                patch.setenv("P2C_AUTHORITY", emulator.authority)
                patch.setenv("P2C_CLIENT_ID", CLIENT_ID)
                patch.setenv("P2C_CLIENT_SECRET", SECRET)
                chain.run("plan", "plan", "--env", emulator.base_url, "--out", "plan.json")
                chain.run("upload", "upload", "--env", emulator.base_url, "--plan", "plan.json")
        chain.run("results", "results")
    return chain


def _box_drawn(chain: Chain) -> list[str]:
    """The commands whose output has box drawing: CliRunner's stdout is not a terminal, so none may."""
    return [
        name
        for name, (_, _, output) in chain.steps.items()
        if any("\u2500" <= ch <= "\u257f" for ch in output)
    ]


def _assert_whole(chain: Chain) -> None:
    assert chain.failures() == []
    assert list(chain.steps) == list(FULL_CHAIN)
    assert _box_drawn(chain) == []
    # the file is where the command line said; DuckDB's spill folder is beside it, not in the working folder
    assert chain.db.is_file()
    assert chain.db.with_name(chain.db.name + ".target").is_dir()
    assert not (chain.db.parent / ".tmp").exists()


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "exports"
    result = CliRunner().invoke(app, ["sample", str(out), "--scale", "2", "--format", "csv"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def default_chain(exports: Path, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """The README's way: a fresh folder, no --db, so every command uses ./p2c.duckdb."""
    return _run_chain(exports, tmp_path_factory.mktemp("default") / "migration", None)


def test_the_whole_chain_runs_on_the_default_database(default_chain: Chain) -> None:
    _assert_whole(default_chain)
    assert default_chain.db.name == "p2c.duckdb"


def test_the_whole_chain_runs_on_a_database_named_raw_in_an_odd_folder(exports: Path, tmp_path: Path) -> None:
    _assert_whole(_run_chain(exports, tmp_path / "migration", f"{ODD_NAME}/raw.duckdb"))


def test_the_names_cover_every_schema_of_a_built_and_uploaded_database(default_chain: Chain) -> None:
    assert default_chain.ok
    with reading(default_chain.db) as con:
        schemas = {
            name
            for (name,) in con.execute(
                "select schema_name from information_schema.schemata where catalog_name = current_database()"
            ).fetchall()
        }
    assert schemas == set(SCHEMA_NAMES)
    assert CATALOG not in schemas


def test_dbt_attaches_the_file_under_the_catalog_name_of_every_p2c_connection() -> None:
    profile = yaml.safe_load((project_dir() / "profiles.yml").read_text(encoding="utf-8"))
    local = profile["p2c_dualwrite"]["outputs"]["local"]
    assert [attached["alias"] for attached in local["attach"]] == [CATALOG]
    assert local["database"] == CATALOG
    assert local["settings"]["schema"] == CATALOG  # what `use` sets, on every cursor dbt opens


@pytest.mark.parametrize("stem", (*SCHEMA_NAMES, *DUCKDB_CATALOGS, ODD_NAME))
def test_commands_without_dbt_work_on_a_database_named_after(
    stem: str, default_chain: Chain, tmp_path: Path
) -> None:
    assert default_chain.ok
    db = tmp_path / f"{stem}.duckdb"
    shutil.copy(default_chain.db, db)
    shutil.copytree(
        default_chain.db.with_name(default_chain.db.name + ".target"), db.with_name(db.name + ".target")
    )
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "more accounts.csv").write_text("accountnumber,name\nA-1,Contoso\n", encoding="utf-8")

    chain = Chain(db, ("--db", str(db)))
    with _clean_environment(tmp_path):
        chain.run("lineage trace", "lineage", "trace", "account", "USMF", _an_account_number(db))
        chain.run("rejects", "rejects", "--format", "json")
        chain.run("results", "results")
        chain.run("load", "load", str(extra), "--company", "USMF")
        chain.run("unload", "unload", str(extra / "more accounts.csv"))
    assert chain.failures() == []
    assert list(chain.steps) == ["lineage trace", "rejects", "results", "load", "unload"]
    assert _box_drawn(chain) == []
    # `p2c emulator --seed-from` reads the landed tables of any file name too
    assert len(_read_raw(db)["account"]) > 0
