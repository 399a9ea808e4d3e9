"""Shared pytest fixtures. Loader fixtures are named load_* (other areas add their own prefixes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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
