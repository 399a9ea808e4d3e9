"""`p2c load`'s work: find the export files, land each in its own transaction, show progress for big files.

What it prints at the end is in loaders.report; the exit code is the CLI's (p2c.cli)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from loaders import early_read
from loaders.discover import discover
from loaders.errors import LoaderError
from loaders.landing import SIGINT_RECEIVED, LoadOptions, LoadResult, LoadStatus, load_file, new_load_id
from loaders.raw_schema import connect_landing_zone, ensure_landing_zone
from loaders.sniff import ZIP_MAGIC
from loaders.sql import scalar
from loaders.xlsx_reader import PendingWorkbook, read_workbook

# Files smaller than this load in well under a second: a progress bar would only flicker.
PROGRESS_MIN_BYTES = 16 * 1024 * 1024


class NoExportFiles(LoaderError):
    """None of the paths is, or holds, a file the loader can read."""


class LandingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `p2c load`: what was landed before it, and the files not landed (the one in progress was
    rolled back). Loading the same files again lands the rest; the landed ones are skipped as unchanged."""

    def __init__(self, load_id: str, results: list[LoadResult], not_landed: list[Path]) -> None:
        super().__init__(load_id)
        self.load_id, self.results, self.not_landed = load_id, results, not_landed


@dataclass(frozen=True)
class LandingRun:
    """One `p2c load`: its id and a result per file (or workbook sheet)."""

    load_id: str
    results: list[LoadResult]

    @property
    def failed(self) -> list[LoadResult]:
        return [r for r in self.results if r.status == LoadStatus.FAILED]


def land(
    paths: list[Path],
    db_path: Path,
    options: LoadOptions,
    *,
    console: Console | None = None,
) -> LandingRun:
    """Find the export files under `paths` and land each; a file that fails does not stop the others."""
    files = discover(paths)
    if not files:
        raise NoExportFiles("no export files found in " + ", ".join(str(p) for p in paths))
    load_id, results = load_paths(files, db_path, options, console=console)
    return LandingRun(load_id, results)


def load_paths(
    files: list[Path], db_path: Path, options: LoadOptions, *, console: Console | None = None
) -> tuple[str, list[LoadResult]]:
    """Land the files one by one (one transaction each) in one connection: a DuckDB file has one writer.
    The next workbook is parsed in a thread meanwhile (see WorkbookPrefetch)."""
    load_id = new_load_id()
    results: list[LoadResult] = []
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = connect_landing_zone(db_path)
    prefetch = WorkbookPrefetch(con)
    previous_handler = _catch_sigint()
    try:
        prefetch.start(files[:1])
        ensure_landing_zone(con)
        for index, path in enumerate(files):
            prefetch.start(files[index + 1 : index + 2])
            with _progress(con, path, console or Console(quiet=True)):
                results.extend(load_file(con, path, load_id, options, workbook=prefetch.take(path)))
    except KeyboardInterrupt:
        # the file in progress was rolled back (one transaction per file); the earlier ones stay landed
        done = {Path(r.file) for r in results}
        pending = [f for f in files if f.resolve() not in done and f not in done]
        raise LandingInterrupted(load_id, results, pending) from None
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        SIGINT_RECEIVED.clear()
        prefetch.close()
        con.close()
    return load_id, results


def _catch_sigint() -> Any:
    """Remember a Ctrl-C (it may reach the loader as a DuckDB or reader error), then interrupt as usual."""
    if threading.current_thread() is not threading.main_thread():
        return None
    SIGINT_RECEIVED.clear()

    def handler(signum: int, frame: Any) -> None:
        SIGINT_RECEIVED.set()
        signal.default_int_handler(signum, frame)

    return signal.signal(signal.SIGINT, handler)


class WorkbookPrefetch:
    """Parse the next .xlsx file in a worker thread while DuckDB lands the current file.

    Only workbooks whose size matches no landed file are parsed ahead: any other one may be unchanged,
    and then its hash alone decides, without parsing it. A parse the console script started before the
    CLI was imported (loaders.early_read) is taken over as it is."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2c-xlsx")
        self._pending: dict[Path, PendingWorkbook] = {}
        landed = scalar(
            con,
            "select count(*) from information_schema.tables"
            " where table_schema = 'raw' and table_name = '_files'",
        )
        sizes = con.execute("select distinct file_size from raw._files").fetchall() if landed else []
        self._landed_sizes = {size for (size,) in sizes}

    def start(self, paths: list[Path]) -> None:
        for path in paths:
            if path in self._pending or not path.is_file():
                continue
            early = early_read.take(path)
            if early is not None:
                self._pending[path] = early
                continue
            with path.open("rb") as handle:
                is_zip = handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC
            if is_zip and path.stat().st_size not in self._landed_sizes:
                self._pending[path] = self._executor.submit(read_workbook, path)

    def take(self, path: Path) -> PendingWorkbook | None:
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
