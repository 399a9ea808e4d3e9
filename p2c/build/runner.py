"""`p2c build`: run `dbt build` in-process with a live progress display, then summarize what it produced.

Exit codes (p2c.errors.ExitCode): OK = everything built and every test passed (warnings allowed),
FAILED_ROWS = a model, seed or test failed or errored; when dbt cannot run at all (bad arguments, broken
project, locked DuckDB file) a P2CError is raised, which the CLI shows as CANNOT_RUN."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loaders.raw_schema import ensure_landing_zone
from p2c.build.dbt import DbtOutcome, dbt_args, invoke_dbt, parse_vars, release_duckdb
from p2c.build.summary import BuildSummary, collect_summary, render_summary
from p2c.errors import DatabaseUnavailable, ExitCode, P2CError, UsageError
from p2c.settings import project_dir as find_project_dir


class BuildProgress:
    """Receives dbt's structured events (from dbt's worker threads) and shows node n of N and what runs now.

    On a terminal it is a rich progress bar (n of N, the nodes running now); elsewhere (CI logs, CliRunner)
    one line per finished node."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}  # unique_id -> short description, in start order
        self._finished = 0
        self._total: int | None = None
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> BuildProgress:
        if self._console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]dbt build"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=self._console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("parsing the project", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=self._finished, completed=self._finished)
            self._progress.stop()

    def __call__(self, event: Any) -> None:
        name = event.info.name
        if name == "LogStartLine":
            self._on_start_line(event.data)
        elif name == "NodeStart":
            self._on_node_start(event.data.node_info)
        elif name == "NodeFinished":
            self._on_node_finished(event.data.node_info)

    def _on_start_line(self, data: Any) -> None:
        with self._lock:
            if data.total and self._total != data.total:
                self._total = data.total
                if self._progress is not None:
                    self._progress.update(self._task, total=data.total)

    def _on_node_start(self, node_info: Any) -> None:
        with self._lock:
            self._running[node_info.unique_id] = _short_name(node_info)
            self._refresh()

    def _on_node_finished(self, node_info: Any) -> None:
        with self._lock:
            self._running.pop(node_info.unique_id, None)
            self._finished += 1
            if self._progress is None:
                # Only n: dbt's N counts unit tests twice when two threads start at once (dbt-core 1.11
                # BuildTask.handle_job_queue), a visible error in a log; the bar shows it as an estimate.
                status = node_info.node_status or "done"
                self._console.print(
                    f"[{self._finished:>4}] {status:<8} {_short_name(node_info)}",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
            self._refresh()

    def _refresh(self) -> None:
        if self._progress is None:
            return
        current = ", ".join(list(self._running.values())[-2:]) or ""
        self._progress.update(self._task, completed=self._finished, description=current)


def _short_name(node_info: Any) -> str:
    resource_type = node_info.resource_type or ""
    return f"{resource_type} {node_info.node_name}".strip()


def run_build(
    db_path: Path,
    select: str | None = None,
    dbt_vars: Sequence[str] = (),
    *,
    project_dir: Path | None = None,
    console: Console | None = None,
) -> ExitCode:
    """Build the dbt project into `db_path` and print the summary; returns the exit code."""
    project_dir = project_dir or find_project_dir()
    # Outside a terminal (CI logs, pipes) rich would wrap the tables at 80 columns: give them room.
    console = console or Console(width=None if Console().is_terminal else 200)
    try:
        variables = parse_vars(dbt_vars)
    except ValueError as error:
        raise UsageError(str(error)) from None

    try:
        prepare_database(db_path)
    except duckdb.Error as error:
        # Most often another process (a DuckDB UI, a running load) holds the single write lock.
        raise DatabaseUnavailable(
            f"cannot open {db_path} for writing: {error}",
            hint="close the other program that has the database open (a running p2c, a DuckDB UI)",
        ) from None

    # dbt's own console log would interleave with ours: silence it, keep the debug log file (logs/dbt.log).
    args = dbt_args("build", project_dir=project_dir, select=select, dbt_vars=variables)
    args += ["--log-level", "none", "--log-level-file", "debug"]
    try:
        with BuildProgress(console) as progress:
            outcome = invoke_dbt(args, db_path, callbacks=[progress])
    finally:
        release_duckdb()

    if outcome.exception is not None and not outcome.nodes:
        raise P2CError(f"dbt could not run: {outcome.exception}", hint="details in logs/dbt.log")

    summary = collect_summary(outcome, db_path, project_dir)
    if select and not outcome.nodes:
        summary.notes.append(f"the selection {select!r} matched no node")
    render_summary(summary, console)
    return exit_code(outcome, summary)


def prepare_database(db_path: Path) -> None:
    """Create the file if needed, every raw.<table> and the loader's bookkeeping tables (raw._files, _loads,
    _rejects, which the reconciliation reads): a build with nothing loaded still works."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(db_path)) as con:
        ensure_landing_zone(con)


def exit_code(outcome: DbtOutcome, summary: BuildSummary) -> ExitCode:
    if outcome.exception is not None:
        raise P2CError(f"dbt stopped: {outcome.exception}", hint="details in logs/dbt.log")
    if not outcome.success or summary.failing:
        return ExitCode.FAILED_ROWS
    return ExitCode.OK
