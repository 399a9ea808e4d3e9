"""Where things live: the DuckDB file (`--db`, `$P2C_DB`, `./p2c.duckdb`) and the dbt project
(`$P2C_PROJECT_DIR`, else the source tree; see loaders.project)."""

from __future__ import annotations

import os
from pathlib import Path

from loaders.project import PROJECT_DIR_ENV_VAR, ProjectNotFound, project_dir, seed_path

__all__ = [
    "DB_ENV_VAR",
    "DEFAULT_DB",
    "PROJECT_DIR_ENV_VAR",
    "ProjectNotFound",
    "choice_labels_path",
    "header_vocabulary_path",
    "project_dir",
    "resolve_db_path",
]

DEFAULT_DB = "p2c.duckdb"
DB_ENV_VAR = "P2C_DB"


def header_vocabulary_path() -> Path:
    return seed_path("header_vocabulary.csv")


def choice_labels_path() -> Path:
    return seed_path("choice_labels.csv")


def resolve_db_path(cli_value: str | os.PathLike[str] | None) -> Path:
    """--db wins, then the P2C_DB environment variable, then ./p2c.duckdb."""
    if cli_value:
        return Path(cli_value).resolve()
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB).resolve()
