"""Where the dbt project is, and the facts the loader shares with it, read from `dbt_project.yml` itself.

The loader and the models must agree on the tables and on the header vocabulary (a seed), so both come from
the project folder: its `vars` name the exported tables once, and `seeds/header_vocabulary.csv` maps headers.

The folder is `$P2C_PROJECT_DIR` when set (an installed `p2c` used with a checkout elsewhere), else the
source tree this package was installed from (`pip install -e .`)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from loaders.errors import LoaderError

PROJECT_DIR_ENV_VAR = "P2C_PROJECT_DIR"
PROJECT_FILE = "dbt_project.yml"
# The source tree at the time of installation: where `loaders/` sits beside dbt_project.yml.
_SOURCE_TREE = Path(__file__).resolve().parent.parent


class ProjectNotFound(LoaderError):
    """No dbt project (dbt_project.yml) where the settings point."""


def project_dir() -> Path:
    """The folder holding dbt_project.yml, seeds/, models/ and macros/."""
    configured = os.environ.get(PROJECT_DIR_ENV_VAR)
    candidate = Path(configured).expanduser().resolve() if configured else _SOURCE_TREE
    if not (candidate / PROJECT_FILE).is_file():
        where = (
            f"${PROJECT_DIR_ENV_VAR}={configured}" if configured else f"the install's source tree {candidate}"
        )
        raise ProjectNotFound(
            f"no {PROJECT_FILE} in {where}: set {PROJECT_DIR_ENV_VAR} to the p2c-dualwrite project folder "
            "(the checkout that holds dbt_project.yml, models/, seeds/ and macros/)"
        )
    return candidate


@lru_cache(maxsize=4)
def _project_vars(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    return dict(document.get("vars") or {})


def project_var(name: str) -> Any:
    """One of dbt_project.yml's `vars`, as the project declares it (not as a build overrides it)."""
    variables = _project_vars(project_dir() / PROJECT_FILE)
    if name not in variables:
        raise KeyError(f"{PROJECT_FILE} declares no var {name!r}")
    return variables[name]


def seed_path(file_name: str) -> Path:
    return project_dir() / "seeds" / file_name
