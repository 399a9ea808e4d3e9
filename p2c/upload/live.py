"""A running `p2c plan`/`p2c upload` as other processes can see it: a small JSON file beside the database.

DuckDB lets one process write a database file and keeps every other process out while it does, so `p2c
results` cannot read `upload.*` during an upload. The runner therefore keeps `<db>.upload-status.json`:
the run, its process, per table the rows gone through and their outcomes, and the latest failures; the
file is replaced atomically (write a temporary file, then rename) each time a chunk's outcomes are
committed. `p2c results` shows it when the database is locked, saying whether the run's process still
runs."""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from p2c.upload.store import Outcome, OutcomeStatus, now

STATUS_SUFFIX = ".upload-status.json"
FAILURES_KEPT = 100  # the latest failures in the file; all of them are in upload.results


def status_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + STATUS_SUFFIX)


def database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file of the connection's database (None in memory)."""
    rows = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    return Path(rows[0][0]) if rows and rows[0][0] else None


@dataclass
class TableStatus:
    rows: int = 0
    gone_through: int = 0
    done_before: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


# what a run is doing, in the order it does it; `service` says how Dataverse answers meanwhile
PHASES = ("signing in", "reading", "writing", "finished", "stopped")
SERVICE_WRITES_APART_S = 1.0  # throttling and retries rewrite the file at most this often (an outage at once)


class LiveStatus:
    """The status file of one run: written when its command starts (before sign-in: "signing in", no run
    yet), when the run begins, as each table starts and after every recorded chunk, and when the service's
    state changes (unreachable, throttled, retrying)."""

    def __init__(self, path: Path, run_id: str | None, environment: str, writes: bool | None) -> None:
        self.path = path
        self.head: dict[str, Any] = {
            "run_id": run_id,
            "environment": environment,
            "writes": writes,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": now().isoformat(timespec="seconds"),
            "phase": "signing in",
            "service": "",
        }
        self.tables: dict[str, TableStatus] = {}
        self.failures: deque[dict[str, Any]] = deque(maxlen=FAILURES_KEPT)
        self.failed = 0
        self._written_at = 0.0

    def begin(self, run_id: str, writes: bool) -> None:
        """The run is recorded: its id, and whether it writes; it reads the records first."""
        self.head.update(run_id=run_id, writes=writes, phase="reading")
        self.tables.clear()
        self.failures.clear()
        self.failed = 0
        self.write()

    def phase(self, phase: str) -> None:
        if self.head["phase"] != phase:
            self.head["phase"] = phase
            self.write()

    def service(self, line: str, *, at_once: bool) -> None:
        """How the service answers (`RunWatch.status()`); an outage starting or ending is written at once."""
        if line == self.head["service"]:
            return
        self.head["service"] = line
        if at_once or time.monotonic() - self._written_at >= SERVICE_WRITES_APART_S:
            self.write()

    def start_table(self, table: str, rows: int) -> None:
        self.tables[table] = TableStatus(rows=rows)
        self.write()

    def chunk(self, table: str, outcomes: list[Outcome | None]) -> None:
        status = self.tables.setdefault(table, TableStatus())
        status.gone_through += len(outcomes)
        for outcome in outcomes:
            if outcome is None:
                status.done_before += 1
                continue
            status.outcomes[outcome.status.value] += 1
            if outcome.status is OutcomeStatus.FAILED:
                self.failed += 1
                self.failures.append(
                    {
                        "table_name": outcome.table_name,
                        "business_key": outcome.business_key,
                        "record_id": outcome.record_id,
                        "http_status": outcome.http_status,
                        "error_code": outcome.error_code,
                        "retryable": outcome.retryable,
                        "message": outcome.message,
                    }
                )
        self.write()

    def document(self) -> dict[str, Any]:
        return {
            **self.head,
            "updated_at": now().isoformat(timespec="seconds"),
            "tables": {
                name: {
                    "rows": t.rows,
                    "gone_through": t.gone_through,
                    "done_before": t.done_before,
                    **{s.value: t.outcomes.get(s.value, 0) for s in OutcomeStatus},
                }
                for name, t in self.tables.items()
            },
            "failed": self.failed,
            "latest_failures": list(self.failures),
        }

    def write(self) -> None:
        """Replace the file atomically: a reader sees the old or the new document, never half of one."""
        self._written_at = time.monotonic()
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(self.document(), default=str), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:
            temporary.unlink(missing_ok=True)  # the status is a convenience: never stop an upload for it


def process_alive(pid: int, host: str | None) -> bool | None:
    """Whether the process still runs; None when it ran on another host (it cannot be told from here)."""
    if host and host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, run by another user
    return True


def read_status(db_path: Path) -> dict[str, Any] | None:
    """The status file of the latest run on this database, with `alive` (its process still runs: True,
    gone: False, another host: None); None when there is none or it cannot be read."""
    path = status_path(db_path)
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or "pid" not in document:
        return None
    pid = document.get("pid")
    document["alive"] = process_alive(int(pid), document.get("host")) if isinstance(pid, int) else None
    return document


LIVE_TABLE_COLUMNS = (
    *("table", "rows", "gone_through", "done_before"),
    *("updated", "unchanged", "failed", "skipped"),
)
FAILURE_COLUMNS = (
    *("table_name", "business_key", "record_id", "http_status"),
    *("error_code", "retryable", "message"),
)


def print_status(document: dict[str, Any], fmt: Any, console: Any, err: Any) -> None:
    """A running (or stopped) run's status file: per table how far it got, and the latest failures."""
    from p2c.output import Column, OutputFormat, emit_json, render_rows

    if fmt is OutputFormat.JSON:
        emit_json({"running": document})
        return
    tables = [{"table": name, **counts} for name, counts in document.get("tables", {}).items()]
    state = {True: "still running", False: "stopped (its process is gone)", None: "on another host"}
    where = f"process {document.get('pid')} on {document.get('host')}"
    run = f"run {document['run_id']}" if document.get("run_id") else "a plan or upload (no run recorded yet)"
    phase = f", {document['phase']}" if document.get("phase") else ""
    err.print(
        f"{run} -> {document.get('environment')} holds the database: "
        f"{state[document.get('alive')]} ({where}{phase}); status of {document.get('updated_at')}",
        highlight=False,
        soft_wrap=True,
    )
    if document.get("service"):
        err.print(f"service: {document['service']}", highlight=False, soft_wrap=True)
    if fmt is OutputFormat.CSV:
        render_rows(document.get("latest_failures", []), [Column(c) for c in FAILURE_COLUMNS], fmt)
        return
    render_rows(tables, [Column(c, numeric=c != "table") for c in LIVE_TABLE_COLUMNS], fmt, title="progress")
    failures = document.get("latest_failures", [])
    if failures:
        title = f"failures so far: {document.get('failed', len(failures))} (the latest {len(failures)})"
        render_rows(failures, [Column(c) for c in FAILURE_COLUMNS], fmt, title=title)
    else:
        console.print("no failures so far", highlight=False)
