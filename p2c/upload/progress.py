"""Progress bars for `p2c plan` and `p2c upload`: one per table with rows/s and the time spent waiting on
throttling; on stderr, and only when stderr is a terminal (otherwise nothing: logs stay clean)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from p2c.upload.runner import Progress as RunnerProgress


class TableBars(RunnerProgress):
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.fields[table]:<17}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8} rows/s"),
            TextColumn("throttled {task.fields[throttle]:.1f}s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._throttle: dict[str, float] = {}

    def __enter__(self) -> TableBars:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def start_table(self, table: str, pending: int) -> None:
        self._throttle[table] = 0.0
        self._tasks[table] = self._progress.add_task(
            table, total=pending, table=table, rate="-", throttle=0.0
        )

    def advance(self, table: str, rows: int, throttle_wait_s: float) -> None:
        task_id = self._tasks[table]
        self._throttle[table] += throttle_wait_s
        self._progress.advance(task_id, rows)
        task = self._progress.tasks[task_id]
        rate = f"{task.completed / task.elapsed:,.0f}" if task.elapsed else "-"
        self._progress.update(task_id, rate=rate, throttle=self._throttle[table])

    def end_table(self, table: str) -> None:
        pass
