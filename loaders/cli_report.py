"""`p2c load`: land every file, show progress for big files, print the summary, return the exit code."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from loaders.csv_exact import Reject
from loaders.discover import discover
from loaders.landing import LoadOptions, LoadResult, load_file, new_load_id
from loaders.raw_schema import ensure_landing_zone
from loaders.sniff import ZIP_MAGIC
from loaders.xlsx_reader import Sheet, read_workbook

# Files smaller than this load in well under a second: a progress bar would only flicker.
PROGRESS_MIN_BYTES = 16 * 1024 * 1024
# Rejected rows printed per file; all of them are in raw._rejects.
REJECTS_SHOWN = 5


def run_load(
    paths: list[Path],
    db_path: Path,
    *,
    company: str | None = None,
    entity: str | None = None,
    encoding: str | None = None,
    console: Console | None = None,
    options: LoadOptions | None = None,
) -> int:
    """Exit code 0 when every file was read (rows may still be rejected), 1 when any file failed."""
    # Outside a terminal (CI logs, pipes) rich would wrap the summary at 80 columns: give it room.
    console = console or Console(width=None if Console().is_terminal else 200)
    options = options or LoadOptions(company=company, entity=entity, encoding=encoding)
    files = discover(paths)
    if not files:
        console.print("[red]error:[/] no export files found in " + ", ".join(str(p) for p in paths))
        return 1
    load_id, results = load_paths(files, db_path, options, console=console)
    console.print(summary_table(results, load_id))
    for result in results:
        for reject in result.rejects[:REJECTS_SHOWN]:
            console.print(f"[yellow]rejected:[/] {describe_reject(result, reject)}", highlight=False)
        if len(result.rejects) > REJECTS_SHOWN:
            more = len(result.rejects) - REJECTS_SHOWN
            console.print(
                f"[yellow]rejected:[/] {result.file}: {more} more rows, see raw._rejects", highlight=False
            )
    failed = [r for r in results if r.status == "failed"]
    for result in failed:
        where = result.file + (f" [sheet {result.sheet}]" if result.sheet else "")
        console.print(f"[red]error:[/] {where}: {result.error}", highlight=False)
    return 1 if failed else 0


def load_paths(
    files: list[Path], db_path: Path, options: LoadOptions, *, console: Console | None = None
) -> tuple[str, list[LoadResult]]:
    """Land the files one by one (one transaction each) in one connection: a DuckDB file has one writer.
    The next workbook is parsed in a thread meanwhile (see WorkbookPrefetch)."""
    load_id = new_load_id()
    results: list[LoadResult] = []
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    prefetch = WorkbookPrefetch(con)
    try:
        prefetch.start(files[:1])
        ensure_landing_zone(con)
        for index, path in enumerate(files):
            prefetch.start(files[index + 1 : index + 2])
            with _progress(con, path, console or Console(quiet=True)):
                results.extend(load_file(con, path, load_id, options, workbook=prefetch.take(path)))
    finally:
        prefetch.close()
        con.close()
    return load_id, results


class WorkbookPrefetch:
    """Parse the next .xlsx file in a worker thread while DuckDB lands the current file.

    Only workbooks whose size matches no landed file are parsed ahead: any other one may be unchanged,
    and then its hash alone decides, without parsing it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2c-xlsx")
        self._pending: dict[Path, Future[list[Sheet]]] = {}
        landed = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = '_files'"
        ).fetchone()[0]
        sizes = con.execute("select distinct file_size from raw._files").fetchall() if landed else []
        self._landed_sizes = {size for (size,) in sizes}

    def start(self, paths: list[Path]) -> None:
        for path in paths:
            if path in self._pending or not path.is_file():
                continue
            with path.open("rb") as handle:
                is_zip = handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC
            if is_zip and path.stat().st_size not in self._landed_sizes:
                self._pending[path] = self._executor.submit(read_workbook, path)

    def take(self, path: Path) -> Future[list[Sheet]] | None:
        return self._pending.pop(path, None)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _progress(con: duckdb.DuckDBPyConnection, path: Path, console: Console) -> Iterator[None]:
    """A rich progress bar fed by DuckDB's own query progress, for files big enough to wait for."""
    if not console.is_terminal or not path.is_file() or path.stat().st_size < PROGRESS_MIN_BYTES:
        yield
        return
    # DuckDB tracks query progress only with its progress bar enabled; its own printing stays off.
    con.execute("set enable_progress_bar = true")
    con.execute("set enable_progress_bar_print = false")
    done = threading.Event()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(path.name, total=100)
        poller = threading.Thread(target=_poll, args=(con, progress, task, done), daemon=True)
        poller.start()
        try:
            yield
        finally:
            done.set()
            poller.join()


def _poll(con: duckdb.DuckDBPyConnection, progress: Progress, task: TaskID, done: threading.Event) -> None:
    while not done.wait(0.2):
        try:
            percent = con.query_progress()
        except duckdb.Error:
            continue
        if percent >= 0:
            progress.update(task, completed=percent)


def describe_reject(result: LoadResult, reject: Reject) -> str:
    """File, data row, physical line and column of one rejected row, in words."""
    column = ""
    if reject.column_position is not None:
        column = f", column {reject.column_position}" + (
            f" ({reject.column_name})" if reject.column_name else ""
        )
    return f"{result.file}: data row {reject.data_row} (line {reject.line}){column}: {reject.reason}"


def summary_table(results: list[LoadResult], load_id: str) -> Table:
    table = Table(title=f"p2c load {load_id}", show_lines=False)
    for header in ("file", "sheet", "entity", "type", "read", "landed", "rejected", "status", "notes"):
        table.add_column(header, justify="right" if header in ("read", "landed", "rejected") else "left")
    styles = {"landed": "green", "replaced": "cyan", "unchanged": "dim", "skipped": "dim", "failed": "red"}
    for r in results:
        kind = r.file_type or ""
        if r.file_type == "csv" and r.encoding:
            kind += f" {r.encoding} {'tab' if r.delimiter == chr(9) else r.delimiter}"
        notes = []
        if r.detected_by and r.detected_by != "headers":
            notes.append(f"entity by {r.detected_by}")
        if r.unknown_headers:
            notes.append("unknown headers: " + ", ".join(r.unknown_headers))
        if r.duplicate_headers:
            notes.append("duplicate headers: " + "; ".join(r.duplicate_headers))
        if r.error:
            notes.append(r.error)
        table.add_row(
            Path(r.file).name,
            r.sheet or "",
            r.entity or "",
            kind,
            str(r.rows_read),
            str(r.rows_landed),
            str(r.rows_rejected),
            f"[{styles.get(r.status, '')}]{r.status}[/]",
            "\n".join(notes),
        )
    return table
