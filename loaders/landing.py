"""Land one export file in DuckDB: one transaction per file, one immutable table per file (or sheet).

Flow per file: hash it -> skip it when the same content is already landed (unchanged) -> detect type,
encoding, delimiter, entity -> in one transaction drop the previous version of the same path (replaced),
create the new file table(s), rebuild raw.<entity>, log raw._loads and raw._rejects -> commit.
Any error rolls the whole file back; the failure itself is then logged in raw._loads."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from loaders.csv_exact import ExactParse, Reject, full_encoding_guess, parse_exact, transcode_to_utf8
from loaders.errors import LoaderError
from loaders.headers import (
    METADATA_SHEET,
    Column,
    ColumnPlan,
    EntityError,
    detect_entity,
    header_key,
    metadata_column_names,
    plan_columns,
)
from loaders.metadata import ExportMetadata, parse_metadata_cell, parse_metadata_sheet
from loaders.raw_schema import FILES_SCHEMA, LANDING_ROW_GROUP_SIZE, rebuild_entity_view
from loaders.sniff import SAMPLE_BYTES, FileTypeError, detect_file_type, normalize_encoding, sniff_text
from loaders.sql import quote_identifier, quote_literal, scalar
from loaders.vocabulary import choice_columns, exported_entities, known_columns
from loaders.xlsx_reader import PendingWorkbook, Sheet, read_workbook

DUCKDB_ENCODINGS = {"utf-8", "utf-8-sig"}
# Dynamics' export sheet starts with the record id, row checksum and modified-on columns, headed so.
DO_NOT_MODIFY = header_key("(Do Not Modify) ")
HIDDEN_EXPORT_COLUMNS = 3


@dataclass(frozen=True)
class LoadOptions:
    company: str | None = None
    entity: str | None = None
    encoding: str | None = None
    # Tests set this to prove that both CSV paths land the same rows.
    force_exact_csv: bool = False


class LoadStatus(StrEnum):
    """What happened to one file (or sheet); written to raw._loads.status."""

    LANDED = "landed"
    REPLACED = "replaced"  # a file of the same name and sheet landed before: its rows were replaced
    UNCHANGED = "unchanged"  # the same bytes (sha256) landed before: nothing to do
    SKIPPED = "skipped"  # a sheet that is not an export (hidden metadata, empty)
    FAILED = "failed"
    UNLOADED = "unloaded"  # taken back out by `p2c unload`


@dataclass
class LoadResult:
    file: str
    sheet: str | None = None
    sha256: str | None = None
    entity: str | None = None
    detected_by: str | None = None
    file_type: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    company: str | None = None
    rows_read: int = 0
    rows_landed: int = 0
    rows_rejected: int = 0
    unknown_headers: list[str] = field(default_factory=list)
    duplicate_headers: list[str] = field(default_factory=list)
    headers: list[dict[str, object]] = field(default_factory=list)
    status: LoadStatus = LoadStatus.FAILED
    error: str | None = None
    duration_s: float = 0.0
    file_table: str | None = None
    rejects: list[Reject] = field(default_factory=list)
    sheet_index: int | None = None
    file_size: int | None = None
    row_numbers: str = "rowid"  # 'column' when the exact parser stored _source_row
    choice_labels: list[dict[str, object]] = field(default_factory=list)  # raw._choice_labels rows


class LoadError(LoaderError):
    """A file that cannot be landed; the message names the file (and sheet) and what is wrong."""


# Set by `p2c load`'s SIGINT handler (loaders.load): a Ctrl-C may reach this module as any exception.
SIGINT_RECEIVED = threading.Event()

# Below this size hashing first costs nothing worth a thread.
HASH_IN_BACKGROUND_BYTES = 8 * 1024 * 1024
# hashlib releases the GIL on large buffers, so a second thread really runs beside DuckDB.
_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2c-sha256")


def new_load_id() -> str:
    """Sortable and unique: UTC time of the `p2c load` run plus a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    load_id: str,
    options: LoadOptions,
    workbook: PendingWorkbook | None = None,
) -> list[LoadResult]:
    """Land one file; return one result per landed sheet (one for a CSV), or a single failed/unchanged one.
    `workbook` is the workbook already being parsed in a thread, if the caller started that."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).replace(tzinfo=None)
    file = str(path.resolve())
    base = LoadResult(file=file, company=options.company)
    hashing: Future[str] | None = None
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(SAMPLE_BYTES)
        base.file_type = detect_file_type(path, head)
        # Identical content has an identical size: when no landed file has this size, the file is certainly
        # new, and its hash (needed only for provenance) is computed while DuckDB reads it. Otherwise the
        # hash decides first whether there is anything to do.
        if _size_already_landed(con, size) or size < HASH_IN_BACKGROUND_BYTES:
            base.sha256 = file_sha256(path)
            earlier = con.execute(
                "select file, entity from raw._files where sha256 = ? and company is not distinct from ? "
                "order by file = ? desc limit 1",
                [base.sha256, options.company, file],
            ).fetchone()
        else:
            hashing, earlier = _HASHER.submit(file_sha256, path), None
        if earlier is not None:
            base.status, base.entity = LoadStatus.UNCHANGED, earlier[1]
            base.error = None if earlier[0] == file else f"same content already landed from {earlier[0]}"
            results = [base]
        else:
            results = _land_in_transaction(
                con, path, head, base, load_id, (started, started_at), options, size, hashing, workbook
            )
    except FileNotFoundError:
        base.status, base.error = LoadStatus.FAILED, "no such file"
        results = [base]
    except (
        FileTypeError,
        EntityError,
        LoadError,
        OSError,
        duckdb.Error,
        pa.ArrowException,
        ValueError,
    ) as error:
        base.status, base.error = LoadStatus.FAILED, _message(error)
        results = [base]
    except Exception as error:  # a reader crash on one file must not stop the others
        base.status, base.error = LoadStatus.FAILED, f"{type(error).__name__}: {_message(error)}"
        results = [base]
    if SIGINT_RECEIVED.is_set():
        # Ctrl-C that surfaced as a DuckDB or reader error ("Query interrupted", an aborted transaction):
        # the file was rolled back; stop the whole load instead of logging it as failed and going on
        raise KeyboardInterrupt
    if hashing is not None and base.sha256 is None:
        with contextlib.suppress(OSError):  # the load already failed; the hash is only provenance
            base.sha256 = hashing.result()
    if results[0].status in (LoadStatus.UNCHANGED, LoadStatus.FAILED):
        results[0].duration_s = time.perf_counter() - started
        _log_loads(con, results, load_id, started_at)
    return results


def _size_already_landed(con: duckdb.DuckDBPyConnection, size: int) -> bool:
    return bool(scalar(con, "select count(*) from raw._files where file_size = ?", [size]) > 0)


def _message(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _land_in_transaction(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: bytes,
    base: LoadResult,
    load_id: str,
    started: tuple[float, datetime],
    options: LoadOptions,
    size: int,
    hashing: Future[str] | None,
    workbook: PendingWorkbook | None,
) -> list[LoadResult]:
    attempt = _CsvAttempt(exact=options.force_exact_csv)
    started_at = started[1]
    while True:
        con.execute("begin transaction")
        try:
            previous = _drop_previous_version(con, base.file)
            if base.file_type == "xlsx":
                sheets = workbook.result() if workbook is not None else read_workbook(path)
                results = _land_workbook(con, path, sheets, base, options)
            else:
                results = [_land_csv(con, path, head, base, options, attempt)]
            for result in results:
                if result.status == LoadStatus.LANDED and previous:
                    result.status = LoadStatus.REPLACED
            if hashing is not None:
                base.sha256 = hashing.result()
            for result in results:
                result.sha256, result.file_size = base.sha256, size
            _register(con, results, load_id, started_at)
            for entity in sorted(previous | {r.entity for r in results if r.file_table and r.entity}):
                rebuild_entity_view(con, entity)
            for result in results:
                result.duration_s = time.perf_counter() - started[0]
            _log_loads(con, results, load_id, started_at)
            con.execute("commit")
            return results
        except _RetryExact as retry:
            con.execute("rollback")
            attempt = _next_attempt(path, options, retry.encoding)
        except BaseException:
            con.execute("rollback")
            raise


class _RetryExact(Exception):
    """DuckDB's CSV reader refused the file (a failed statement aborts the DuckDB transaction, so the whole
    file is redone in a new one)."""

    def __init__(self, encoding: str) -> None:
        super().__init__(encoding)
        self.encoding = encoding


@dataclass(frozen=True)
class _CsvAttempt:
    exact: bool = False
    encoding: str | None = None  # None: the sniffed (or --encoding) one


def _next_attempt(path: Path, options: LoadOptions, failed_encoding: str) -> _CsvAttempt:
    """After DuckDB refused a file: if the whole file shows another encoding than the first MiB did (a
    cp1252 file whose first accented letter comes late), try the fast path again with it; otherwise use
    the exact parser, which rejects the bad rows one by one."""
    if options.encoding:
        return _CsvAttempt(exact=True, encoding=normalize_encoding(options.encoding))
    encoding = full_encoding_guess(path)
    return _CsvAttempt(exact=encoding == failed_encoding, encoding=encoding)


def _drop_previous_version(con: duckdb.DuckDBPyConnection, file: str) -> set[str]:
    rows = con.execute("select file_table, entity from raw._files where file = ?", [file]).fetchall()
    for file_table, _ in rows:
        con.execute(f"drop table if exists {FILES_SCHEMA}.{quote_identifier(file_table)}")
    con.execute("delete from raw._files where file = ?", [file])
    con.execute("delete from raw._rejects where file = ?", [file])
    con.execute("delete from raw._choice_labels where file = ?", [file])
    return {entity for _, entity in rows}


@dataclass(frozen=True)
class Unloaded:
    file: str
    entities: tuple[str, ...]
    rows: int


def landed_files_named(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """The landed files `path` (absolute) names for `p2c unload`: itself when it is a landed file, else every
    landed file under it, as `p2c load` takes folders (the folder need not exist any more: raw._files says
    what was landed from it). LoadError when it names none."""
    try:
        rows = con.execute("select distinct file from raw._files order by file").fetchall()
        landed = [file for (file,) in rows]
    except duckdb.CatalogException:
        landed = []  # a database nothing was ever loaded into
    if str(path) in landed:
        return [str(path)]
    under = [file for file in landed if Path(file).is_relative_to(path)]
    if under:
        return under
    if path.is_dir():
        raise LoadError(
            f"nothing under {path} is landed in this database ({len(landed)} file(s) are, from elsewhere:"
            " see raw._files)"
        )
    raise LoadError(f"{path} is not landed in this database (see raw._files for the landed files)")


def unload_file(con: duckdb.DuckDBPyConnection, file: str, load_id: str) -> Unloaded:
    """Take a landed file (every sheet of it) back out of the database, in one transaction: its file tables,
    its rows in raw._files, raw._rejects and raw._choice_labels go, `raw.<table>` is rebuilt without it, and
    raw._loads keeps the history with a row of status `unloaded`. The next build no longer sees it."""
    landed = con.execute(
        "select entity, file_table from raw._files where file = ? order by sheet_index", [file]
    ).fetchall()
    if not landed:
        raise LoadError(f"{file} is not landed in this database (see raw._files for the landed files)")
    rows = 0
    for _, file_table in landed:
        rows += int(scalar(con, f"select count(*) from {FILES_SCHEMA}.{quote_identifier(file_table)}"))
    con.execute("begin")
    try:
        entities = _drop_previous_version(con, file)
        for entity in sorted(entities):
            rebuild_entity_view(con, entity)
        moment = datetime.now(UTC).replace(tzinfo=None)
        result = LoadResult(file=file, entity=",".join(sorted(entities)), status=LoadStatus.UNLOADED)
        result.error = f"unloaded: {rows} rows taken out"
        _log_loads(con, [result], load_id, moment)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return Unloaded(file, tuple(sorted(entities)), rows)


def _new_table_name(entity: str, sheet_index: int | None) -> str:
    """Unique per landing (the content hash may still be computing): raw.<table> finds it via raw._files."""
    sheet = "" if sheet_index is None else f"_s{sheet_index}"
    return f"{entity}{sheet}_{uuid.uuid4().hex[:16]}"


def _describe_plan(result: LoadResult, plan: ColumnPlan) -> None:
    result.unknown_headers, result.duplicate_headers = list(plan.unknown), list(plan.duplicates)
    result.headers = [
        {"position": c.position, "header": c.header, "logical_name": c.name, "how": c.how}
        for c in plan.columns
    ]


def _select_list(plan: ColumnPlan) -> str:
    return ", ".join(f"c{i} as {quote_identifier(name)}" for i, name in enumerate(plan.names))


def _land_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    head: bytes,
    base: LoadResult,
    options: LoadOptions,
    attempt: _CsvAttempt,
) -> LoadResult:
    forced = attempt.encoding or (normalize_encoding(options.encoding) if options.encoding else None)
    complete = path.stat().st_size <= len(head)
    fmt = sniff_text(head, complete=complete, encoding=forced)
    result = LoadResult(**{**base.__dict__, "encoding": fmt.encoding, "delimiter": fmt.delimiter})
    result.entity, result.detected_by = detect_entity(fmt.header, path.name, options.entity)
    plan = plan_columns(result.entity, fmt.header)
    _describe_plan(result, plan)
    table = _new_table_name(result.entity, None)
    target = f"{FILES_SCHEMA}.{quote_identifier(table)}"
    # DuckDB's read_csv(header = true) silently lands no rows at all when the header record itself spans
    # lines (a quoted header with a line break, duckdb 2.0.1): such files go to the exact parser directly.
    header_spans_lines = any("\n" in header or "\r" in header for header in fmt.header)
    if not attempt.exact and not header_spans_lines:
        try:
            _land_csv_fast(con, path, fmt.encoding, fmt.delimiter, plan, target)
        except (duckdb.Error, UnicodeDecodeError) as error:
            if attempt.encoding is not None:  # the second fast attempt failed too
                raise _RetryExact(attempt.encoding) from error
            raise _RetryExact(fmt.encoding) from error
        result.rows_read = result.rows_landed = int(scalar(con, f"select count(*) from {target}"))
        result.file_table, result.status = table, LoadStatus.LANDED
        return result
    # The exact parser: with the encoding judged on the whole file, unless the user named it.
    encoding = forced or full_encoding_guess(path)
    result.encoding = encoding
    parse = ExactParse()
    reader = pa.RecordBatchReader.from_batches(
        _exact_schema(len(plan.names)), parse_exact(path, encoding, fmt.delimiter, plan.names, parse)
    )
    con.register("_p2c_incoming", reader)
    try:
        con.execute(f"create table {target} as select {_select_list(plan)}, _source_row from _p2c_incoming")
    finally:
        con.unregister("_p2c_incoming")
    result.rows_read, result.rows_landed = parse.rows_read, parse.rows_landed
    result.rejects = parse.rejects or []
    result.rows_rejected = len(result.rejects)
    result.file_table, result.status, result.row_numbers = table, LoadStatus.LANDED, "column"
    return result


def _exact_schema(width: int) -> pa.Schema:
    return pa.schema([pa.field(f"c{i}", pa.string()) for i in range(width)] + [("_source_row", pa.int64())])


def _land_csv_fast(
    con: duckdb.DuckDBPyConnection, path: Path, encoding: str, delimiter: str, plan: ColumnPlan, target: str
) -> None:
    """One `create table as select from read_csv`: strict, no sniffing, every column VARCHAR. DuckDB keeps
    insertion order, so rowid + 1 is the data row number (blank lines are skipped by both parsers)."""
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(plan.names))) + "}"
    with tempfile.TemporaryDirectory(prefix="p2c-load-") as scratch:
        source = path
        if encoding not in DUCKDB_ENCODINGS:
            source = Path(scratch) / "utf8.csv"
            transcode_to_utf8(path, encoding, source)
        select = _select_list(plan)
        con.execute(
            f"create table {target} as select {select} from read_csv({quote_literal(str(source))}, "
            f"header = true, auto_detect = false, delim = {quote_literal(delimiter)}, quote = '\"', "
            f"escape = '\"', strict_mode = true, columns = {columns})"
        )


def _land_workbook(
    con: duckdb.DuckDBPyConnection, path: Path, sheets: list[Sheet], base: LoadResult, options: LoadOptions
) -> list[LoadResult]:
    """Land the export sheet(s) of a workbook; skip its hidden sheets and, when the export sheet is known (by
    the metadata sheet, the `(Do Not Modify)` headers or the Excel table), the sheets users added to it."""
    found = _find_metadata(sheets)
    metadata = found[1] if found else None
    exports = {sheet.index for sheet in sheets if _is_export_sheet(sheet, metadata)}
    results: list[LoadResult] = []
    for sheet in sheets:
        result = LoadResult(**{**base.__dict__, "sheet": sheet.name, "sheet_index": sheet.index})
        results.append(result)
        if found and sheet.index == found[0]:
            result.status = LoadStatus.SKIPPED
            result.error = f"metadata sheet of a Dynamics export of table {found[1].table}"
            if sheet.visible:
                result.error += " (made visible: Dynamics writes it very hidden)"
            continue
        if not sheet.visible or not sheet.header:
            result.status = LoadStatus.SKIPPED
            result.error = "hidden sheet" if not sheet.visible else "empty sheet"
            continue
        described = metadata is not None and _matches_metadata(sheet.header, metadata)
        if metadata is not None and not described and sheet.index not in exports:
            result.status = LoadStatus.SKIPPED
            result.error = (
                f"not an export sheet: its headers are not the columns the metadata sheet lists "
                f"(the export is {_export_sheet_names(sheets, exports)})"
            )
            continue
        try:
            if described:
                assert metadata is not None
                result.entity, result.detected_by = _entity_from_metadata(metadata.table, options.entity)
            else:
                result.entity, result.detected_by = detect_entity(
                    sheet.header, f"{path.name} {sheet.name}", options.entity
                )
        except EntityError as error:
            if exports and sheet.index not in exports:
                result.status = LoadStatus.SKIPPED
                result.error = (
                    f"not an export sheet ({error}; the export is {_export_sheet_names(sheets, exports)})"
                )
                continue
            raise LoadError(f"sheet {sheet.name!r}: {error}") from error
        exact = metadata_column_names(result.entity, metadata) if described and metadata else None
        plan = plan_columns(result.entity, sheet.header, exact)
        _describe_plan(result, plan)
        table = _new_table_name(result.entity, sheet.index)
        # in batches of a row group: DuckDB then scans and writes them in parallel (see raw_schema)
        batches = sheet.data.to_batches(max_chunksize=LANDING_ROW_GROUP_SIZE)
        con.register("_p2c_incoming", pa.Table.from_batches(batches, schema=sheet.data.schema))
        try:
            con.execute(
                f"create table {FILES_SCHEMA}.{quote_identifier(table)} as "
                f"select {_select_list(plan)} from _p2c_incoming"
            )
        finally:
            con.unregister("_p2c_incoming")
        if described and metadata is not None:
            result.choice_labels = _choice_labels(result.entity, metadata, plan, sheet.data)
        result.rows_read = result.rows_landed = sheet.data.num_rows
        result.file_table, result.status = table, LoadStatus.LANDED
    if not any(result.file_table for result in results):
        raise LoadError("the workbook has no visible sheet with a header row")
    return results


def _find_metadata(sheets: list[Sheet]) -> tuple[int, ExportMetadata] | None:
    """The sheet index and content of Dynamics' metadata sheet (A1 in its format), if any: the very hidden
    one Dynamics writes first, else one a user made visible (Excel lets a macro or a tool unhide it)."""
    for sheet in sorted(sheets, key=lambda s: s.visible):
        if not sheet.header or parse_metadata_cell(sheet.header[0]) is None:
            continue
        rows: list[list[str | None]] = [list(sheet.header)]
        rows += [list(row.values()) for row in sheet.data.to_pylist()]
        metadata = parse_metadata_sheet(rows)
        if metadata is not None:
            return sheet.index, metadata
    return None


def _matches_metadata(header: list[str], metadata: ExportMetadata) -> bool:
    """The sheet is one the metadata describes: it starts with the record id column the metadata lists
    first, or most of its headers and at least half of the metadata's columns are listed there."""
    keys = {header_key(column.display_name) for column in metadata.columns}
    listed = sum(1 for text in header if text and header_key(text) in keys)
    first = header_key(metadata.columns[0].display_name) if metadata.columns else None
    if not header or not listed:
        return False
    if header_key(header[0]) == first:
        return True
    return listed * 2 > len([text for text in header if text]) and listed * 2 >= len(metadata.columns)


