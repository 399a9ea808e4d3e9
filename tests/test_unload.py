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


def test_unload_of_a_folder_takes_out_every_file_landed_under_it(tmp_path: Path) -> None:
    db = tmp_path / "u.duckdb"
    exports, other = tmp_path / "exports" / "USMF", tmp_path / "other"
    (exports / "late").mkdir(parents=True)
    other.mkdir()
    (exports / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    (exports / "late" / "more accounts.csv").write_text(MORE, encoding="utf-8")
    (other / "kept.csv").write_text("accountnumber,name\nA-9,Kept\n", encoding="utf-8")
    runner = CliRunner()
    for folder in (exports, other):
        assert runner.invoke(app, ["load", str(folder), "--db", str(db), "--company", "USMF"]).exit_code == 0
    assert _count(db, "select count(*) from raw.account") == 4

    unloaded = runner.invoke(app, ["unload", str(exports), "--db", str(db)])
    assert unloaded.exit_code == ExitCode.OK, unloaded.output
    assert "2 rows of account" in unloaded.stdout and "1 rows of account" in unloaded.stdout
    assert _count(db, "select count(*) from raw.account") == 1
    assert _count(db, "select count(*) from raw._files") == 1
    assert _count(db, "select count(*) from raw._loads where status = 'unloaded'") == 2

    # a folder gone from the disk is unloaded by what was landed under it as well
    (other / "kept.csv").unlink()
    other.rmdir()
    gone = runner.invoke(app, ["unload", str(other), "--db", str(db)])
    assert gone.exit_code == ExitCode.OK, gone.output
    assert _count(db, "select count(*) from raw._files") == 0


def test_unload_of_a_folder_with_nothing_landed_under_it_says_so(tmp_path: Path) -> None:
    db = tmp_path / "u.duckdb"
    landed, empty = tmp_path / "landed", tmp_path / "never loaded"
    landed.mkdir()
    empty.mkdir()
    (landed / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["load", str(landed), "--db", str(db), "--company", "USMF"]).exit_code == 0

    refused = runner.invoke(app, ["unload", str(empty), "--db", str(db)])
    assert refused.exit_code == ExitCode.CANNOT_RUN
    assert f"nothing under {empty.resolve()} is landed in this database" in refused.stderr
    assert "Traceback" not in refused.output
    assert _count(db, "select count(*) from raw._files") == 1
