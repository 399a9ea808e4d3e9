"""The loader's connection writes row groups of LANDING_ROW_GROUP_SIZE rows (so DuckDB writes them in
parallel), keeps every row in file order, and leaves an ordinary DuckDB file behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import xlsxwriter

from loaders.raw_schema import LANDING_ROW_GROUP_SIZE, connect_landing_zone

Run = Callable[..., Any]
Query = Callable[..., list[tuple[Any, ...]]]
ROWS = 2 * LANDING_ROW_GROUP_SIZE + 5  # three row groups: two full ones and five rows


def row_groups(load_query: Query, entity: str) -> list[int]:
    tables = load_query("select file_table from raw._files where entity = ? order by loaded_at", [entity])
    count = "select count(distinct row_group_id) from pragma_storage_info(?)"
    return [load_query(count, [f'raw_files."{table}"'])[0][0] for (table,) in tables]


def test_a_csv_lands_in_row_groups_of_the_landing_size_and_in_file_order(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text("Account Number,Account Name\n" + "".join(f"A{i},Name {i}\n" for i in range(1, ROWS + 1)))
    assert [r.rows_landed for r in load_run(path, company="USMF")] == [ROWS]
    assert row_groups(load_query, "account") == [3]
    assert load_query(
        "select count(*), count(*) filter (where accountnumber = 'A' || _source_row) from raw.account"
    ) == [(ROWS, ROWS)]


def test_a_workbook_lands_in_row_groups_of_the_landing_size_and_in_sheet_order(
    tmp_path: Path, load_run: Run, load_query: Query
) -> None:
    path = tmp_path / "accounts.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Account")
    sheet.write_row(0, 0, ["(Do Not Modify) Account", "Account Number"])
    for row in range(1, ROWS + 1):
        sheet.write_string(row, 0, f"id-{row}")
        sheet.write_string(row, 1, f"A{row}")
    book.close()
    assert [r.rows_landed for r in load_run(path, company="USMF")] == [ROWS]
    assert row_groups(load_query, "account") == [3]
    assert load_query(
        "select count(*), count(*) filter (where accountnumber = 'A' || _source_row"
        " and accountid = 'id-' || _source_row) from raw.account"
    ) == [(ROWS, ROWS)]


def test_the_landing_connection_spills_beside_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "p2c.duckdb"
    con = connect_landing_zone(db)
    try:
        assert con.execute("select current_setting('temp_directory')").fetchone() == (f"{db}.tmp",)
        con.execute("create table t as select 1 as one")
    finally:
        con.close()
    assert db.is_file()
