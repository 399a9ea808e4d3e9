"""Which build a database holds: `p2c build` records every build in the database itself (`p2c.builds`).

A row is written when the build starts (status `running`) and completed when it ends: `success`, `failed`
(a model, seed or test failed), `partial` (`--select`: only part of the project was built), `interrupted`
(Ctrl-C) or `error` (dbt could not run). It keeps the dbt invocation id, the vars, the selection, the loads
the build covered and dbt's `run_results.json` of that build, so the audit pack and the trace read the test
results of *this* database's build, never those of another database's build that happen to lie in a shared
`target/` folder; and they can tell when files were landed after the build.

The build's dbt artifacts go to a target folder of their own per database (`<db>.target/`, or
`$DBT_TARGET_PATH` when set), so that two databases side by side never share a manifest either."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from p2c import __version__

SCHEMA = "p2c"
TABLE = f"{SCHEMA}.builds"
SUCCESS, FAILED, PARTIAL, INTERRUPTED, ERROR, RUNNING = (
    "success",
    "failed",
    "partial",
    "interrupted",
    "error",
    "running",
)

BUILDS_DDL = f"""
create table if not exists {TABLE} (
    build_id varchar not null,
    started_at timestamp not null,
    finished_at timestamp,
    status varchar not null,
    selection varchar,
    vars varchar,
    target_dir varchar,
    invocation_id varchar,
    loads varchar[],
    landed_files bigint,
    nodes bigint,
    failing bigint,
    p2c_version varchar,
    run_results varchar
)"""


def target_dir_for(db_path: Path) -> Path:
    """Where the build of `db_path` writes its dbt artifacts: `$DBT_TARGET_PATH`, else `<db>.target/`."""
    configured = os.environ.get("DBT_TARGET_PATH")
    if configured:
        return Path(configured).resolve()
    return db_path.with_name(db_path.name + ".target")


@dataclass(frozen=True)
class BuildRecord:
    build_id: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    selection: str | None
    vars: dict[str, Any]
    target_dir: str | None
    invocation_id: str | None
    loads: tuple[str, ...]
    landed_files: int
    nodes: int | None
    failing: int | None
    run_results: dict[str, Any] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "build_id": self.build_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "selection": self.selection,
            "vars": self.vars,
            "target_dir": self.target_dir,
            "invocation_id": self.invocation_id,
            "loads": list(self.loads),
            "landed_files": self.landed_files,
            "nodes": self.nodes,
            "failing": self.failing,
        }


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def current_loads(con: duckdb.DuckDBPyConnection) -> tuple[tuple[str, ...], int]:
    """The load runs whose files are landed now, and how many files (or sheets) that is."""
    if not _exists(con, "raw", "_files"):
        return (), 0
    loads = tuple(r[0] for r in con.execute("select distinct load_id from raw._files order by 1").fetchall())
    (files,) = con.execute("select count(*) from raw._files").fetchone() or (0,)
    return loads, int(files)


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
        " and table_catalog = current_database()",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def start_build(
    con: duckdb.DuckDBPyConnection, *, selection: str | None, dbt_vars: dict[str, Any], target_dir: Path
) -> str:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(BUILDS_DDL)
    build_id = uuid.uuid4().hex
    loads, files = current_loads(con)
    con.execute(
        f"insert into {TABLE} (build_id, started_at, status, selection, vars, target_dir, loads,"
        " landed_files, p2c_version) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            build_id,
            _now(),
            RUNNING,
            selection,
            json.dumps(dbt_vars),
            str(target_dir),
            list(loads),
            files,
            __version__,
        ],
    )
    return build_id


def finish_build(
    con: duckdb.DuckDBPyConnection,
    build_id: str,
    *,
    status: str,
    nodes: int,
    failing: int,
    target_dir: Path,
) -> None:
    run_results = target_dir / "run_results.json"
    document: dict[str, Any] | None = None
    if run_results.is_file():
        try:
            document = json.loads(run_results.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            document = None
    # a run_results.json older than this build (dbt stopped before writing one) is not this build's
    invocation = ((document or {}).get("metadata") or {}).get("invocation_id")
    started = con.execute(f"select started_at from {TABLE} where build_id = ?", [build_id]).fetchone()
    if document is not None and started is not None and run_results.stat().st_mtime < _epoch(started[0]):
        document, invocation = None, None
    con.execute(
        f"update {TABLE} set finished_at = ?, status = ?, nodes = ?, failing = ?, invocation_id = ?,"
        " run_results = ? where build_id = ?",
        [_now(), status, nodes, failing, invocation, json.dumps(document) if document else None, build_id],
    )


def _epoch(naive_utc: datetime) -> float:
    return naive_utc.replace(tzinfo=UTC).timestamp()


def last_build(con: duckdb.DuckDBPyConnection) -> BuildRecord | None:
    """The latest build recorded in the database (None when it was never built by `p2c build`)."""
    if not _exists(con, SCHEMA, "builds"):
        return None
    cursor = con.execute(
        "select build_id, started_at, finished_at, status, selection, vars, target_dir, invocation_id, loads,"
        f" landed_files, nodes, failing, run_results from {TABLE} order by started_at desc limit 1"
    )
    row = cursor.fetchone()
    if row is None:
        return None
    (
        build_id,
        started,
        finished,
        status,
        selection,
        variables,
        target,
        invocation,
        loads,
        files,
        nodes,
        failing,
        results,
    ) = row
    return BuildRecord(
        build_id=build_id,
        started_at=started,
        finished_at=finished,
        status=status,
        selection=selection,
        vars=json.loads(variables) if variables else {},
        target_dir=target,
        invocation_id=invocation,
        loads=tuple(loads or ()),
        landed_files=int(files or 0),
        nodes=nodes,
        failing=failing,
        run_results=json.loads(results) if results else None,
    )


@dataclass(frozen=True)
class BuildEvidence:
    """What a reader of the database (the pack, the trace) may say about its build."""

    db_path: Path
    record: BuildRecord | None
    current_loads: tuple[str, ...]
    current_files: int

    @property
    def problems(self) -> list[str]:
        """Why the database's data is not vouched for by a successful build (empty when it is)."""
        record = self.record
        if record is None:
            return [f"{self.db_path} has no recorded build: run `p2c build --db {self.db_path}` first"]
        found = []
        when = f"{record.started_at:%Y-%m-%d %H:%M:%S} UTC"
        if record.status == RUNNING:
            found.append(f"the build of {when} did not finish (still running, or the process was killed)")
        elif record.status != SUCCESS:
            detail = f" ({record.failing} failing node(s))" if record.failing else ""
            if record.status == PARTIAL:
                detail = f" (only --select {record.selection})"
            found.append(f"the last build ({when}) is {record.status.upper()}{detail}")
        new = sorted(set(self.current_loads) - set(record.loads))
        gone = sorted(set(record.loads) - set(self.current_loads))
        if new or gone or self.current_files != record.landed_files:
            found.append(
                f"files were landed or replaced after the last build ({when}): "
                + ", ".join(f"load {load}" for load in (new or gone) or ["files changed"])
                + f"; run `p2c build --db {self.db_path}` again"
            )
        return found

    @property
    def ok(self) -> bool:
        return not self.problems


def read_evidence(con: duckdb.DuckDBPyConnection, db_path: Path) -> BuildEvidence:
    loads, files = current_loads(con)
    return BuildEvidence(db_path=db_path, record=last_build(con), current_loads=loads, current_files=files)