def _is_export_sheet(sheet: Sheet, metadata: ExportMetadata | None) -> bool:
    if not sheet.visible or not sheet.header:
        return False
    if metadata is not None and _matches_metadata(sheet.header, metadata):
        return True
    return header_key(sheet.header[0]).startswith(DO_NOT_MODIFY) or bool(sheet.tables)


def _export_sheet_names(sheets: list[Sheet], exports: set[int]) -> str:
    names = [repr(sheet.name) for sheet in sheets if sheet.index in exports]
    return ("sheet " if len(names) == 1 else "sheets ") + ", ".join(names)


def _entity_from_metadata(table: str, override: str | None) -> tuple[str, str]:
    if override is not None and override != table:
        raise EntityError(
            f"--entity {override} contradicts the workbook's metadata sheet: it is an export of {table}"
        )
    if table not in exported_entities():
        raise EntityError(
            f"the metadata sheet names table {table!r}, which is not one of the exported tables "
            f"({', '.join(exported_entities())})"
        )
    return table, "metadata sheet"


def _choice_labels(
    entity: str, metadata: ExportMetadata, plan: ColumnPlan, data: pa.Table
) -> list[dict[str, object]]:
    """One row per label of each choice column the metadata sheet lists, with the column it belongs to.

    The metadata names no column for its label rows, only their order (the view's choice columns, in view
    order), so the columns are matched in order: a column the choice-label seed knows as a choice column
    matches; one the vocabulary knows otherwise does not; any other column (custom, or a standard column the
    seeds lack) matches when its values are all among the labels. The record id, checksum and modified-on
    columns (the metadata's first three) never do."""
    known = known_columns(entity)
    choices = choice_columns()
    names = metadata_column_names(entity, metadata)
    hidden = {names[column.display_name] for column in metadata.columns[:HIDDEN_EXPORT_COLUMNS]}
    rows: list[dict[str, object]] = []
    after = 0
    for choice in metadata.choice_rows:
        found: Column | None = None
        for column in plan.columns[after:]:
            if column.how != METADATA_SHEET or column.name in hidden:
                continue
            if (entity, column.name) in choices:
                found = column
            elif column.name not in known:
                values = pc.unique(data.column(column.position - 1).drop_null()).to_pylist()
                if values and set(values) <= set(choice.labels):
                    found = column
            if found is not None:
                after = column.position
                break
        rows += [
            {
                "entity": entity,
                "metadata_row": choice.row,
                "column_position": found.position if found else None,
                "column": found.name if found else None,
                "header": found.header if found else None,
                "label_position": position,
                "label": label,
            }
            for position, label in enumerate(choice.labels, start=1)
        ]
    return rows


