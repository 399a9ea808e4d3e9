"""What the loader logged about landed files (raw._loads) reaches the lineage: the files per raw table,
and the headers exactly as seen per file (column `headers`)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from p2c.lineage.landed_headers import LandedHeader, read_landed

LOADS = """create table raw._loads (
    load_id varchar, file varchar, sheet varchar, entity varchar, status varchar,
    headers struct(header varchar, logical_name varchar)[]
)"""


def _db(path: Path) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema raw")
        con.execute(LOADS)
        # the files landed now (the failed load of broken.csv landed nothing)
        con.execute(
            "create table raw._files as select * from (values ('Kontakter.csv'), ('Accounts.xlsx')) f(file)"
        )
        rows = [
            ("l1", "Kontakter.csv", None, "contact", "landed"),
            ("l1", "Accounts.xlsx", "Active Accounts", "account", "landed"),
            ("l2", "broken.csv", None, "contact", "failed"),
        ]
        for row in rows:
            header = "Kontaktnummer" if row[3] == "contact" else "Account Number"
            logical = "msdynce_contactnumber" if row[3] == "contact" else "accountnumber"
            con.execute(
                "insert into raw._loads values (?, ?, ?, ?, ?, [{'header': ?, 'logical_name': ?}])",
                [*row, header, logical],
            )
    finally:
        con.close()
    return path


def test_headers_as_seen_per_file(tmp_path: Path) -> None:
    landed = read_landed(_db(tmp_path / "p2c.duckdb"))
    # a failed load contributes neither a file nor headers
    assert dict(landed.files_by_table) == {"account": ["Accounts.xlsx"], "contact": ["Kontakter.csv"]}
    assert dict(landed.headers) == {
        ("contact", "msdynce_contactnumber"): [LandedHeader("Kontakter.csv", None, "Kontaktnummer")],
        ("account", "accountnumber"): [LandedHeader("Accounts.xlsx", "Active Accounts", "Account Number")],
    }


def test_no_database_no_landed_files(tmp_path: Path) -> None:
    landed = read_landed(tmp_path / "missing.duckdb")
    assert (dict(landed.files_by_table), dict(landed.headers)) == ({}, {})
