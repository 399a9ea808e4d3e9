"""Row-level provenance: `p2c lineage trace account USMF ACC-01001`, `... salesorderdetail USMF SO-1 3`.

Finds exactly one dualwrite row by company and every column of its business key (the model contract's
alternate key), or by its Dataverse record id, follows its provenance columns to the raw row it came from
(file, sheet, data row) and shows each value next to the export column (and header) it was computed from.
Once rows are uploaded, the row's latest upload outcome (`upload.results`) is shown too."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console

from loaders.sql import quote_identifier
from p2c.contract.artifacts import Artifacts
from p2c.contract.dataverse import COMPANY_COLUMN, TARGET_SCHEMA, TableContract, read_contracts
from p2c.errors import UsageError
from p2c.lineage.audit_tables import REJECT_COLUMNS, excel_row, read_rejects
from p2c.lineage.column_evidence import preferred_headers, vocabulary_headers
from p2c.lineage.column_paths import trace_column
from p2c.lineage.graph import LineageGraph, cached_lineage
from p2c.lineage.landed_headers import landed_from
from p2c.output import Column, OutputFormat, cell_text, emit_csv, emit_json, print_table, stdout_console


class TraceError(UsageError):
    """The row asked for is not there (or not once): exit 2 with what was looked for."""


@dataclass(frozen=True)
class UploadResult:
    """The row's latest outcome in one Dataverse organization (p2c.upload)."""

    status: str  # updated | unchanged | failed
    detail: str  # what was written, or the Dataverse error code and message
    at: str
    environment: str = ""
    run_id: str = ""
    organization_id: str = ""  # WhoAmI's OrganizationId: which environment, whatever its URL


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
    # the latest outcome in the organization the latest plan or upload met (None: not yet written there) ...
    upload: UploadResult | None = None
    upload_organization_id: str | None = None  # ... that organization (None: no run yet)
    upload_environment: str | None = None
    # a later outcome recorded in another organization: the environment was reset or restored at the same URL
    # since (or another one planned), so it is not true of the records the latest run met
    upload_elsewhere: UploadResult | None = None
    # not initialized: the rows of dualwrite_rejects (or the loader's raw._rejects) that match, with reasons
    rejected: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the database's build is not verified

    @property
    def status(self) -> str:
        return "rejected" if self.rejected else "initialized"

    @property
    def excel_row(self) -> int | None:
        return excel_row(self.source_sheet, self.source_row)


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
    graph = graph or cached_lineage(artifacts)
    relation = contract.relation.name
    condition, params, words = _where(contract, selector)
    cursor = con.execute(f"select * from {contract.relation.sql_name} where {condition} limit 2", params)
    names = [d[0] for d in cursor.description or []]
    found = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    if not found:
        rejected = find_rejected(con, contract, selector)
        if rejected:
            first = rejected[0]
            return RowTrace(
                table=table,
                company=str(first.get("company") or selector.company or ""),
                key_columns=contract.business_key,
                key=tuple(selector.key),
                record_id=selector.record_id,
                source_file=first.get("source_file"),
                source_sheet=first.get("source_sheet"),
                source_row=first.get("data_row"),
                raw_relation=f"raw.{table}",
                rejected=rejected,
            )
        raise TraceError(f"no row in {relation} with {words}, and no rejected row either")
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
    _add_upload_results(result, con, table, row)
    return result


def _add_upload_results(
    result: RowTrace, con: duckdb.DuckDBPyConnection, table: str, row: dict[str, Any]
) -> None:
    from p2c.upload.report import upload_result_of

    provenance = f"{row.get('_source_file')}#{row.get('_source_sheet') or ''}#{row.get('_source_row')}"
    record_id = result.record_id
    found = upload_result_of(con, table, str(record_id) if record_id else None, provenance)
    if found is None:
        return
    result.upload_organization_id = found.organization_id
    result.upload_environment = found.environment
    result.upload = _upload_result(found.here)
    result.upload_elsewhere = _upload_result(found.elsewhere)


def _upload_result(found: dict[str, Any] | None) -> UploadResult | None:
    if found is None:
        return None
    code = f"{found['error_code']}: " if found.get("error_code") else ""
    return UploadResult(
        status=str(found["status"]),
        detail=f"{code}{found.get('message') or ''}",
        at=str(found.get("finished_at") or ""),
        environment=str(found.get("environment") or ""),
        run_id=str(found.get("run_id") or ""),
        organization_id=str(found.get("organization_id") or ""),
    )


