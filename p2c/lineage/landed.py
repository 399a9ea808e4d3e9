"""What the loader recorded about the landed files (raw._loads): which files fed each raw table and the
headers exactly as seen in each file. Read-only: the pack never writes to the DB.

The headers come from a `headers` column of raw._loads when the loader logs them; otherwise the header row is
re-read from the file itself, if it is still where it was loaded from and unchanged (same SHA-256), and mapped
to logical names exactly as the loader maps them (loaders.headers.plan_columns)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb

# The loader logs one row per landed file; a `headers` column (list of struct(header, logical_name)) is
# used when present, so the report shows the header text of the user's own file, not the vocabulary's.
HEADERS_COLUMN = "headers"


@dataclass(frozen=True)
class LandedHeader:
    file: str
    sheet: str | None
    header: str


@dataclass
class Landed:
    files_by_table: dict[str, list[str]]
    headers: dict[tuple[str, str], list[LandedHeader]]  # (table, logical name) -> headers seen


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def read_landed(db_path: Path) -> Landed:
    if not db_path.is_file():
        return Landed(files_by_table=defaultdict(list), headers=defaultdict(list))
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return landed_from(con)
    finally:
        con.close()


def landed_from(con: duckdb.DuckDBPyConnection, file: str | None = None, sheet: str | None = None) -> Landed:
    """Files per table and headers per (table, logical name); only of one file (and sheet) when given."""
    landed = Landed(files_by_table=defaultdict(list), headers=defaultdict(list))
    columns = _columns(con, "raw", "_loads")
    if not columns:
        return landed
    where = "entity is not null" + (" and status <> 'failed'" if "status" in columns else "")
    params: list[str] = []
    if file is not None:
        where += " and file = ? and sheet is not distinct from ?"
        params = [file, sheet]
    for entity, landed_file in con.execute(
        f"select distinct entity, file from raw._loads where {where} order by 1, 2", params
    ).fetchall():
        landed.files_by_table[entity].append(landed_file)
    if HEADERS_COLUMN in columns:
        rows = con.execute(
            f"select entity, file, sheet, unnest({HEADERS_COLUMN}) from raw._loads where {where}", params
        ).fetchall()
        for entity, landed_file, landed_sheet, item in rows:
            if isinstance(item, dict) and item.get("logical_name"):
                key = (entity, str(item["logical_name"]))
                landed.headers[key].append(LandedHeader(landed_file, landed_sheet, str(item.get("header"))))
    elif {"sha256", "file_type"} <= columns:
        encoding = "encoding" if "encoding" in columns else "null"
        rows = con.execute(
            f"select distinct entity, file, sheet, sha256, file_type, {encoding} "
            f"from raw._loads where {where}",
            params,
        ).fetchall()
        for entity, landed_file, landed_sheet, sha256, file_type, text_encoding in rows:
            found = headers_from_file(
                Path(landed_file), landed_sheet, entity, file_type, text_encoding, sha256
            )
            for logical, header in found:
                landed.headers[(entity, logical)].append(LandedHeader(landed_file, landed_sheet, header))
    return landed


HEAD_BYTES = 1 << 16


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _header_row(path: Path, sheet: str | None, file_type: str, encoding: str | None) -> list[str]:
    if file_type == "xlsx":
        import fastexcel

        batch = fastexcel.read_excel(str(path)).load_sheet(
            sheet if sheet is not None else 0, header_row=None, n_rows=1, dtypes="string"
        )
        table = batch.to_arrow()
        return [
            "" if v is None else str(v)
            for v in (table.column(i)[0].as_py() for i in range(table.num_columns))
        ]
    from loaders.sniff import sniff_text

    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    return sniff_text(head, complete=len(head) < HEAD_BYTES, encoding=encoding).header


def headers_from_file(
    path: Path,
    sheet: str | None,
    entity: str,
    file_type: str | None,
    encoding: str | None,
    sha256: str | None,
) -> list[tuple[str, str]]:
    """[(logical name, header as written in the file)]; empty when the file is gone or changed since."""
    from loaders.headers import plan_columns

    if not path.is_file() or file_type not in {"csv", "xlsx"} or (sha256 and _sha256(path) != sha256):
        return []
    try:
        header = _header_row(path, sheet, file_type, encoding)
    except Exception:  # a file that cannot be re-read only loses this detail of the report
        return []
    return [(c.name, c.header) for c in plan_columns(entity, header).columns]
