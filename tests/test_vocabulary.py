"""The vocabulary is the single source of truth: dbt sources, loader and shared P2C labels must agree."""

from __future__ import annotations

import csv
from collections import Counter

import pytest
import yaml

from loaders.raw_schema import PROVENANCE_COLUMNS
from loaders.vocabulary import exported_entities, known_columns, read_vocabulary
from p2c.settings import project_dir

PROJECT_DIR = project_dir()

SOURCES_YML = PROJECT_DIR / "models" / "staging" / "__sources.yml"
SHARED_LABELS = PROJECT_DIR.parent / "shared" / "reference" / "p2c-solution-column-labels.csv"


def _source_columns() -> dict[str, list[str]]:
    document = yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))
    (raw,) = [source for source in document["sources"] if source["name"] == "raw"]
    # the loader's bookkeeping tables (_files, _loads, _rejects) are sources too, but not exports
    return {
        table["name"]: [column["name"] for column in table.get("columns", [])]
        for table in raw["tables"]
        if not table["name"].startswith("_")
    }


def test_dbt_sources_declare_exactly_the_vocabulary_columns_and_provenance() -> None:
    declared = _source_columns()
    assert sorted(declared) == sorted(exported_entities())
    provenance = {name for name, _ in PROVENANCE_COLUMNS}
    for table_name in exported_entities():
        columns = set(declared[table_name])
        assert columns - provenance == set(known_columns(table_name)), table_name
        assert provenance <= columns, table_name


def test_no_header_means_two_columns_of_one_table() -> None:
    # A header that maps to two logical names in the same table would make landing ambiguous.
    meanings: dict[tuple[str, str], set[str]] = {}
    for label in read_vocabulary():
        meanings.setdefault((label.table_name, label.header.casefold()), set()).add(label.logical_name)
    ambiguous = {key: names for key, names in meanings.items() if len(names) > 1}
    assert ambiguous == {}


def test_every_language_of_the_p2c_solution_is_in_the_vocabulary() -> None:
    if not SHARED_LABELS.exists():
        pytest.skip("shared/ reference material is not beside this checkout")
    with SHARED_LABELS.open(encoding="utf-8", newline="") as handle:
        expected = {
            (row["table"], row["logical_name"], int(row["languagecode"]), row["display_name"])
            for row in csv.DictReader(handle)
            if row["table"] in exported_entities()
        }
    have = {(v.table_name, v.logical_name, v.language_code, v.header) for v in read_vocabulary()}
    assert expected - have == set()
    languages = Counter(v.language_code for v in read_vocabulary() if v.origin.startswith("p2c-solution"))
    assert len(languages) == 45


def test_vocabulary_has_no_duplicate_rows() -> None:
    rows = [(v.table_name, v.logical_name, v.language_code, v.header) for v in read_vocabulary()]
    assert len(rows) == len(set(rows))
