"""A header the vocabulary does not know lands under its own text; whatever characters it holds, the build
builds afterwards (dbt's unit-test fixtures list every column of a source, quoted)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from loaders.headers import plan_columns, unknown_column_name
from p2c.cli import app
from p2c.errors import ExitCode

ODD = 'Customer "VIP" flag'


def test_quotes_in_an_unknown_header_become_underscores() -> None:
    assert unknown_column_name(ODD) == "Customer _VIP_ flag"
    assert unknown_column_name("O'Brien's  note\n") == "O_Brien_s note"
    plan = plan_columns("account", ["Account Number", ODD])
    assert [(c.header, c.name, c.how) for c in plan.columns][1] == (ODD, "Customer _VIP_ flag", "unknown")


def test_the_build_builds_after_a_header_with_quotes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    export = tmp_path / "accounts.csv"
    quoted = '"' + ODD.replace('"', '""') + '"'  # CSV quoting: the header is `Customer "VIP" flag`
    export.write_text(f"Account Number,Account Name,{quoted}\nACC-9,Contoso,yes\n", encoding="utf-8")
    db = tmp_path / "odd.duckdb"
    runner = CliRunner()
    loaded = runner.invoke(app, ["load", str(export), "--company", "USMF", "--db", str(db)])
    assert loaded.exit_code == ExitCode.OK, loaded.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute('select "Customer _VIP_ flag" from raw.account').fetchall() == [("yes",)]
        [(headers,)] = con.execute("select headers from raw._loads where status = 'landed'").fetchall()
    assert {"position": 3, "header": ODD, "logical_name": "Customer _VIP_ flag", "how": "unknown"} in headers
    built = runner.invoke(app, ["build", "--db", str(db)])
    assert built.exit_code == ExitCode.OK, built.output
