"""Row-level provenance: `p2c lineage trace account USMF ACC-01001`, `... salesorderdetail USMF SO-1 3`.

Finds exactly one dualwrite row by company and every column of its business key (the model contract's
alternate key), or by its Dataverse record id, follows its provenance columns to the raw row it came from
(file, sheet, data row) and shows each value next to the export column (and header) it was computed from.
Upload results: once rows are uploaded, register a function in UPLOAD_RESULT_LOOKUPS (the hook below)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from loaders.sql import quote_identifier
from p2c.contract.artifacts import Artifacts
from p2c.contract.dataverse import COMPANY_COLUMN, TARGET_SCHEMA, TableContract, read_contracts
from p2c.errors import DatabaseUnavailable, UsageError
from p2c.lineage.column_evidence import preferred_headers, vocabulary_headers
from p2c.lineage.column_paths import trace_column
from p2c.lineage.graph import LineageGraph, compute_lineage
from p2c.lineage.landed_headers import landed_from


class TraceError(UsageError):
    """The row asked for is not there (or not once): exit 2 with what was looked for."""


@dataclass(frozen=True)
class UploadResult:
    status: str  # e.g. created | updated | failed
    detail: str
    at: str


# The hook for the uploader: each function gets (read-only connection, table, company, key) and returns the
# row's upload result or None. The first non-None answer is shown. Empty until uploads exist.
UploadLookup = Callable[[duckdb.DuckDBPyConnection, str, str, tuple[str, ...]], UploadResult | None]
UPLOAD_RESULT_LOOKUPS: list[UploadLookup] = []


@dataclass
class TracedValue:
    column: str
    value: Any
    kind: str
    origins: list[str]
    raw_values: dict[str, Any]  # raw column -> value in the source row (same export row only)
    headers: dict[str, str]  # raw column -> export header (vocabulary, English first)


@dataclass
class RowTrace:
    table: str
    company: str
    key_columns: tuple[str, ...]
    key: tuple[str, ...]
    record_id: str | None
    source_file: str | None
    source_sheet: str | None
    source_row: int | None
    raw_relation: str | None
    values: list[TracedValue] = field(default_factory=list)
    upload: UploadResult | None = None


def _fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> dict[str, Any] | None:
    cursor = con.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


@dataclass(frozen=True)
class RowSelector:
    """Which row to trace: company and one value per business-key column, or the record id."""

    company: str | None = None
    key: tuple[str, ...] = ()
    record_id: str | None = None


def _where(contract: TableContract, selector: RowSelector) -> tuple[str, list[Any], str]:
    """SQL condition, its parameters, and the same in words for the messages."""
    if selector.record_id is not None:
        if selector.company is not None or selector.key:
            raise TraceError("give either the record id or the company and key, not both")
        column = contract.record_id_column
        return f"{quote_identifier(column)} = ?", [selector.record_id], f"{column} = {selector.record_id!r}"
    key_columns = contract.business_key
    if selector.company is None or len(selector.key) != len(key_columns):
        raise TraceError(
            f"{contract.table} rows are found by company and {', '.join(key_columns)}: give the company and "
            f"{len(key_columns)} key value(s) in that order (got {len(selector.key)}), or --record-id"
        )
    columns = (COMPANY_COLUMN, *key_columns)
    values = (selector.company, *selector.key)
    condition = " and ".join(f"cast({quote_identifier(c)} as varchar) = ?" for c in columns)
    words = " and ".join(f"{c} = {v!r}" for c, v in zip(columns, values, strict=True))
    return condition, list(values), words


def trace_row(
    artifacts: Artifacts,
    con: duckdb.DuckDBPyConnection,
    table: str,
    selector: RowSelector,
    graph: LineageGraph | None = None,
) -> RowTrace:
    """One row's provenance; `graph` saves recomputing the lineage when tracing many rows."""
    contracts = read_contracts(artifacts)
    if table not in contracts:
        raise TraceError(f"no table {TARGET_SCHEMA}.{table}; known: {', '.join(contracts)}")
    contract = contracts[table]
    graph = graph or compute_lineage(artifacts)
    relation = contract.relation.name
    condition, params, words = _where(contract, selector)
    cursor = con.execute(f"select * from {contract.relation.sql_name} where {condition} limit 2", params)
    names = [d[0] for d in cursor.description or []]
    found = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    if not found:
        raise TraceError(f"no row in {relation} with {words}")
    if len(found) > 1:
        raise TraceError(f"more than one row in {relation} with {words}: give every key column")
    row = found[0]
    row_origin = trace_column(graph, relation, "_source_row").value_origins if "_source_row" in row else set()
    raw_relation = ".".join(next(iter(sorted(row_origin))).split(".")[:2]) if row_origin else None
    raw_row: dict[str, Any] = {}
    if raw_relation and row.get("_source_file") is not None:
        raw_row = (
            _fetch_one(
                con,
                f"select * from {raw_relation} where _source_file = ? and _source_row = ? "
                "and _source_sheet is not distinct from ?",
                [row["_source_file"], row["_source_row"], row.get("_source_sheet")],
            )
            or {}
        )
    vocabulary = vocabulary_headers(artifacts)
    # the header text of this row's own file when it can be known, else the vocabulary's (English first)
    in_file = (
        landed_from(con, row["_source_file"], row.get("_source_sheet")) if row.get("_source_file") else None
    )
    result = RowTrace(
        table=table,
        company=str(row.get(COMPANY_COLUMN) or ""),
        key_columns=contract.business_key,
        key=tuple("" if row.get(c) is None else str(row[c]) for c in contract.business_key),
        record_id=row.get(contract.record_id_column),
        source_file=row.get("_source_file"),
        source_sheet=row.get("_source_sheet"),
        source_row=row.get("_source_row"),
        raw_relation=raw_relation,
    )
    for column, value in row.items():
        trace = trace_column(graph, relation, column)
        same_row = {
            o: raw_row.get(o.split(".")[2])
            for o in sorted(trace.value_origins)
            if o.startswith(f"{raw_relation}.")
        }
        headers = {}
        for origin in sorted(trace.value_origins):
            _, raw_table, raw_column = origin.split(".")
            seen = in_file.headers.get((raw_table, raw_column)) if in_file else None
            best = preferred_headers(vocabulary.get((raw_table, raw_column), []))
            file_known = in_file is not None and any(t == raw_table for t, _ in in_file.headers)
            if seen:
                headers[origin] = seen[0].header
            elif raw_column.startswith("_"):
                continue  # provenance: set by the loader, not a column of the export
            elif file_known:
                headers[origin] = "not in this file"
            elif best:
                headers[origin] = best[0].header
        result.values.append(
            TracedValue(
                column,
                value,
                trace.kind,
                sorted(trace.value_origins | trace.config_origins),
                same_row,
                headers,
            )
        )
    for lookup in UPLOAD_RESULT_LOOKUPS:
        result.upload = lookup(con, table, result.company, result.key)
        if result.upload is not None:
            break
    return result


