"""Start parsing the first workbook of `p2c load` before the rest of the command line tool is imported.

Parsing a big workbook is the longest step of `p2c load` (about 1 s for 200k rows x 12 columns), and calamine
does it without holding the interpreter lock. The console script (p2c.entry) therefore calls
`start_from_argv` before it imports the CLI, DuckDB and pyarrow (about 0.35 s), so that the parse runs
beside those imports and the opening of the database; `loaders.load.WorkbookPrefetch` then takes the parse
that is under way instead of starting its own. This module is on that path too: it imports only `threading`
and `pathlib` (a thread pool would import `logging` first), and the worker imports the reader itself.

Only the first .xlsx file named on the command line (not one found in a folder) is read this early. A file
that is not a workbook after all fails its parse at once, and the load, which decides by content, never asks
for it. If the load finds the file unchanged (already landed), the early parse was for nothing: the process
waits for it before it exits, which costs that file's parse time once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loaders.xlsx_reader import Sheet

LOAD_COMMAND = "load"
_HELP = {"--help", "-h"}

_lock = threading.Lock()
_started: dict[Path, EarlyParse] = {}


class EarlyParse:
    """A workbook being parsed in its own thread; `result()` waits for its sheets (or raises its error).

    The thread is not a daemon: a process that exits before it is done waits for it (calamine's thread must
    not be stopped in the middle)."""

    def __init__(self, path: Path) -> None:
        self._done = threading.Event()
        self._sheets: list[Sheet] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._parse, args=(path,), name="p2c-xlsx-early")
        self._thread.start()

    def _parse(self, path: Path) -> None:
        try:
            from loaders.xlsx_reader import read_workbook  # here, so that the caller goes on meanwhile

            self._sheets = read_workbook(path)
        except BaseException as error:  # handed to whoever asks for the result
            self._error = error
        finally:
            self._done.set()

    def result(self) -> list[Sheet]:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._sheets


def start_from_argv(argv: list[str]) -> Path | None:
    """For `p2c load ...`: start parsing the first existing .xlsx file among the arguments; return it."""
    if len(argv) < 3 or argv[1] != LOAD_COMMAND or _HELP.intersection(argv):
        return None
    for token in argv[2:]:
        path = Path(token)
        if not token.startswith("-") and path.suffix.casefold() == ".xlsx" and path.is_file():
            start(path)
            return path
    return None


def start(path: Path) -> None:
    """Parse `path` in a thread of its own (once per path)."""
    key = path.resolve()
    with _lock:
        if key not in _started:
            _started[key] = EarlyParse(path)


def take(path: Path) -> EarlyParse | None:
    """The parse started early for `path`, handed over once; None when there is none."""
    with _lock:
        return _started.pop(path.resolve(), None)
