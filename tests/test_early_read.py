"""The console script starts parsing `p2c load`'s first workbook before the CLI is imported
(loaders.early_read), and the load takes that parse over instead of reading the file a second time."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import xlsxwriter

from loaders import early_read, landing, load, xlsx_reader
from loaders.landing import LoadOptions
from loaders.load import load_paths

Query = Callable[..., list[tuple[Any, ...]]]


def write_accounts(path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Account")
    sheet.write_row(0, 0, ["(Do Not Modify) Account", "Account Name", "Account Number"])
    sheet.write_row(1, 0, ["a-1", "Fourth Coffee", "ACC1"])
    sheet.write_row(2, 0, ["a-2", "Contoso", "ACC2"])
    book.close()
    return path


@pytest.fixture(autouse=True)
def no_parse_left_behind() -> Iterator[None]:
    yield
    early_read._started.clear()


def test_only_the_first_xlsx_file_of_a_load_is_read_early(tmp_path: Path) -> None:
    first = write_accounts(tmp_path / "first.xlsx")
    second = write_accounts(tmp_path / "second.XLSX")
    csv = tmp_path / "accounts.csv"
    csv.write_text("Account Number\nACC1\n")
    db = str(tmp_path / "p2c.duckdb")
    argv = ["p2c", "load", str(csv), str(tmp_path / "missing.xlsx"), str(first), str(second)]
    assert early_read.start_from_argv(argv) == first
    assert early_read.take(second) is None
    parse = early_read.take(first)
    assert parse is not None and [sheet.name for sheet in parse.result()] == ["Account"]
    assert early_read.take(first) is None  # handed over once
    for argv in (
        ["p2c", "load", "--db", db, str(tmp_path / "missing.xlsx"), str(csv)],
        ["p2c", "load", str(first), "--help"],
        ["p2c", "upload", str(first)],
        ["p2c", "load"],
    ):
        assert early_read.start_from_argv(argv) is None, argv
        assert early_read.take(first) is None


def test_a_file_named_xlsx_that_is_no_workbook_is_judged_by_its_content(
    tmp_path: Path, load_db: Path
) -> None:
    old = tmp_path / "renamed.xlsx"  # an OLE2 container (an .xls renamed), not a zip: its early parse fails
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert early_read.start_from_argv(["p2c", "load", str(old)]) == old
    results = load_paths([old], load_db, LoadOptions())[1]
    assert [(r.status, r.error) for r in results] == [
        ("failed", "legacy Excel 97-2003 workbook (.xls): open it in Excel and save it as .xlsx or CSV")
    ]


def test_the_load_takes_over_the_early_parse(
    tmp_path: Path, load_db: Path, load_query: Query, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_accounts(tmp_path / "accounts.xlsx")
    parsed: list[Path] = []
    real = xlsx_reader.read_workbook

    def counting(workbook: Path) -> list[xlsx_reader.Sheet]:
        parsed.append(workbook)
        return real(workbook)

    for module in (xlsx_reader, load, landing):
        monkeypatch.setattr(module, "read_workbook", counting)
    assert early_read.start_from_argv(["p2c", "load", "--db", str(load_db), "--company", "USMF", str(path)])
    results = load_paths([path], load_db, LoadOptions(company="USMF"))[1]
    assert [(r.entity, r.status, r.rows_landed) for r in results] == [("account", "landed", 2)]
    assert parsed == [path]  # once: the load did not read it again
    assert load_query("select accountid, name, accountnumber from raw.account order by 1") == [
        ("a-1", "Fourth Coffee", "ACC1"),
        ("a-2", "Contoso", "ACC2"),
    ]


def test_the_console_script_lands_a_workbook_and_skips_it_when_unchanged(tmp_path: Path) -> None:
    path = write_accounts(tmp_path / "accounts.xlsx")
    db = tmp_path / "p2c.duckdb"
    script = Path(sys.executable).with_name("p2c")  # the console script pyproject.toml installs
    assert script.is_file(), script
    for _ in range(2):  # the second time the early parse is for nothing: the file is unchanged
        done = subprocess.run(
            [str(script), "load", str(path), "--db", str(db), "--company", "USMF"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select status from raw._loads order by started_at").fetchall() == [
            ("landed",),
            ("unchanged",),
        ]
        assert con.execute("select count(*) from raw.account").fetchone() == (2,)
