"""Every connection to the migration's DuckDB file sees it as one catalog, `migration`, whatever its name.

DuckDB names a file's catalog after its stem: `p2c.duckdb` is catalog `p2c`, `raw.duckdb` catalog `raw`. The
project's SQL says `p2c.builds`, `raw._loads`, `raw_files.<table>`, `upload.runs`...: two-part names that
DuckDB refuses as ambiguous ("Ambiguous reference to catalog or schema") as soon as a catalog and a schema
share the name. So no connection opens the file as its primary database: each one attaches it, under the
fixed alias CATALOG (a name no schema of the project has), to an in-memory instance and makes it the default
catalog (`use`). dbt does the same (profiles.yml: `attach` with this alias, `database` set to it, and the
`schema` setting, which is what `use` sets, on every cursor), so a model's three-part names and a macro's
two-part names resolve alike for `p2c.duckdb`, `raw.duckdb` or `my db.v2.duckdb`.

DuckDB's spill files go beside the database file, as they would for a connection to the file itself."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

from loaders.sql import quote_literal

__all__ = ["CATALOG", "connect_file", "cursor_of"]

# Also in profiles.yml (attach alias, database, settings.schema): tests/test_database_file_names.py holds the
# two together and checks the name against every schema a built database has.
CATALOG = "migration"


def connect_file(
    path: Path, *, read_only: bool = False, attach_options: Mapping[str, str | int] | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection whose default catalog is the file at `path` (created when missing and not read-only).

    `attach_options` are ATTACH options such as ROW_GROUP_SIZE; duckdb.Error when DuckDB refuses the file
    (most often: another process holds its lock)."""
    options = [f"{name} {value}" for name, value in (attach_options or {}).items()]
    if read_only:
        options.append("read_only")
    con = duckdb.connect(config={"temp_directory": f"{path}.tmp"})
    try:
        con.execute(
            f"attach {quote_literal(str(path))} as {CATALOG}"
            + (f" ({', '.join(options)})" if options else "")
        )
        con.execute(f"use {CATALOG}")
    except BaseException:
        con.close()
        raise
    return con


def cursor_of(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of `con` (a connection of its own to the same instance, to stream rows while `con` writes)
    that resolves names in the same catalog: DuckDB starts each cursor in the in-memory catalog, `use` is not
    carried over. (A connection to the file as its primary database, as a test may open, needs nothing.)"""
    cursor = con.cursor()
    try:
        attached = cursor.execute(
            "select count(*) from duckdb_databases() where database_name = ?", [CATALOG]
        ).fetchone()
        if attached and attached[0]:
            cursor.execute(f"use {CATALOG}")
    except BaseException:
        cursor.close()
        raise
    return cursor
