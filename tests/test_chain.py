"""The whole chain with the real commands, as `make demo` runs it: p2c sample -> p2c load (three folders) ->
p2c build, into a fresh DuckDB file. Then the migration's promises are checked on the result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import Result
from typer.testing import CliRunner

from p2c.build_summary import ModelRelation, manifest_models
from p2c.cli import app
from p2c.settings import PROJECT_DIR

REINITIALIZED = {"account", "contact", "salesorder", "salesorderdetail", "quote", "quotedetail"}
ARCHIVED = {"invoice", "invoicedetail", "product"}  # initial sync only: kept, not re-initialized
ENTITIES = REINITIALIZED | ARCHIVED


@dataclass(frozen=True)
class Chain:
    db: Path
    results: dict[str, Result]
    models: dict[str, ModelRelation]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    root = tmp_path_factory.mktemp("chain")
    db = root / "chain.duckdb"
    sample_dir = root / "sample"
    steps = {
        "sample": ["sample", str(sample_dir)],
        "load USMF": ["load", str(sample_dir / "USMF"), "--company", "USMF", "--db", str(db)],
        "load GBSI": ["load", str(sample_dir / "GBSI"), "--company", "GBSI", "--db", str(db)],
        "load multi-company": ["load", str(sample_dir / "multi-company"), "--db", str(db)],
        "build": ["build", "--db", str(db)],
    }
    with pytest.MonkeyPatch.context() as patch:
        # dbt's target/ and logs/ go to the tmp dir: the assertions read the manifest of exactly this run
        patch.setenv("DBT_TARGET_PATH", str(root / "target"))
        patch.setenv("DBT_LOG_PATH", str(root / "logs"))
        runner = CliRunner()
        results: dict[str, Result] = {}
        for name, args in steps.items():
            results[name] = runner.invoke(app, args)
            if results[name].exit_code != 0:
                break
    return Chain(db=db, results=results, models=manifest_models(PROJECT_DIR, root / "target"))


def test_every_command_exits_0(chain: Chain) -> None:
    assert list(chain.results) == ["sample", "load USMF", "load GBSI", "load multi-company", "build"]
    for name, result in chain.results.items():
        assert result.exit_code == 0, f"{name}:\n{result.output}\n{result.exception!r}"


def test_every_target_table_has_rows(chain: Chain) -> None:
    tables = chain.query(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema in ('dualwrite', 'archive') and table_name not like 'dualwrite_%'"
    )
    by_schema = {schema: {name for s, name in tables if s == schema} for schema in ("dualwrite", "archive")}
    assert by_schema["dualwrite"] >= REINITIALIZED
    assert by_schema["archive"] >= ARCHIVED
    for schema, name in tables:
        (rows,) = chain.query(f'select count(*) from {schema}."{name}"')[0]
        assert rows > 0, f"{schema}.{name} is empty"


def test_reconciliation_balances(chain: Chain) -> None:
    reconciliation = chain.models["dualwrite_reconciliation"].sql_name
    rows = chain.query(f"select entity, source_rows, target_rows, rejected_rows from {reconciliation}")
    assert {entity for entity, *_ in rows} == ENTITIES
    for entity, source_rows, target_rows, rejected_rows in rows:
        assert source_rows == target_rows + rejected_rows, entity
        # the source side is what was landed: nothing lost between raw and the reconciliation
        (landed,) = chain.query(f'select count(*) from raw."{entity}"')[0]
        assert source_rows == landed > 0, entity


def test_reconciliation_reaches_back_to_the_rows_read_from_the_files(chain: Chain) -> None:
    reconciliation = chain.models["dualwrite_reconciliation"].sql_name
    rows = chain.query(
        f"select entity, file_rows, loader_rejected_rows, source_rows from {reconciliation} order by entity"
    )
    for entity, file_rows, loader_rejected_rows, source_rows in rows:
        assert file_rows == source_rows + loader_rejected_rows, entity
    # the sample's one ragged row (GBSI contacts CSV) is the only row the loader refuses
    assert {entity: rejected for entity, _, rejected, _ in rows if rejected} == {"contact": 1}
    (loader_rejects,) = chain.query("select count(*) from raw._rejects")[0]
    assert loader_rejects == 1


def test_rejects_have_reasons(chain: Chain) -> None:
    rejects = chain.models["dualwrite_rejects"].sql_name
    rows = chain.query(f"select entity, reason from {rejects}")
    assert rows, "the sample set contains records that must be rejected"
    assert all(reason and reason.strip() for _, reason in rows)
    assert {entity for entity, _ in rows} <= ENTITIES
    # each reject is accounted for in the reconciliation
    (rejected_total,) = chain.query(
        f"select sum(rejected_rows) from {chain.models['dualwrite_reconciliation'].sql_name}"
    )[0]
    assert rejected_total == len(rows)


def test_same_account_number_in_two_companies(chain: Chain) -> None:
    shared = chain.query(
        "select accountnumber from dualwrite.account where accountnumber is not null"
        " group by accountnumber having count(distinct msdyn_company) >= 2"
    )
    assert shared, (
        "dual-write keys accounts by (accountnumber, company): a number may repeat across companies"
    )
    (duplicates,) = chain.query(
        "select count(*) from (select accountnumber, msdyn_company from dualwrite.account"
        " group by accountnumber, msdyn_company having count(*) > 1)"
    )[0]
    assert duplicates == 0


def test_build_summary_printed(chain: Chain) -> None:
    output = chain.results["build"].output
    assert "target tables" in output
    assert "reconciliation" in output
    assert "OK  seeds:" in output
