"""Hand the landed data to a lakehouse: every `raw.*` relation the dbt models read, as Parquet.

`p2c export-lakehouse --db X --out DIR` writes one folder per table (`DIR/raw/<table>/part-0.parquet`): the
nine exported tables with their provenance columns, and the loader's bookkeeping (`_loads`, `_rejects`,
`_files`, `_choice_labels`), which the reconciliation and the label checks read. Beside them `register.sql`
registers every folder as an external Parquet table of schema `raw` in one Spark SQL run
(`spark-sql -f DIR/register.sql`, or `spark.sql(...)` per statement): the same `raw.<table>` names the dbt
sources use, so `dbt build --target spark` reads them as it reads DuckDB's (docs/spark.md).

Parquet only: Delta needs the delta-spark library on the writing side, which p2c does not ship; a Spark job
can `CONVERT TO DELTA` the folders if the lakehouse wants Delta."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from loaders.sql import quote_identifier, quote_literal
from loaders.vocabulary import exported_entities
from p2c.errors import UsageError

# The loader's bookkeeping tables the models read (models/staging/__sources.yml, source raw).
BOOKKEEPING_TABLES: tuple[str, ...] = ("_loads", "_rejects", "_files", "_choice_labels")
REGISTER_FILE = "register.sql"
SCHEMA = "raw"


@dataclass(frozen=True)
class ExportedTable:
    name: str
    rows: int
    folder: Path


def lakehouse_tables() -> tuple[str, ...]:
    """The raw relations a lakehouse needs, in order: the exported tables, then the bookkeeping."""
    return (*exported_entities(), *BOOKKEEPING_TABLES)


def prepare_out_folder(out: Path) -> None:
    """`out` may be new or empty, or an earlier export (its `raw/` and `register.sql` are replaced); any other
    content is refused rather than mixed with the export."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in (SCHEMA, REGISTER_FILE))
        if foreign:
            raise UsageError(
                f"--out {out} holds other files ({', '.join(foreign[:5])}): give a new or empty folder,"
                " or the folder of an earlier export"
            )
        shutil.rmtree(out / SCHEMA, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def export_lakehouse(con: duckdb.DuckDBPyConnection, out: Path) -> list[ExportedTable]:
    """Write every raw relation of `con` as Parquet under `out` and the Spark SQL that registers them."""
    existing = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables"
            " where table_catalog = current_database() and table_schema = ?",
            [SCHEMA],
        ).fetchall()
    }
    missing = [name for name in lakehouse_tables() if name not in existing]
    if missing:
        raise UsageError(
            f"the database has no raw.{', raw.'.join(missing)}: it was not written by `p2c load`",
            hint="run `p2c load` (or `p2c build`, which creates the empty landing zone) first",
        )
    prepare_out_folder(out)
    exported: list[ExportedTable] = []
    for name in lakehouse_tables():
        folder = out / SCHEMA / name
        folder.mkdir(parents=True)
        relation = f"{SCHEMA}.{quote_identifier(name)}"
        # one file per table, rows in a stable order: two exports of one database are byte-comparable
        con.execute(
            f"copy (select * from {relation} order by all) to {quote_literal(str(folder / 'part-0.parquet'))}"
            " (format parquet, compression zstd)"
        )
        count = con.execute(f"select count(*) from {relation}").fetchone()
        exported.append(ExportedTable(name, int(count[0]) if count else 0, folder))
    (out / REGISTER_FILE).write_text(
        register_sql(out.resolve(), [t.name for t in exported]), encoding="utf-8"
    )
    return exported


def register_sql(root: Path, tables: Sequence[str]) -> str:
    """Spark SQL that (re)registers the exported folders under `root` as the external tables raw.<table>."""
    lines = [
        "-- Written by `p2c export-lakehouse`: registers the landed exports as Spark tables raw.<table>",
        "-- (external Parquet tables over the folders beside this file). Run it once per export:",
        "--   spark-sql -f register.sql    or, in a notebook, spark.sql(statement) for each statement.",
        "-- If the folder moves (e.g. copied to the lakehouse's storage), replace its path below.",
        f"create schema if not exists {SCHEMA};",
    ]
    for name in tables:
        location = (root / SCHEMA / name).as_uri()
        lines.append(f"drop table if exists {SCHEMA}.`{name}`;")
        lines.append(f"create table {SCHEMA}.`{name}` using parquet location '{location}';")
    return "\n".join(lines) + "\n"


def register_statements(register_file: Path) -> list[str]:
    """The statements of a register.sql, one per item (for `spark.sql`, which takes one at a time)."""
    text = "\n".join(
        line for line in register_file.read_text(encoding="utf-8").splitlines() if not line.startswith("--")
    )
    return [statement.strip() for statement in text.split(";") if statement.strip()]