def trace_row_in_db(db_path: Path, table: str, selector: RowSelector, target: Path | None = None) -> RowTrace:
    """`p2c lineage trace`: compiled artifacts (the build's when current), then the row, read-only."""
    import tempfile

    from p2c.lineage.pack_writer import compiled_artifacts
    from p2c.settings import project_dir

    if not db_path.is_file():
        raise DatabaseUnavailable(
            f"no database {db_path}", hint="give --db, or run `p2c load` and `p2c build`"
        )
    project = project_dir()
    with tempfile.TemporaryDirectory(prefix="p2c-trace-") as scratch:
        artifacts = compiled_artifacts(db_path, project, Path(scratch), target or project / "target")
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error as error:
        raise DatabaseUnavailable(f"cannot open {db_path}: {error}") from None
    try:
        return trace_row(artifacts, con, table, selector)
    finally:
        con.close()


def print_row_trace(traced: RowTrace, console: Console) -> None:
    sheet = f", sheet {traced.source_sheet}" if traced.source_sheet else ""
    key = ", ".join(f"{c}={v}" for c, v in zip(traced.key_columns, traced.key, strict=True))
    record_id = traced.record_id or "(none)"
    console.print(
        f"dualwrite.{traced.table} {key} ({traced.company}) record id {record_id} comes from "
        f"[bold]{traced.source_file}[/bold]{sheet}, row {traced.source_row} ({traced.raw_relation})",
        highlight=False,
    )
    grid = Table("column", "value", "kind", "from export column (header)", "export value")
    for value in traced.values:
        sources = (
            "\n".join(f"{o} ({value.headers[o]})" if o in value.headers else o for o in value.origins) or "-"
        )
        # one line per origin, aligned with the sources column: a value of another record was looked up
        raw = (
            "\n".join(
                str(value.raw_values[o])
                if o in value.raw_values
                else ("(looked up)" if o.startswith("raw.") else "")
                for o in value.origins
            )
            or "-"
        )
        grid.add_row(value.column, "" if value.value is None else str(value.value), value.kind, sources, raw)
    console.print(grid)
    if traced.upload is not None:
        console.print(f"upload: {traced.upload.status} {traced.upload.at} {traced.upload.detail}")
    else:
        console.print("upload: no upload result recorded yet")
