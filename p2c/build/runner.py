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
from p2c.build.dbt import DbtOutcome, NodeOutcome, dbt_args, invoke_dbt, parse_vars, release_duckdb
from p2c.build.record import (
    ERROR,
    FAILED,
    INTERRUPTED,
    PARTIAL,
    SUCCESS,
    finish_build,
    start_build,
    target_dir_for,
)
from p2c.build.record import TABLE as BUILDS_TABLE
from p2c.build.summary import FAILING_STATUSES, BuildSummary, collect_summary, render_build
from p2c.database import open_or_create, writing
from p2c.errors import DatabaseUnavailable, ExitCode, Interrupted, P2CError, UsageError
from p2c.output import OutputFormat, stdout_console
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

    @property
    def finished(self) -> int:
        return self._finished

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
    progress_console: Console | None = None,
    output_format: OutputFormat = OutputFormat.TABLE,
) -> ExitCode:
    """Build the dbt project into `db_path`, record the build in it, print the summary; returns the exit code.

    `console` gets the summary (default stdout); `progress_console` the live progress (default: `console`
    when one is given, else none). The CLI passes stderr, and only when stderr is a terminal."""
    project_dir = project_dir or find_project_dir()
    if progress_console is None and console is not None:
        progress_console = console
    console = console or stdout_console()
    try:
        variables = parse_vars(dbt_vars)
    except ValueError as error:
        raise UsageError(str(error)) from None

    target_dir = target_dir_for(db_path)
    build_id = prepare_database(db_path, selection=select, dbt_vars=variables, target_dir=target_dir)

    # dbt's own console log would interleave with ours: silence it, keep the debug log file (logs/dbt.log).
    args = dbt_args("build", project_dir=project_dir, select=select, dbt_vars=variables)
    args += ["--log-level", "none", "--log-level-file", "debug", "--target-path", str(target_dir)]
    args += ["--no-use-colors"]
    progress = BuildProgress(progress_console or Console(quiet=True))
    try:
        with progress:
            outcome = invoke_dbt(args, db_path, callbacks=[progress])
    except KeyboardInterrupt:
        outcome = DbtOutcome(success=False, nodes=(), exception=KeyboardInterrupt())
    finally:
        release_duckdb()

    failing = [n for n in outcome.nodes if n.status in FAILING_STATUSES]
    if isinstance(outcome.exception, KeyboardInterrupt):
        _finish(db_path, build_id, INTERRUPTED, outcome, failing, target_dir)
        raise Interrupted(
            f"build of {db_path} interrupted (Ctrl-C) after {progress.finished} node(s): the database "
            "holds a partially built project and is recorded as such",
            hint="run `p2c build` again to complete it; `p2c lineage pack` refuses an interrupted build",
        )
    if outcome.exception is not None and not outcome.nodes:
        _finish(db_path, build_id, ERROR, outcome, failing, target_dir)
        raise P2CError(f"dbt could not run: {_reason(outcome.exception)}", hint="details in logs/dbt.log")
    if select and not outcome.nodes:
        _forget(db_path, build_id)
        raise UsageError(
            f"--select {select!r} matched no model, seed or test: nothing was built",
            hint="use a model name (account), a folder (marts) or a dbt selector (+dualwrite.account)",
        )

    summary = collect_summary(outcome, db_path, project_dir, target_dir)
    if outcome.exception is not None:
        status = ERROR
    elif not outcome.success or summary.failing:
        status = FAILED
    else:
        status = PARTIAL if select else SUCCESS
    _finish(db_path, build_id, status, outcome, failing, target_dir)
    summary.build = {"database": str(db_path), "build_id": build_id, "status": status, "selection": select}
    render_build(summary, outcome, console, output_format)
    return exit_code(outcome, summary)


def _reason(error: BaseException) -> str:
    return str(error).strip() or type(error).__name__


def _finish(
    db_path: Path,
    build_id: str,
    status: str,
    outcome: DbtOutcome,
    failing: list[NodeOutcome],
    target_dir: Path,
) -> None:
    try:
        with writing(db_path) as con:
            finish_build(
                con,
                build_id,
                status=status,
                nodes=len(outcome.nodes),
                failing=len(failing),
                target_dir=target_dir,
            )
    except (DatabaseUnavailable, duckdb.Error):
        pass  # the build stays recorded as `running`: readers treat it as unfinished, which it is


def _forget(db_path: Path, build_id: str) -> None:
    try:
        with writing(db_path) as con:
            con.execute(f"delete from {BUILDS_TABLE} where build_id = ?", [build_id])
    except (DatabaseUnavailable, duckdb.Error):
        pass


def prepare_database(
    db_path: Path,
    *,
    selection: str | None = None,
    dbt_vars: dict[str, Any] | None = None,
    target_dir: Path | None = None,
) -> str:
    """Every raw.<table> and the loader's bookkeeping tables (raw._files, _loads, _rejects, which the
    reconciliation reads), so that a build with nothing loaded still works; then the build's record.
    Creates the file when it does not exist (the `p2c build` command refuses a missing database before)."""
    con = open_or_create(db_path)
    try:
        ensure_landing_zone(con)
        return start_build(
            con,
            selection=selection,
            dbt_vars=dict(dbt_vars or {}),
            target_dir=target_dir or target_dir_for(db_path),
        )
    except duckdb.Error as error:
        raise DatabaseUnavailable(f"cannot open {db_path} for writing: {error}") from None
    finally:
        con.close()


def exit_code(outcome: DbtOutcome, summary: BuildSummary) -> ExitCode:
    if outcome.exception is not None:
        raise P2CError(f"dbt stopped: {outcome.exception}", hint="details in logs/dbt.log")
    if not outcome.success or summary.failing:
        return ExitCode.FAILED_ROWS
    return ExitCode.OK