def _insert_by_name(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, object]]) -> None:
    """Insert rows given as column -> value: the bookkeeping DDL (raw_schema) may reorder or add columns
    without any insert here silently writing a value into the wrong column."""
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(quote_identifier(c) for c in columns)
    placeholders = ", ".join("?" for _ in columns)
    con.executemany(
        f"insert into {table} ({names}) values ({placeholders})", [[row[c] for c in columns] for row in rows]
    )


def _register(
    con: duckdb.DuckDBPyConnection, results: list[LoadResult], load_id: str, started_at: datetime
) -> None:
    for result in results:
        if not result.file_table:
            continue
        file_row: dict[str, object] = {
            "file": result.file,
            "sheet": result.sheet,
            "sheet_index": result.sheet_index,
            "sha256": result.sha256,
            "file_size": result.file_size,
            "entity": result.entity,
            "company": result.company,
            "load_id": load_id,
            "loaded_at": started_at,
            "file_table": result.file_table,
            "row_numbers": result.row_numbers,
        }
        _insert_by_name(con, "raw._files", [file_row])
        _insert_by_name(
            con,
            "raw._choice_labels",
            [
                {"load_id": load_id, "file": result.file, "sheet": result.sheet, **row}
                for row in result.choice_labels
            ],
        )
        if result.rejects:
            # Through Arrow rather than executemany: a broken file can reject a million rows.
            rejects = pa.table(
                {
                    "load_id": pa.array([load_id] * len(result.rejects), pa.string()),
                    "file": pa.array([result.file] * len(result.rejects), pa.string()),
                    "sheet": pa.array([result.sheet] * len(result.rejects), pa.string()),
                    "data_row": pa.array([r.data_row for r in result.rejects], pa.int64()),
                    "line": pa.array([r.line for r in result.rejects], pa.int64()),
                    "column_position": pa.array([r.column_position for r in result.rejects], pa.int32()),
                    "column_name": pa.array([r.column_name for r in result.rejects], pa.string()),
                    "reason": pa.array([r.reason for r in result.rejects], pa.string()),
                    "record": pa.array([r.record for r in result.rejects], pa.string()),
                }
            )
            con.register("_p2c_rejects", rejects)
            try:
                con.execute("insert into raw._rejects by name select * from _p2c_rejects")
            finally:
                con.unregister("_p2c_rejects")


def _log_loads(
    con: duckdb.DuckDBPyConnection, results: list[LoadResult], load_id: str, started_at: datetime
) -> None:
    rows: list[dict[str, object]] = [
        {
            "load_id": load_id,
            "file": r.file,
            "sheet": r.sheet,
            "sha256": r.sha256,
            "entity": r.entity,
            "detected_by": r.detected_by,
            "file_type": r.file_type,
            "encoding": r.encoding,
            "delimiter": r.delimiter,
            "company": r.company,
            "rows_read": r.rows_read,
            "rows_landed": r.rows_landed,
            "rows_rejected": r.rows_rejected,
            "unknown_headers": r.unknown_headers,
            "duplicate_headers": r.duplicate_headers,
            "headers": r.headers,
            "status": str(r.status),
            "error": r.error,
            "started_at": started_at,
            "duration_s": r.duration_s,
            "file_table": r.file_table,
        }
        for r in results
    ]
    _insert_by_name(con, "raw._loads", rows)
