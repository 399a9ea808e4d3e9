"""Re-loads: same content adds nothing, a changed file replaces its rows, a failing file changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import xlsxwriter

Run = Callable[..., Any]
Query = Callable[..., list[tuple[Any, ...]]]

V1 = "Account Number;Account Name\r\nA1;One\r\nA2;Two\r\n"
V2 = "Account Number;Account Name\r\nA1;One (renamed)\r\n"


def snapshot(query: Query) -> dict[str, list[tuple[Any, ...]]]:
    """Every landing-zone relation except the load log, each sorted: what 'the database' holds."""
    names = query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw', 'raw_files') and table_name <> '_loads' order by all"
    )
    return {
        f"{schema}.{name}": query(f'select * from "{schema}"."{name}" order by all') for schema, name in names
    }


def test_same_file_again_adds_nothing(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(V1, encoding="utf-8")
    load_run(path)
    before = snapshot(load_query)
    [again] = load_run(path)
    assert (again.status, again.entity, again.rows_read, again.error) == ("unchanged", "account", 0, None)
    copy = tmp_path / "copy-of-accounts.csv"
    copy.write_text(V1, encoding="utf-8")
    [duplicate] = load_run(copy)
    assert (duplicate.status, duplicate.error) == (
        "unchanged",
        f"same content already landed from {path.resolve()}",
    )
    assert snapshot(load_query) == before
    assert load_query("select status from raw._loads order by started_at") == [
        ("landed",),
        ("unchanged",),
        ("unchanged",),
    ]


def test_changed_file_replaces_its_rows_only(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    path = tmp_path / "accounts.csv"
    other = tmp_path / "more-accounts.csv"
    path.write_text(V1, encoding="utf-8")
    other.write_text("Account Number;Account Name\r\nB1;Bee\r\n", encoding="utf-8")
    load_run(path, other)
    path.write_text(V2, encoding="utf-8")
    [result] = load_run(path)
    assert (result.status, result.rows_read, result.rows_landed) == ("replaced", 1, 1)
    assert load_query("select accountnumber, name, _source_row from raw.account order by 1") == [
        ("A1", "One (renamed)", 1),
        ("B1", "Bee", 1),
    ]
    assert load_query("select count(*) from information_schema.tables where table_schema = 'raw_files'") == [
        (2,)
    ]
    # The same content loaded for another legal entity is a different landing, replacing the first.
    [again] = load_run(path, company="USMF")
    assert again.status == "replaced"
    assert load_query("select accountnumber, _company from raw.account order by 1") == [
        ("A1", "USMF"),
        ("B1", None),
    ]


def test_replaced_file_drops_its_old_rejects(tmp_path: Path, load_run: Run, load_query: Query) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("Account Number,Account Name\nA1\nA2,Two\n", encoding="utf-8")
    load_run(path)
    assert load_query("select data_row from raw._rejects") == [(1,)]
    path.write_text("Account Number,Account Name\nA1,One\nA2,Two\n", encoding="utf-8")
    load_run(path)
    assert load_query("select count(*) from raw._rejects") == [(0,)]
    assert load_query("select accountnumber, _source_row from raw.account order by 2") == [
        ("A1", 1),
        ("A2", 2),
    ]


def test_a_failing_new_version_leaves_the_database_exactly_as_before(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    path = tmp_path / "accounts.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Accounts").write_row(0, 0, ["Account Number", "Account Name"])
    book.close()
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("First Name,Last Name\nÅsa,Ek\n", encoding="utf-8")
    load_run(path, csv_file)
    before = snapshot(load_query)
    # New version of the workbook: sheet 1 lands (inside the transaction), sheet 2 fails -> all rolled back.
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Accounts").write_row(0, 0, ["Account Number", "Account Name"])
    book.get_worksheet_by_name("Accounts").write_row(1, 0, ["A1", "One"])
    book.add_worksheet("Junk").write_row(0, 0, ["nothing", "known"])
    book.close()
    # New version of the CSV with a header set of another entity, loaded with a wrong --entity.
    csv_file.write_text("Product ID,List Price,Name\nP1,10,Widget\n", encoding="utf-8")
    [workbook] = load_run(path)
    [wrong_entity] = load_run(csv_file, entity="contact")
    assert (workbook.status, workbook.error) == (
        "failed",
        "sheet 'Junk': no header is a known column of any entity; pass --entity to load it anyway",
    )
    assert (wrong_entity.status, wrong_entity.error) == (
        "failed",
        "--entity contact does not match the headers: they belong to product "
        "(3 of 3 headers are product columns, 0 are contact columns)",
    )
    assert snapshot(load_query) == before
    assert load_query("select count(*) from raw._loads where status = 'failed'") == [(2,)]


def test_hash_in_background_for_new_sizes_gives_the_same_provenance(
    tmp_path: Path, load_run: Run, load_query: Query, monkeypatch: Any
) -> None:
    import hashlib

    from loaders import landing

    monkeypatch.setattr(landing, "HASH_IN_BACKGROUND_BYTES", 0)
    path = tmp_path / "accounts.csv"
    path.write_text(V1, encoding="utf-8")
    [first] = load_run(path)
    sha = hashlib.sha256(V1.encode()).hexdigest()
    assert (first.status, first.sha256) == ("landed", sha)
    assert load_query("select distinct _source_sha256 from raw.account") == [(sha,)]
    assert load_query("select sha256, file_size from raw._files") == [(sha, len(V1.encode()))]
    [second] = load_run(path)  # same size -> hashed first -> nothing to do
    assert second.status == "unchanged"
    path.write_text(V2, encoding="utf-8")
    [third] = load_run(path)
    assert (third.status, third.sha256) == ("replaced", hashlib.sha256(V2.encode()).hexdigest())