def find_rejected(
    con: duckdb.DuckDBPyConnection, contract: TableContract, selector: RowSelector
) -> list[dict[str, Any]]:
    """The rejected rows that are the record asked for: by record id, or by company and every key value
    (the rejects' business key spells the whole key, `SO-1 line 3`, `Q-1 rev 2`)."""
    rows = [r for r in read_rejects(con) if r["entity"] == contract.table]
    if selector.record_id is not None:
        wanted = selector.record_id.lower()
        return [r for r in rows if wanted in json.dumps(r.get("source_values") or "", default=str).lower()]
    if not selector.key:
        return []

    def words(text: Any) -> set[str]:
        return set(str(text or "").replace(",", " ").split())

    matches = []
    for row in rows:
        if row["company"] not in (None, selector.company):
            continue
        built = row["stage"] == "build" and set(selector.key) <= words(row["business_key"])
        loaded = row["stage"] == "load" and all(k in str(row["source_values"] or "") for k in selector.key)
        if built or loaded:
            matches.append(row)
    return matches


def trace_row_in_db(db_path: Path, table: str, selector: RowSelector, target: Path | None = None) -> RowTrace:
    """`p2c lineage trace`: the database's build (its own artifacts when current), then the row, read-only."""
    import tempfile

    from p2c.build.record import read_evidence, target_dir_for
    from p2c.database import reading
    from p2c.lineage.pack_writer import compiled_artifacts
    from p2c.settings import project_dir

    with reading(db_path) as con:
        evidence = read_evidence(con, db_path)
    record = evidence.record  # None: built by plain dbt (or never); the trace then says so on stderr
    project = project_dir()
    build_target = target or (
        Path(record.target_dir) if record and record.target_dir else target_dir_for(db_path)
    )
    with tempfile.TemporaryDirectory(prefix="p2c-trace-") as scratch:
        artifacts = compiled_artifacts(db_path, project, Path(scratch), build_target, record)
    with reading(db_path) as con:
        traced = trace_row(artifacts, con, table, selector)
    traced.notes = list(evidence.problems)
    return traced


TRACE_COLUMNS = (
    Column("column"),
    Column("value"),
    Column("kind"),
    Column("sources", "from export column (header)"),
    Column("export_values", "export value"),
)


def where_from(traced: RowTrace) -> str:
    """`file, sheet S, data row 2 (Excel row 3)`: the way a person finds the row in the file."""
    sheet = f", sheet {traced.source_sheet}" if traced.source_sheet else ""
    row = f", data row {cell_text(traced.source_row)}"
    if traced.excel_row is not None:
        row += f" (Excel row {traced.excel_row})"
    return f"{cell_text(traced.source_file)}{sheet}{row}"


def trace_rows(traced: RowTrace) -> list[dict[str, Any]]:
    rows = []
    for value in traced.values:
        sources = [f"{o} ({value.headers[o]})" if o in value.headers else o for o in value.origins]
        # one line per origin, aligned with the sources column: a value of another record was looked up
        exported = [
            cell_text(value.raw_values[o])
            if o in value.raw_values
            else ("(looked up)" if o.startswith("raw.") else "")
            for o in value.origins
        ]
        rows.append(
            {
                "column": value.column,
                "value": value.value,
                "kind": value.kind,
                "sources": sources,
                "export_values": exported,
            }
        )
    return rows


def trace_document(traced: RowTrace) -> dict[str, Any]:
    return {
        "table": f"{TARGET_SCHEMA}.{traced.table}",
        "status": traced.status,
        "company": traced.company,
        "key": dict(zip(traced.key_columns, traced.key, strict=False)),
        "record_id": traced.record_id,
        "source": {
            "file": traced.source_file,
            "sheet": traced.source_sheet,
            "data_row": traced.source_row,
            "excel_row": traced.excel_row,
            "raw_relation": traced.raw_relation,
        },
        "rejected": traced.rejected,
        "values": [
            {
                "column": v.column,
                "value": v.value,
                "kind": v.kind,
                "origins": [
                    {
                        "origin": o,
                        "header": v.headers.get(o),
                        "export_value": v.raw_values.get(o),
                    }
                    for o in v.origins
                ],
            }
            for v in traced.values
        ],
        "upload": None if traced.upload is None else traced.upload.__dict__,
        "upload_organization_id": traced.upload_organization_id,
        "upload_elsewhere": None if traced.upload_elsewhere is None else traced.upload_elsewhere.__dict__,
        "notes": traced.notes,
    }


