"""`p2c load` on the command line: folders, options, summary and exit code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from p2c.cli import app
from p2c.errors import ExitCode

Query = Callable[..., list[tuple[Any, ...]]]


def make_exports(root: Path) -> None:
    (root / "GBSI" / "nested").mkdir(parents=True)
    (root / "GBSI" / "konton.csv").write_bytes(
        "\ufeffKontonummer;Kontonamn;Status\r\nK1;Malmö AB;Ja\r\n".encode()
    )
    (root / "GBSI" / "nested" / "kontakter.csv").write_bytes(
        "Förnamn;Efternamn\r\nÅsa;Ek\r\n".encode("cp1252")
    )
    (root / "GBSI" / "README.md").write_text("not an export, ignored in a folder\n")
    (root / "GBSI" / ".hidden.csv").write_text("ignored\n")


def test_folder_load_exit_zero_and_summary(tmp_path: Path, load_db: Path, load_query: Query) -> None:
    make_exports(tmp_path)
    result = CliRunner().invoke(
        app, ["load", str(tmp_path / "GBSI"), "--db", str(load_db), "--company", "GBSI"]
    )
    assert result.exit_code == 0, result.output
    assert "konton.csv" in result.output and "kontakter.csv" in result.output
    assert load_query("select accountnumber, name, statecode, _company from raw.account") == [
        ("K1", "Malmö AB", "Ja", "GBSI")
    ]
    assert load_query("select firstname, lastname, _company from raw.contact") == [("Åsa", "Ek", "GBSI")]
    assert load_query("select entity, encoding, delimiter, status from raw._loads order by entity") == [
        ("account", "utf-8-sig", ";", "landed"),
        ("contact", "cp1252", ";", "landed"),
    ]


def test_exit_code_is_one_when_a_file_cannot_be_read_but_others_still_load(
    tmp_path: Path, load_db: Path, load_query: Query
) -> None:
    make_exports(tmp_path)
    broken = tmp_path / "legacy.xls"
    broken.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64)
    result = CliRunner().invoke(
        app, ["load", str(broken), str(tmp_path / "GBSI" / "konton.csv"), "--db", str(load_db)]
    )
    assert result.exit_code == 1
    assert f"error: {broken.resolve()}: legacy Excel 97-2003 workbook (.xls)" in " ".join(
        result.output.split()
    )
    assert load_query("select count(*) from raw.account") == [(1,)]


def test_entity_and_encoding_options(tmp_path: Path, load_db: Path, load_query: Query) -> None:
    path = tmp_path / "names.csv"
    path.write_bytes("Name;Status\r\nWidget Ö;Aktiv\r\n".encode("cp1252"))
    ambiguous = CliRunner().invoke(app, ["load", str(path), "--db", str(load_db)])
    assert ambiguous.exit_code == 1
    assert "equally" in ambiguous.output
    forced = CliRunner().invoke(
        app, ["load", str(path), "--db", str(load_db), "--entity", "product", "--encoding", "latin-1"]
    )
    assert forced.exit_code == 0, forced.output
    assert load_query("select name, statecode from raw.product") == [("Widget Ö", "Aktiv")]
    assert load_query("select detected_by, encoding from raw._loads where status = 'landed'") == [
        ("--entity", "iso8859-1")
    ]


def test_nothing_to_load_is_an_error(tmp_path: Path, load_db: Path) -> None:
    result = CliRunner().invoke(app, ["load", str(tmp_path), "--db", str(load_db)])
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "no export files found" in result.stderr


def test_rejected_rows_are_printed_with_file_row_line_and_column(tmp_path: Path, load_db: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("Account Number;Account Name\nA1;One\nA2\nA3;Three;extra\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["load", str(path), "--db", str(load_db)])
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines() if line.startswith("rejected:")]
    where = f"rejected: {path.resolve()}: data row"
    assert lines == [
        f"{where} 2 (line 3), column 2 (name): too few fields: expected 2, found 1",
        f"{where} 3 (line 4), column 3: too many fields: expected 2, found 3",
    ]
