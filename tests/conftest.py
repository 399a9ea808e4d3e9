"""Shared pytest fixtures. Loader fixtures are named load_* (other areas add their own prefixes); the built
default sample shared by the chain and upload tests is sample_build."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import duckdb
import pytest

from loaders.landing import LoadOptions, LoadResult
from loaders.load import load_paths


@pytest.fixture
def load_db(tmp_path: Path) -> Path:
    """A fresh DuckDB file for one test."""
    return tmp_path / "load.duckdb"


@pytest.fixture
def load_run(load_db: Path) -> Callable[..., list[LoadResult]]:
    """Land files into load_db like `p2c load` does and return the per-file results."""

    def run(*paths: Path, **options: Any) -> list[LoadResult]:
        return load_paths(list(paths), load_db, LoadOptions(**options))[1]

    return run


@pytest.fixture
def load_query(load_db: Path) -> Callable[..., list[tuple[Any, ...]]]:
    """Run one query against load_db and return all rows (the connection is closed again: one writer)."""

    def query(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(load_db)) as con:
            return con.execute(sql, params or []).fetchall()

    return query


SAMPLE_BUILD_STEPS = ("sample", "load USMF", "load GBSI", "load multi-company", "build")


@dataclass(frozen=True)
class SampleStep:
    """One `p2c` command of the shared build, as it ran."""

    args: tuple[str, ...]
    exit_code: int
    output: str  # stdout and stderr, as CliRunner interleaves them
    exception: BaseException | None


@dataclass(frozen=True)
class SampleBuild:
    """The default sample (`p2c sample`, seed 7, scale 40), landed and built into `db`; its dbt artifacts in
    `target` (`<db>.target/`). Shared by the whole session: read it only, and copy the db (and `target`) into
    the test's own folder before anything writes to it."""

    db: Path
    sample_dir: Path
    target: Path
    steps: Mapping[str, SampleStep]  # in the order they ran; stops after the first that exited non-zero


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> SampleBuild:
    """Shared because the build is the slowest part of three modules: sample -> load x3 -> build once."""
    from typer.testing import CliRunner

    from p2c.cli import app

    root = tmp_path_factory.mktemp("sample-build")
    db = root / "built.duckdb"
    sample_dir = root / "sample"
    commands = {
        "sample": ["sample", str(sample_dir)],
        "load USMF": ["load", str(sample_dir / "USMF"), "--company", "USMF", "--db", str(db)],
        "load GBSI": ["load", str(sample_dir / "GBSI"), "--company", "GBSI", "--db", str(db)],
        "load multi-company": ["load", str(sample_dir / "multi-company"), "--db", str(db)],
        "build": ["build", "--db", str(db)],
    }
    steps: dict[str, SampleStep] = {}
    with pytest.MonkeyPatch.context() as patch:
        # none of the caller's P2C_*/DBT_* settings. Without DBT_TARGET_PATH the build writes its artifacts to
        # <db>.target/, where `p2c plan`/`upload` look for them: a copy of the db needs a copy of it beside it
        for name in [k for k in os.environ if k.startswith(("P2C_", "DBT_"))]:
            patch.delenv(name)
        patch.setenv("DBT_LOG_PATH", str(root / "logs"))  # dbt's log goes to the tmp dir, not the project
        runner = CliRunner()
        for name, args in commands.items():
            result = runner.invoke(app, args)
            steps[name] = SampleStep(tuple(args), result.exit_code, result.output, result.exception)
            if result.exit_code != 0:
                break
    return SampleBuild(
        db=db, sample_dir=sample_dir, target=db.with_name(db.name + ".target"), steps=MappingProxyType(steps)
    )