def render_row_trace(traced: RowTrace, fmt: OutputFormat, console: Console | None = None) -> None:
    if fmt == OutputFormat.JSON:
        emit_json(trace_document(traced))
    elif fmt == OutputFormat.CSV:
        flat = [
            {
                "column": v.column,
                "value": v.value,
                "kind": v.kind,
                "origin": o,
                "header": v.headers.get(o),
                "export_value": v.raw_values.get(o),
            }
            for v in traced.values
            for o in (v.origins or [""])
        ]
        if traced.rejected:
            flat = traced.rejected
            emit_csv(flat, REJECT_COLUMNS)
            return
        emit_csv(flat, [Column(k) for k in ("column", "value", "kind", "origin", "header", "export_value")])
    else:
        print_row_trace(traced, console or stdout_console())


def _print_rejected(traced: RowTrace, console: Console) -> None:
    key = ", ".join(f"{c}={v}" for c, v in zip(traced.key_columns, traced.key, strict=False))
    who = key or f"record id {traced.record_id}"
    console.print(
        f"{TARGET_SCHEMA}.{traced.table} {who} ({traced.company}) was REJECTED: it is not in "
        f"{TARGET_SCHEMA}.{traced.table} and will not be initialized",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for reject in traced.rejected:
        sheet = f", sheet {reject['source_sheet']}" if reject.get("source_sheet") else ""
        excel = f" (Excel row {reject['excel_row']})" if reject.get("excel_row") else ""
        line = f", line {reject['line']}" if reject.get("line") else ""
        stage = "the loader" if reject["stage"] == "load" else "the build"
        console.print(
            f"  rejected by {stage}: {reject['reason']}\n"
            f"  from {cell_text(reject.get('source_file'))}{sheet},"
            f" data row {cell_text(reject.get('data_row'))}{excel}{line}\n"
            f"  source values: {cell_text(reject.get('source_values'))}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def print_row_trace(traced: RowTrace, console: Console) -> None:
    if traced.rejected:
        _print_rejected(traced, console)
        return
    key = ", ".join(f"{c}={v}" for c, v in zip(traced.key_columns, traced.key, strict=True))
    record_id = cell_text(traced.record_id)
    console.print(
        f"{TARGET_SCHEMA}.{traced.table} {key} ({traced.company}) record id {record_id} comes from "
        f"{where_from(traced)} ({cell_text(traced.raw_relation)})",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    print_table(trace_rows(traced), TRACE_COLUMNS, console=console)
    for line in upload_lines(traced):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def upload_lines(traced: RowTrace) -> list[str]:
    """The row's upload outcome, each named by its organization: an outcome of another organization than
    the one the latest run met is said to be of an earlier environment, never passed off as current."""
    here, elsewhere = traced.upload, traced.upload_elsewhere
    met = traced.upload_organization_id or "?"
    if here is None and elsewhere is None:
        where = f" in organization {met}, the latest one met" if traced.upload_organization_id else ""
        return [f"upload: no upload result recorded yet{where}"]
    lines = []
    if elsewhere is not None:
        lines.append(
            f"upload: {elsewhere.status} in organization {elsewhere.organization_id or '?'} (an earlier "
            f"environment, not the one the latest run met) at {elsewhere.at} to {elsewhere.environment} "
            f"(run {elsewhere.run_id}): {elsewhere.detail}"
        )
    if here is None:
        lines.append(f"upload: in organization {met}, the latest one met: not yet written")
    elif elsewhere is not None:
        lines.append(
            f"upload: in organization {met}, the latest one met: {here.status} at {here.at} "
            f"(run {here.run_id}): {here.detail}"
        )
    else:
        lines.append(
            f"upload: {here.status} at {here.at} in organization {met} to {here.environment} "
            f"(run {here.run_id}): {here.detail}"
        )
    return lines
