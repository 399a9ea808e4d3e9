"""The proof the audit pack carries beside the lineage, read from the built database: the reconciliation per
entity, every rejected row with its reason and its source row, and the landed files with their sha256.

`p2c rejects` exports the same rejects for the people who fix the source data. A rejected row is either one
the loader could not take (`stage` load: raw._rejects, with the row's text as read) or one the models did not
initialize (`stage` build: audit.dualwrite_rejects, with the values of its landed raw row).

Rows are named the way a person finds them: `data_row` counts data rows from 1; `excel_row` is the row
number Excel shows (the header row counted: data row 1 is Excel row 2), for workbook sheets; `line` is the
physical line of a CSV file, when the loader knows it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import duckdb

from loaders.sql import quote_identifier
from p2c.output import Column

REJECTS_RELATION = ("audit", "dualwrite_rejects")
RECONCILIATION_RELATION = ("audit", "dualwrite_reconciliation")
TARGET_STATES_RELATION = ("audit", "dualwrite_target_states")
TARGET_STATE_COLUMNS = (
    Column("entity"),
    Column("state_of"),
    Column("statecode", numeric=True),
    Column("state_label"),
    Column("target_rows", numeric=True),
)
# Dynamics' "Export to Excel" writes the header on row 1, so data row n is on Excel row n + 1.
HEADER_ROWS = 1

REJECT_COLUMNS = (
    Column("stage"),
    Column("entity"),
    Column("company"),
    Column("business_key"),
    Column("reason_code"),
    Column("reason"),
    Column("source_file"),
    Column("source_sheet"),
    Column("data_row", numeric=True),
    Column("excel_row", numeric=True),
    Column("line", numeric=True),
    Column("source_values"),
)
FILE_COLUMNS = (
    Column("file"),
    Column("sheet"),
    Column("entity"),
    Column("company"),
    Column("rows", numeric=True),
    Column("sha256"),
    Column("file_size", numeric=True),
    Column("load_id"),
    Column("loaded_at"),
)


@dataclass
class AuditTables:
    reconciliation_columns: list[str] = field(default_factory=list)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    # target rows per table and state (lines by their parent's): how many quotes are Won before an upload
    target_states: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def relation_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
        " and table_catalog = current_database()",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def excel_row(sheet: str | None, data_row: int | None) -> int | None:
    """The row number Excel shows for a data row of a sheet (None for CSV files)."""
    return None if sheet is None or data_row is None else int(data_row) + HEADER_ROWS


def read_reconciliation(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[dict[str, Any]]]:
    if not relation_exists(con, *RECONCILIATION_RELATION):
        return [], []
    cursor = con.execute('select * from "audit"."dualwrite_reconciliation" order by entity')
    names = [d[0] for d in cursor.description or []]
    return names, [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _landed_values(
    con: duckdb.DuckDBPyConnection, entity: str, wanted: set[tuple[Any, ...]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """(file, sheet, row) -> the raw row's non-empty export values, for the rejected rows of one entity."""
    if not wanted or not relation_exists(con, "raw", entity):
        return {}
    files = sorted({file for file, _, _ in wanted if file is not None})
    if not files:
        return {}
    placeholders = ", ".join("?" for _ in files)
    cursor = con.execute(
        f"select * from raw.{quote_identifier(entity)} where _source_file in ({placeholders})", files
    )
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in _dicts(cursor):
        key = (row.get("_source_file"), row.get("_source_sheet"), row.get("_source_row"))
        if key in wanted:
            found[key] = {k: v for k, v in row.items() if not k.startswith("_") and v not in (None, "")}
    return found


