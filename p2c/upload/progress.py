"""What `p2c plan` and `p2c upload` show while they work.

`RunWatch` listens to the runner (a chunk recorded) and to the client (`ClientEvents`: a write request
answered, a request held by service protection, a retry, the service unreachable) and keeps what the summary
needs from them: the time on the clock during which requests were held. `TableBars` draws the same on stderr
when stderr is a terminal: one bar per table that moves per answered request (per recorded chunk while the
client sends no `answered` events), and a status line for throttling, retries and an unreachable service.
Outside a terminal nothing is drawn: logs stay clean."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from p2c.dataverse.events import ClientEvents
from p2c.upload.live import LiveStatus
from p2c.upload.runner import HeldClock
from p2c.upload.runner import Progress as RunnerProgress


class RunWatch(RunnerProgress, ClientEvents):
    """The listener of a run, drawing nothing: rows done per table and the service's state. Thread-safe (the
    client calls it from its worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held = HeldClock()  # read by the runner for the summary's "throttled s"
        self._table_of: dict[str, str] = {}  # entity set -> table
        self.pending: dict[str, int] = {}
        self.recorded: Counter[str] = Counter()  # rows whose outcome is recorded
        self.recorded_sent: Counter[str] = Counter()  # of them, sent to Dataverse
        self.answered_rows: Counter[str] = Counter()  # rows of write requests answered (client events)
        self.held_requests = 0
        self.retries = 0
        self.last_retry = ""
        self.unreachable_since: float | None = None
        self.unreachable_budget_s = 0.0
        self.live: LiveStatus | None = None  # the status file, told how the service answers

    # -- the runner ---------------------------------------------------------------------------------

    def start_table(self, table: str, pending: int, entity_set: str = "") -> None:
        with self._lock:
            self.pending[table] = pending
            if entity_set:
                self._table_of[entity_set] = table
        self._changed(table)

    def advance(self, table: str, rows: int, throttle_wait_s: float, sent: int = 0) -> None:
        with self._lock:
            self.recorded[table] += rows
            self.recorded_sent[table] += sent
        self._changed(table)

    def end_table(self, table: str) -> None:
        self._changed(table)

    def completed(self, table: str) -> int:
        """Rows done: the recorded chunks, plus the rows of requests answered but not yet recorded."""
        with self._lock:
            ahead = max(0, self.answered_rows[table] - self.recorded_sent[table])
            return min(self.recorded[table] + ahead, max(self.pending.get(table, 0), self.recorded[table]))

    # -- the client ---------------------------------------------------------------------------------

    def answered(self, entity_set: str, rows: int, ok: bool) -> None:
        with self._lock:
            table = self._table_of.get(entity_set, entity_set)
            self.answered_rows[table] += rows
            was_unreachable = self.unreachable_since is not None
            self.unreachable_since = None
        if was_unreachable:
            self._tell_live(at_once=True)
        self._changed(table)

    def throttled(self, user: str, seconds: float) -> None:
        self.held.hold(time.time(), seconds)
        with self._lock:
            self.held_requests += 1
        self._tell_live(at_once=False)
        self._changed(None)

    def retrying(self, what: str, attempt: int, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.last_retry = f"{what} (attempt {attempt}): {reason}"
        self._tell_live(at_once=False)
        self._changed(None)

    def unreachable(self, down_for_s: float, budget_s: float) -> None:
        with self._lock:
            self.unreachable_since = time.monotonic() - down_for_s
            self.unreachable_budget_s = budget_s
        self._tell_live(at_once=True)
        self._changed(None)

    def reachable(self) -> None:
        with self._lock:
            self.unreachable_since = None
        self._tell_live(at_once=True)
        self._changed(None)

    def status(self) -> str:
        """One line on the service: throttling, retries, unreachable (empty while all is well)."""
        with self._lock:
            parts = []
            if self.unreachable_since is not None:
                down = time.monotonic() - self.unreachable_since
                parts.append(
                    f"service unreachable for {down:.0f} s (trying until {self.unreachable_budget_s:.0f} s)"
                )
            if self.held_requests:
                parts.append(
                    f"throttled: {self.held_requests} hold(s), {self.held.seconds:.0f} s on the clock"
                )
            if self.retries:
                parts.append(
                    f"{self.retries} retr{'y' if self.retries == 1 else 'ies'} (last: {self.last_retry})"
                )
        return "; ".join(parts)

    def _tell_live(self, *, at_once: bool) -> None:
        if self.live is not None:
            self.live.service(self.status(), at_once=at_once)

    def _changed(self, table: str | None) -> None:
        """A display redraws here."""


class _BarsAndStatus(Progress):
    """rich's Progress with a status line under the bars (rich documents get_renderables for this)."""

    status_line: str = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.status_line:
            yield Text(self.status_line, style="yellow", overflow="fold")


class TableBars(RunWatch):
    """RunWatch drawn: one bar per table and the status line, on a terminal's stderr."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self._progress = _BarsAndStatus(
            TextColumn("[bold]{task.fields[table]:<17}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8} rows/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> TableBars:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def start_table(self, table: str, pending: int, entity_set: str = "") -> None:
        self._tasks[table] = self._progress.add_task(table, total=pending, table=table, rate="-")
        super().start_table(table, pending, entity_set)

    def _changed(self, table: str | None) -> None:
        self._progress.status_line = self.status()
        task_id = self._tasks.get(table) if table else None
        if task_id is None:
            return
        done = self.completed(table or "")
        task = self._progress.tasks[task_id]
        rate = f"{done / task.elapsed:,.0f}" if task.elapsed else "-"
        self._progress.update(task_id, completed=done, rate=rate)
