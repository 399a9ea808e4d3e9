"""Run dbt in-process against a DuckDB file: environment, arguments, and the outcome of every node.

`p2c build`, the tests and the benchmark share this, so all of them invoke dbt the same way."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from p2c.settings import DB_ENV_VAR
from p2c.settings import project_dir as find_project_dir

# dbt waits ~30 s for its usage-statistics endpoint when offline (dbt-core#9989): always opt out.
_DBT_ENV = {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}

EventCallback = Callable[[Any], None]


@dataclass(frozen=True)
class NodeOutcome:
    """One executed node of a dbt run, flattened from dbt's RunResult."""

    unique_id: str
    name: str
    resource_type: str  # model, seed, test (data test), unit_test, ...
    status: str  # success, error, skipped, pass, fail, warn
    message: str
    failures: int | None
    relation_name: str | None
    execution_time: float


@dataclass(frozen=True)
class DbtOutcome:
    success: bool
    nodes: tuple[NodeOutcome, ...]
    # An unhandled exception (bad arguments, unreadable project, locked DuckDB file) instead of node results.
    exception: BaseException | None = None


def parse_vars(assignments: Sequence[str]) -> dict[str, Any]:
    """Turn repeated `KEY=VALUE` into the dict dbt's --vars takes.

    VALUE is read as YAML, like dbt reads --vars: `8` is a number, `true` a boolean, `'007'` (quoted) text."""
    parsed: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--var expects KEY=VALUE, got {assignment!r}")
        parsed[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return parsed


@contextmanager
def dbt_environment(db_path: Path, extra_env: Mapping[str, str] | None = None) -> Iterator[None]:
    """Point profiles.yml at `db_path` (env P2C_DB) for the duration of one invocation, then restore."""
    wanted = {**_DBT_ENV, DB_ENV_VAR: str(db_path), **(extra_env or {})}
    previous = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dbt_args(
    command: str,
    *,
    project_dir: Path | None = None,
    select: str | None = None,
    dbt_vars: Mapping[str, Any] | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The one way every caller spells a dbt invocation: project and profiles from the project folder."""
    project_dir = project_dir or find_project_dir()
    args = [*command.split(), "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    if select:
        args += ["--select", select]
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars))]
    return args + list(extra)


def _outcome_of(result: Any) -> NodeOutcome:
    node = result.node
    status = getattr(result.status, "value", result.status)
    return NodeOutcome(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=str(getattr(node.resource_type, "value", node.resource_type)),
        status=str(status),
        message=str(result.message or ""),
        failures=result.failures,
        relation_name=getattr(node, "relation_name", None),
        execution_time=float(result.execution_time or 0.0),
    )


def invoke_dbt(
    args: list[str],
    db_path: Path,
    *,
    callbacks: Sequence[EventCallback] = (),
    extra_env: Mapping[str, str] | None = None,
) -> DbtOutcome:
    """Invoke dbt once, in this process (dbt does not support parallel invocations in one process)."""
    # Imported here: dbt takes ~1 s to import, which `p2c --help` should not pay.
    from dbt.cli.main import dbtRunner

    with dbt_environment(db_path, extra_env):
        try:
            result = dbtRunner(callbacks=list(callbacks)).invoke(args)
        finally:
            # profiles.yml attaches the file to an in-memory instance, which dbt-duckdb keeps open until the
            # process ends: release the file now, for the next connection of this process or another one
            release_duckdb()
    results = getattr(result.result, "results", None) or []
    nodes = tuple(_outcome_of(r) for r in results if getattr(r, "node", None) is not None)
    return DbtOutcome(success=bool(result.success), nodes=nodes, exception=result.exception)


def release_duckdb() -> None:
    """Close the DuckDB instance dbt-duckdb may still hold in this process.

    dbt-duckdb keeps one environment per process, and keeps its in-memory instance (profiles.yml attaches the
    file to one) open until the process ends; `close_all_connections` only drops the reference. Close it
    explicitly, so the next writer (another `p2c` command, or a read-only summary in this process) can open
    the file at once."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing to release
        return
    environment = getattr(DuckDBConnectionManager, "_ENV", None)
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()  # type: ignore[no-untyped-call]
