"""The landing zone's shape: schema `raw`, the load log, the rejects table, and one relation per entity.

`raw.<table>` always exists with every column the vocabulary knows for that table (as VARCHAR) plus the
provenance columns, even before any file of that entity is loaded: the dbt sources can then rely on it.

dbt's on-run-start hook (macros/landing_zone.sql) creates the same relations for a plain `dbt build`, with the
views' columns taken from the dbt sources: a change to a DDL here goes there too (tests/test_plain_dbt.py
compares the two landing zones column by column)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from loaders.catalog import connect_file
from loaders.sql import quote_identifier, quote_literal
from loaders.vocabulary import exported_entities, known_columns

# The loader writes row groups of 32,768 rows instead of DuckDB's 122,880: DuckDB compresses and writes a
# table's row groups in parallel, one per thread, so a 200k-row export is written as 7 pieces shared among
# the threads instead of 2 uneven ones (0.15 s instead of 0.33 s for 200k x 12 strings on 2 cores;
# benchmarks/README.md), at ~20% more file for the landed text. ROW_GROUP_SIZE is an ATTACH option of the
# connection, not stored in the file: the database stays an ordinary DuckDB file that every other command
# and dbt open as usual.
LANDING_ROW_GROUP_SIZE = 32_768

PROVENANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_file", "VARCHAR"),
    ("_source_sheet", "VARCHAR"),
    ("_source_row", "BIGINT"),
    ("_source_sha256", "VARCHAR"),
    ("_company", "VARCHAR"),
    ("_load_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
)


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
    for table_name in exported_entities():
        if table_name not in existing:
            con.execute(f"create view raw.{quote_identifier(table_name)} as {empty_shape_select(table_name)}")


FILES_SCHEMA = "raw_files"

# One row per load attempt (file, or workbook sheet); rows_read = rows_landed + rows_rejected.
LOADS_DDL = """
create table if not exists raw._loads (
    load_id varchar not null,
    file varchar not null,
    sheet varchar,
    sha256 varchar,
    entity varchar,
    detected_by varchar,
    file_type varchar,
    encoding varchar,
    delimiter varchar,
    company varchar,
    rows_read bigint,
    rows_landed bigint,
    rows_rejected bigint,
    unknown_headers varchar[],
    duplicate_headers varchar[],
    -- every header as written in the file and the raw column it landed in (the lineage pack shows them)
    headers struct(position integer, header varchar, logical_name varchar, how varchar)[],
    status varchar not null,
    error varchar,
    started_at timestamp not null,
    duration_s double,
    file_table varchar
)"""

# Rows the loader could not take, for the files currently landed.
REJECTS_DDL = """
create table if not exists raw._rejects (
    load_id varchar not null,
    file varchar not null,
    sheet varchar,
    data_row bigint not null,
    line bigint,
    column_position integer,
    column_name varchar,
    reason varchar not null,
    record varchar
)"""

# The landed files: one immutable table per file (or sheet) in raw_files; raw.<table> unions them.
FILES_DDL = """
create table if not exists raw._files (
    file varchar not null,
    sheet varchar,
    sheet_index integer,
    sha256 varchar not null,
    file_size bigint not null,
    entity varchar not null,
    company varchar,
    load_id varchar not null,
    loaded_at timestamp not null,
    file_table varchar not null,
    row_numbers varchar not null  -- 'rowid': data row = rowid + 1; 'column': stored in _source_row
)"""


# The labels of each choice column, as the metadata sheet of a Dynamics "Export to Excel" workbook lists them
# (rows 2..n: one row per choice column of the view, in view order), for the sheets currently landed.
CHOICE_LABELS_DDL = """
create table if not exists raw._choice_labels (
    load_id varchar not null,
    file varchar not null,
    sheet varchar,
    entity varchar not null,
    metadata_row integer not null,  -- the metadata sheet's row: the (metadata_row - 1)-th choice column
    column_position integer,  -- 1-based column of the sheet the labels belong to; NULL when not found
    "column" varchar,  -- the raw column it landed in; NULL when not found
    header varchar,
    label_position integer not null,  -- 1-based, in the order Dynamics lists them
    label varchar not null
)"""


def connect_landing_zone(db_path: Path) -> duckdb.DuckDBPyConnection:
    """The loader's connection to the database file, writing row groups of LANDING_ROW_GROUP_SIZE rows.

    ROW_GROUP_SIZE is an ATTACH option: the file is attached as every connection attaches it
    (loaders.catalog), with that option."""
    return connect_file(db_path, attach_options={"row_group_size": LANDING_ROW_GROUP_SIZE})


def ensure_landing_zone(con: duckdb.DuckDBPyConnection) -> None:
    """Create the schemas, the bookkeeping tables and the (possibly empty) raw.<table> views."""
    con.execute("create schema if not exists raw")
    con.execute(f"create schema if not exists {FILES_SCHEMA}")
    for ddl in (LOADS_DDL, REJECTS_DDL, FILES_DDL, CHOICE_LABELS_DDL):
        con.execute(ddl)
    ensure_raw_relations(con)


def rebuild_entity_view(con: duckdb.DuckDBPyConnection, table_name: str) -> None:
    """raw.<table> = the empty shape `union all by name` every landed file table of that entity.

    Provenance that is constant per file is a literal in the view, not a stored column: landing a file
    then writes only its own cells, which keeps `p2c load` close to a bare DuckDB CSV import."""
    rows = con.execute(
        "select file, sheet, sha256, company, load_id, loaded_at, file_table, row_numbers from raw._files "
        "where entity = ? order by loaded_at, file, sheet_index",
        [table_name],
    ).fetchall()
    parts = [empty_shape_select(table_name)]
    for file, sheet, sha256, company, load_id, loaded_at, file_table, row_numbers in rows:
        row_number = "rowid + 1" if row_numbers == "rowid" else "_source_row"
        literals = [
            f"cast({quote_literal(file)} as varchar) as _source_file",
            f"cast({quote_literal(sheet) if sheet is not None else 'null'} as varchar) as _source_sheet",
            f"cast({row_number} as bigint) as _source_row",
            f"cast({quote_literal(sha256)} as varchar) as _source_sha256",
            f"cast({quote_literal(company) if company is not None else 'null'} as varchar) as _company",
            f"cast({quote_literal(load_id)} as varchar) as _load_id",
            f"cast({quote_literal(loaded_at.isoformat(sep=' '))} as timestamp) as _loaded_at",
        ]
        star = "* exclude (_source_row)" if row_numbers == "column" else "*"
        parts.append(
            f"select {star}, {', '.join(literals)} from {FILES_SCHEMA}.{quote_identifier(file_table)}"
        )
    con.execute(
        f"create or replace view raw.{quote_identifier(table_name)} as " + "\nunion all by name\n".join(parts)
    )
