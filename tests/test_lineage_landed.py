"""What the loader logged about landed files (raw._loads) reaches the lineage: the files per raw table,
and the headers exactly as seen per file once the loader logs them (column `headers`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from p2c.lineage.landed import LandedHeader, read_landed

LOADS = """create table raw._loads (
    load_id varchar, file varchar, sheet varchar, entity varchar, status varchar{extra}
)"""


def _db(path: Path, with_headers: bool) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema raw")
        con.execute(
            LOADS.format(
                extra=", headers struct(header varchar, logical_name varchar)[]" if with_headers else ""
            )
        )
        rows = [
            ("l1", "Kontakter.csv", None, "contact", "landed"),
            ("l1", "Accounts.xlsx", "Active Accounts", "account", "landed"),
            ("l2", "broken.csv", None, "contact", "failed"),
        ]
        for row in rows:
            if with_headers:
                header = "Kontaktnummer" if row[3] == "contact" else "Account Number"
                logical = "msdynce_contactnumber" if row[3] == "contact" else "accountnumber"
                con.execute(
                    "insert into raw._loads values (?, ?, ?, ?, ?, [{'header': ?, 'logical_name': ?}])",
                    [*row, header, logical],
                )
            else:
                con.execute("insert into raw._loads values (?, ?, ?, ?, ?)", list(row))
    finally:
        con.close()
    return path


def test_files_per_table_without_header_log(tmp_path: Path) -> None:
    landed = read_landed(_db(tmp_path / "p2c.duckdb", with_headers=False))
    assert dict(landed.files_by_table) == {"account": ["Accounts.xlsx"], "contact": ["Kontakter.csv"]}
    assert dict(landed.headers) == {}


def test_headers_as_seen_per_file(tmp_path: Path) -> None:
    landed = read_landed(_db(tmp_path / "p2c.duckdb", with_headers=True))
    assert dict(landed.headers) == {
        ("contact", "msdynce_contactnumber"): [LandedHeader("Kontakter.csv", None, "Kontaktnummer")],
        ("account", "accountnumber"): [LandedHeader("Accounts.xlsx", "Active Accounts", "Account Number")],
    }


def test_no_database_no_landed_files(tmp_path: Path) -> None:
    landed = read_landed(tmp_path / "missing.duckdb")
    assert (dict(landed.files_by_table), dict(landed.headers)) == ({}, {})


def _logged_file(tmp_path: Path, text: str, logged_sha: str | None = None) -> Path:
    export = tmp_path / "Mina kontakter.csv"
    export.write_text(text, encoding="utf-8")
    sha = logged_sha or hashlib.sha256(export.read_bytes()).hexdigest()
    db = tmp_path / "p2c.duckdb"
    con = duckdb.connect(str(db))
    try:
        con.execute("create schema raw")
        con.execute(
            "create table raw._loads (file varchar, sheet varchar, sha256 varchar, entity varchar, "
            "file_type varchar, encoding varchar, status varchar)"
        )
        con.execute(
            "insert into raw._loads values (?, null, ?, 'contact', 'csv', 'utf-8', 'landed')",
            [str(export), sha],
        )
    finally:
        con.close()
    return db


def test_headers_reread_from_the_unchanged_file(tmp_path: Path) -> None:
    db = _logged_file(tmp_path, "Kontaktnummer;Förnamn;Okänd kolumn\nCON-1;Oliver;x\n")
    file = str(tmp_path / "Mina kontakter.csv")
    assert dict(read_landed(db).headers) == {
        ("contact", "msdynce_contactnumber"): [LandedHeader(file, None, "Kontaktnummer")],
        ("contact", "firstname"): [LandedHeader(file, None, "Förnamn")],
        ("contact", "Okänd kolumn"): [LandedHeader(file, None, "Okänd kolumn")],
    }


def test_a_changed_file_gives_no_headers(tmp_path: Path) -> None:
    db = _logged_file(tmp_path, "Kontaktnummer;Förnamn\nCON-1;Oliver\n", logged_sha="0" * 64)
    assert dict(read_landed(db).headers) == {}
