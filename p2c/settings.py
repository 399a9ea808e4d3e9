"""Where things live: the DuckDB file, the dbt project, the shared vocabulary seeds."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = "p2c.duckdb"
DB_ENV_VAR = "P2C_DB"

# The repository root holds dbt_project.yml, seeds/ and models/; the package is installed editable from it.
PROJECT_DIR = Path(__file__).resolve().parent.parent
SEEDS_DIR = PROJECT_DIR / "seeds"
HEADER_VOCABULARY = SEEDS_DIR / "header_vocabulary.csv"
CHOICE_LABELS = SEEDS_DIR / "choice_labels.csv"


def resolve_db_path(cli_value: str | os.PathLike[str] | None) -> Path:
    """--db wins, then the P2C_DB environment variable, then ./p2c.duckdb."""
    if cli_value:
        return Path(cli_value).resolve()
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB).resolve()
