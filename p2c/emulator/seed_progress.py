"""What seeding tells the person waiting for it: a rich progress bar on a terminal, a line per step on stderr
otherwise (a log gets no terminal codes), nothing in tests. Seeding a million records takes a while; an
emulator that says nothing until it answers looks hung."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class SeedProgress:
    """Steps of a seed, each with a total, advanced as it goes; this base class shows nothing."""

    def start(self, description: str, total: int) -> None:
        """A new step begins (reading the DuckDB file, resolving lookups, inserting one table)."""

    def advance(self, count: int) -> None:
        """`count` more units of the current step are done."""

    def finish(self, summary: str) -> None:
        """The current step is done; `summary` says what it did ("seeded account: 1,203 records in 0.2 s")."""


class LineProgress(SeedProgress):
    """One line per finished step, for a log or a pipe."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def finish(self, summary: str) -> None:
        print(summary, file=self.stream, flush=True)


class BarProgress(SeedProgress):
    """A rich progress bar per step on the terminal; a finished step keeps its summary."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task: TaskID | None = None
        self.total = 1

    def start(self, description: str, total: int) -> None:
        self.total = max(total, 1)
        self.task = self.bar.add_task(description, total=self.total)

    def advance(self, count: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, count)

    def finish(self, summary: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, description=summary, completed=self.total)
            self.task = None


@contextmanager
def seed_progress(show: bool, console: Console | None = None) -> Iterator[SeedProgress]:
    """The display for a seed: a bar on a terminal, lines when stderr is not one, none when not `show`."""
    if not show:
        yield SeedProgress()
        return
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield LineProgress(sys.stderr)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        yield BarProgress(bar)


class Stopwatch:
    """Seconds since it was made, for a step's summary."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.started:.1f} s"
