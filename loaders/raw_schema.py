"""The landing zone's shape: schema `raw`, the load log, the rejects table, and one relation per entity.

`raw.<table>` always exists with every column the vocabulary knows for that table (as VARCHAR) plus the
provenance columns, even before any file of that entity is loaded: the dbt sources can then rely on it."""

from __future__ import annotations

import duckdb

from loaders.vocabulary import ENTITIES, known_columns

PROVENANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_file", "VARCHAR"),
    ("_source_sheet", "VARCHAR"),
    ("_source_row", "BIGINT"),
    ("_source_sha256", "VARCHAR"),
    ("_company", "VARCHAR"),
    ("_load_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
)


def quote_identifier(name: str) -> str:
    """Quote any text as a DuckDB identifier: headers are data, never SQL."""
    return '"' + name.replace('"', '""') + '"'


def empty_shape_select(table_name: str) -> str:
    """A select with no rows and the full column set of raw.<table_name>."""
    columns = [f"cast(null as varchar) as {quote_identifier(c)}" for c in known_columns(table_name)]
    columns += [f"cast(null as {sql_type}) as {quote_identifier(c)}" for c, sql_type in PROVENANCE_COLUMNS]
    return "select " + ", ".join(columns) + " where false"


def ensure_raw_relations(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    existing = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }
    for table_name in ENTITIES:
        if table_name not in existing:
            con.execute(f"create view raw.{quote_identifier(table_name)} as {empty_shape_select(table_name)}")
