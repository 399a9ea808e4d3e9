"""`p2c unload`: a wrongly loaded file is taken back out, its rows leave raw.<table>, the history stays."""

from __future__ import annotations

from pathlib import Path

import duckdb
from typer.testing import CliRunner

from p2c.cli import app
from p2c.errors import ExitCode

ACCOUNTS = "accountnumber,name\nA-1,Contoso\nA-2,Fabrikam\n"
MORE = "accountnumber,name\nA-3,Litware\n"


def _count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute(sql).fetchall()[0][0])


def test_unload_takes_the_file_out_and_keeps_the_history(tmp_path: Path) -> None:
    db = tmp_path / "u.duckdb"
    wrong, right = tmp_path / "wrong.csv", tmp_path / "right.csv"
    wrong.write_text(ACCOUNTS, encoding="utf-8")
    right.write_text(MORE, encoding="utf-8")
    runner = CliRunner()
    for path in (wrong, right):
        assert runner.invoke(app, ["load", str(path), "--db", str(db), "--company", "USMF"]).exit_code == 0
    assert _count(db, "select count(*) from raw.account") == 3

    unloaded = runner.invoke(app, ["unload", str(wrong), "--db", str(db)])
    assert unloaded.exit_code == ExitCode.OK, unloaded.output
    assert "unloaded" in unloaded.stdout and "2 rows of account" in unloaded.stdout
    assert _count(db, "select count(*) from raw.account") == 1
    assert _count(db, f"select count(*) from raw._files where file = '{wrong.resolve()}'") == 0
    assert _count(db, "select count(*) from raw._loads where status = 'unloaded'") == 1

    # not landed (any more): exit 2 with the reason, nothing changes
    again = runner.invoke(app, ["unload", str(wrong), "--db", str(db)])
    assert again.exit_code == ExitCode.CANNOT_RUN
    assert "is not landed in this database" in again.stderr
    # loaded again, it lands again (it is not 'unchanged': its rows were taken out)
    reloaded = runner.invoke(app, ["load", str(wrong), "--db", str(db), "--company", "USMF"])
    assert reloaded.exit_code == 0
    assert _count(db, "select count(*) from raw.account") == 3
