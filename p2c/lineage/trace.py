"""Row-level provenance: `p2c lineage trace account USMF ACC-01001`.

Finds the dualwrite row by company and natural key, follows its provenance columns to the raw row it came from
(file, sheet, data row) and shows each value next to the export column (and header) it was computed from.
Upload results: once rows are uploaded, register a function in UPLOAD_RESULT_LOOKUPS (the hook below)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from p2c.lineage.artifacts import Artifacts
from p2c.lineage.declarations import TARGET_SCHEMA
from p2c.lineage.evidence import preferred_headers, vocabulary_headers
from p2c.lineage.graph import LineageGraph, compute_lineage
from p2c.lineage.landed import landed_from
from p2c.lineage.paths import trace_column

COMPANY_COLUMN = "msdyn_company"
PROVENANCE = ("_source_file", "_source_sheet", "_source_row")
# Natural key per table when the model's meta.dataverse.alternate_key does not name one.
FALLBACK_KEYS = {
    "account": "accountnumber",
    "contact": "msdyn_contactpersonid",
    "salesorder": "msdyn_salesordernumber",
    "quote": "msdyn_quotenumber",
}


class TraceError(LookupError):
    pass


@dataclass(frozen=True)
class UploadResult:
    status: str  # e.g. created | updated | failed
    detail: str
    at: str


# The hook for the uploader: each function gets (read-only connection, table, company, key) and returns the
# row's upload result or None. The first non-None answer is shown. Empty until uploads exist.
UploadLookup = Callable[[duckdb.DuckDBPyConnection, str, str, str], UploadResult | None]
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
    key_column: str
    key: str
    source_file: str | None
    source_sheet: str | None
    source_row: int | None
    raw_relation: str | None
    values: list[TracedValue] = field(default_factory=list)
    upload: UploadResult | None = None


def key_column(graph: LineageGraph, relation: str) -> str:
    meta = graph.relations[relation].node.get("meta") or graph.relations[relation].node.get("config", {}).get(
        "meta", {}
    )
    key = [c for c in (meta.get("dataverse") or {}).get("alternate_key", []) if c != COMPANY_COLUMN]
    if key:
        return key[0]
    return FALLBACK_KEYS.get(relation.split(".")[-1], "")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> dict[str, Any] | None:
    cursor = con.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def trace_row(
    artifacts: Artifacts, con: duckdb.DuckDBPyConnection, table: str, company: str, key: str
) -> RowTrace:
    graph = compute_lineage(artifacts)
    relation = f"{TARGET_SCHEMA}.{table}"
    if relation not in graph.relations:
        raise TraceError(
            f"no table {relation}; known: "
            + ", ".join(sorted(r for r in graph.relations if r.startswith(TARGET_SCHEMA + ".")))
        )
    key_col = key_column(graph, relation)
    row = _fetch_one(
        con,
        f"select * from {TARGET_SCHEMA}.{_quote(table)} "
        f"where {_quote(COMPANY_COLUMN)} = ? and {_quote(key_col)} = ?",
        [company, key],
    )
    if row is None:
        raise TraceError(f"no row in {relation} with {COMPANY_COLUMN} = {company!r} and {key_col} = {key!r}")
    row_origin = trace_column(graph, relation, "_source_row").value_origins if "_source_row" in row else set()
    raw_relation = ".".join(next(iter(sorted(row_origin))).split(".")[:2]) if row_origin else None
    raw_row: dict[str, Any] = {}
    if raw_relation and row.get("_source_file") is not None:
        found = _fetch_one(
            con,
            f"select * from {raw_relation} where _source_file = ? and _source_row = ? "
            "and _source_sheet is not distinct from ?",
            [row["_source_file"], row["_source_row"], row.get("_source_sheet")],
        )
        raw_row = found or {}
    vocabulary = vocabulary_headers(artifacts)
    # the header text of this row's own file when it can be known, else the vocabulary's (English first)
    in_file = (
        landed_from(con, row["_source_file"], row.get("_source_sheet")) if row.get("_source_file") else None
    )
    result = RowTrace(
        table=table,
        company=company,
        key_column=key_col,
        key=key,
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
        result.upload = lookup(con, table, company, key)
        if result.upload is not None:
            break
    return result