def read_rejects(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every rejected row, loader rejects first, each with where it came from and what it held."""
    rows: list[dict[str, Any]] = []
    if relation_exists(con, "raw", "_rejects"):
        entities = {}
        if relation_exists(con, "raw", "_files"):
            entities = dict(con.execute("select distinct file, entity from raw._files").fetchall())
        if relation_exists(con, "raw", "_loads"):
            for file, entity in con.execute(
                "select distinct file, entity from raw._loads where entity is not null"
            ).fetchall():
                entities.setdefault(file, entity)
        cursor = con.execute(
            "select file, sheet, data_row, line, column_position, column_name, reason, record"
            " from raw._rejects order by file, sheet, data_row"
        )
        for reject in _dicts(cursor):
            column = reject["column_name"] or (
                f"column {reject['column_position']}" if reject["column_position"] is not None else None
            )
            rows.append(
                {
                    "stage": "load",
                    "entity": entities.get(reject["file"]),
                    "company": None,
                    "business_key": None,
                    "reason_code": "unreadable_row",
                    "reason": reject["reason"] + (f" ({column})" if column else ""),
                    "source_file": reject["file"],
                    "source_sheet": reject["sheet"],
                    "data_row": reject["data_row"],
                    "excel_row": excel_row(reject["sheet"], reject["data_row"]),
                    "line": reject["line"],
                    "source_values": reject["record"],
                }
            )
    if relation_exists(con, *REJECTS_RELATION):
        cursor = con.execute(
            "select entity, company, business_key, reason_code, reason,"
            " _source_file, _source_sheet, _source_row"
            ' from "audit"."dualwrite_rejects" order by entity, _source_file, _source_sheet, _source_row'
        )
        built = _dicts(cursor)
        wanted: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
        for reject in built:
            wanted[reject["entity"]].add(
                (reject["_source_file"], reject["_source_sheet"], reject["_source_row"])
            )
        values = {entity: _landed_values(con, entity, keys) for entity, keys in wanted.items()}
        for reject in built:
            key = (reject["_source_file"], reject["_source_sheet"], reject["_source_row"])
            rows.append(
                {
                    "stage": "build",
                    "entity": reject["entity"],
                    "company": reject["company"],
                    "business_key": reject["business_key"],
                    "reason_code": reject["reason_code"],
                    "reason": reject["reason"],
                    "source_file": reject["_source_file"],
                    "source_sheet": reject["_source_sheet"],
                    "data_row": reject["_source_row"],
                    "excel_row": excel_row(reject["_source_sheet"], reject["_source_row"]),
                    "line": None,
                    "source_values": values.get(reject["entity"], {}).get(key),
                }
            )
    return rows


def read_files(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The files (and sheets) landed now, with their sha256 and the rows each contributed."""
    if not relation_exists(con, "raw", "_files"):
        return []
    rows_by_file: dict[tuple[Any, Any], Any] = {}
    if relation_exists(con, "raw", "_loads"):
        rows_by_file = {
            (file, sheet): landed
            for file, sheet, landed in con.execute(
                "select l.file, l.sheet, l.rows_landed from raw._loads l join raw._files f"
                " on l.load_id = f.load_id and l.file = f.file and l.sheet is not distinct from f.sheet"
            ).fetchall()
        }
    files = _dicts(
        con.execute(
            "select file, sheet, entity, company, sha256, file_size, load_id, loaded_at from raw._files"
            " order by file, sheet_index"
        )
    )
    for row in files:
        row["rows"] = rows_by_file.get((row["file"], row["sheet"]))
    return files


def read_audit_tables(con: duckdb.DuckDBPyConnection) -> AuditTables:
    tables = AuditTables()
    tables.reconciliation_columns, tables.reconciliation = read_reconciliation(con)
    if not tables.reconciliation_columns:
        tables.notes.append("audit.dualwrite_reconciliation is not built: no reconciliation")
    if not relation_exists(con, *REJECTS_RELATION):
        tables.notes.append("audit.dualwrite_rejects is not built: only the loader's rejects are listed")
    tables.rejects = read_rejects(con)
    tables.files = read_files(con)
    if relation_exists(con, *TARGET_STATES_RELATION):
        tables.target_states = _dicts(
            con.execute('select * from "audit"."dualwrite_target_states" order by entity, statecode')
        )
    return tables
