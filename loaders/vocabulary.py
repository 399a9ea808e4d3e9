"""The header vocabulary (seeds/header_vocabulary.csv): the single source of truth for mapping export headers
(logical names, display names in any language) to Dataverse logical names. The dbt models read the same file
as a seed, so a header the loader understands is a column the models can rely on."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from loaders.project import project_var, seed_path

HEADER_VOCABULARY_FILE = "header_vocabulary.csv"  # in the project's seeds/


@lru_cache(maxsize=1)
def exported_entities() -> tuple[str, ...]:
    """The nine tables the procedure asks to export (step 2), as dbt_project.yml's var `exported_entities`
    declares them for the models too."""
    return tuple(str(name) for name in project_var("exported_entities"))


@lru_cache(maxsize=1)
def initialized_entities() -> tuple[str, ...]:
    """The six re-initialized in Dataverse, in the upload's dependency order (var `initialized_entities`)."""
    return tuple(str(name) for name in project_var("initialized_entities"))


@dataclass(frozen=True)
class HeaderLabel:
    table_name: str
    logical_name: str
    language_code: int
    header: str
    origin: str


@lru_cache(maxsize=4)
def read_vocabulary(path: Path | None = None) -> tuple[HeaderLabel, ...]:
    path = path or seed_path(HEADER_VOCABULARY_FILE)
    with path.open(encoding="utf-8", newline="") as handle:
        return tuple(
            HeaderLabel(
                table_name=row["table_name"],
                logical_name=row["logical_name"],
                language_code=int(row["language_code"]),
                header=row["header"],
                origin=row["origin"],
            )
            for row in csv.DictReader(handle)
        )


def known_columns(table_name: str) -> tuple[str, ...]:
    """Logical names the vocabulary knows for a table, in first-seen order."""
    seen: dict[str, None] = {}
    for label in read_vocabulary():
        if label.table_name == table_name:
            seen.setdefault(label.logical_name, None)
    return tuple(seen)


CHOICE_LABELS_FILE = "choice_labels.csv"  # in the project's seeds/


@lru_cache(maxsize=1)
def choice_columns() -> frozenset[tuple[str, str]]:
    """(table, logical name) of every choice column the choice-label seed knows."""
    with seed_path(CHOICE_LABELS_FILE).open(encoding="utf-8", newline="") as handle:
        return frozenset((row["table_name"], row["logical_name"]) for row in csv.DictReader(handle))
