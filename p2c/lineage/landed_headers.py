"""What the loader recorded about the landed files (raw._loads): which files fed each raw table and the
headers exactly as seen in each file (the loader logs every header with the raw column it landed in).
Read-only: the pack never writes to the DB."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb

from loaders.catalog import connect_file


@dataclass(frozen=True)
class LandedHeader:
    file: str
    sheet: str | None
    header: str


@dataclass
class Landed:
    files_by_table: dict[str, list[str]]
    headers: dict[tuple[str, str], list[LandedHeader]]  # (table, logical name) -> headers seen


def _has_load_log(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = '_loads'"
    ).fetchone()
    return bool(found and found[0])


def read_landed(db_path: Path) -> Landed:
    if not db_path.is_file():
        return Landed(files_by_table=defaultdict(list), headers=defaultdict(list))
    con = connect_file(db_path, read_only=True)
    try:
        return landed_from(con)
    finally:
        con.close()


def landed_from(con: duckdb.DuckDBPyConnection, file: str | None = None, sheet: str | None = None) -> Landed:
    """Files per table and headers per (table, logical name); only of one file (and sheet) when given."""
    landed = Landed(files_by_table=defaultdict(list), headers=defaultdict(list))
    if not _has_load_log(con):
        return landed  # nothing was ever loaded into this database
    # only files landed now: a file taken out again (`p2c unload`) or replaced keeps its history in _loads
    where = "entity is not null and status <> 'failed' and file in (select file from raw._files)"
    params: list[str | None] = []
    if file is not None:
        where += " and file = ? and sheet is not distinct from ?"
        params = [file, sheet]
    for entity, landed_file in con.execute(
        f"select distinct entity, file from raw._loads where {where} order by 1, 2", params
    ).fetchall():
        landed.files_by_table[entity].append(landed_file)
    rows = con.execute(
        f"select entity, file, sheet, unnest(headers) from raw._loads where {where}", params
    ).fetchall()
    for entity, landed_file, landed_sheet, item in rows:
        if item.get("logical_name"):
            key = (entity, str(item["logical_name"]))
            landed.headers[key].append(LandedHeader(landed_file, landed_sheet, str(item.get("header"))))
    return landed
