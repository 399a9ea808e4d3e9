"""Quoting for SQL built from data: headers, file names, sheet names and company codes are data, never SQL."""

from __future__ import annotations

from typing import Any

import duckdb


def quote_identifier(name: str) -> str:
    """Quote any text as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote any text as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The one value of a one-row query (a count, an exists check)."""
    row = con.execute(sql, params or []).fetchone()
    if row is None:
        raise LookupError(f"no row from: {sql}")
    return row[0]
