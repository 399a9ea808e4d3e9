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
    # fetchall, not fetchone: an unfinished result would block the connection's next statement
    rows = con.execute(sql, params or []).fetchall()
    if not rows:
        raise LookupError(f"no row from: {sql}")
    return rows[0][0]
