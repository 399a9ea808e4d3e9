"""Headers and choice labels for a language, read from the two shared vocabulary seeds.

The sample set takes every header and every localized choice label from the same files the loader and the dbt
models use, so a header the sample writes is by construction a header the pipeline understands."""

from __future__ import annotations

import csv
from functools import lru_cache

from loaders.vocabulary import read_vocabulary
from p2c.settings import choice_labels_path

ENGLISH = 1033

# The languages the sample can write: their headers and choice labels exist in the vocabulary for every column
# the sample uses (the P2C columns exist in 45 languages, the standard columns only in English and Swedish).
LANGUAGE_CODES: dict[str, int] = {"en": 1033, "sv": 1053}


class MissingLabelError(LookupError):
    """The vocabulary has no header or choice label for what the sample wants to write."""


@lru_cache(maxsize=16)
def _headers(language_code: int) -> dict[tuple[str, str], str]:
    return {
        (label.table_name, label.logical_name): label.header
        for label in read_vocabulary()
        if label.language_code == language_code
    }


def header(table_name: str, logical_name: str, language_code: int) -> str:
    """The display name Dynamics 365 shows for a column in a language (the export's header)."""
    try:
        return _headers(language_code)[(table_name, logical_name)]
    except KeyError:
        raise MissingLabelError(
            f"no header for {table_name}.{logical_name} in language {language_code} in the vocabulary"
        ) from None


@lru_cache(maxsize=16)
def _choice_labels(language_code: int) -> dict[tuple[str, str, int], str]:
    with choice_labels_path().open(encoding="utf-8", newline="") as handle:
        return {
            (row["table_name"], row["logical_name"], int(row["value"])): row["label"]
            for row in csv.DictReader(handle)
            if int(row["language_code"]) == language_code
        }


def choice_label(table_name: str, logical_name: str, value: int, language_code: int) -> str:
    """The label a user of that language sees for a choice value (e.g. Is Active Customer 0 -> Ingen in
    Swedish)."""
    try:
        return _choice_labels(language_code)[(table_name, logical_name, value)]
    except KeyError:
        raise MissingLabelError(
            f"no label for {table_name}.{logical_name} = {value} in language {language_code}"
        ) from None


@lru_cache(maxsize=256)
def choice_labels(table_name: str, logical_name: str, language_code: int) -> tuple[str, ...]:
    """Every label of a choice column in a language, in the order of the values (a drop-down's order)."""
    found = sorted(
        (value, label)
        for (table, column, value), label in _choice_labels(language_code).items()
        if (table, column) == (table_name, logical_name)
    )
    if not found:
        raise MissingLabelError(f"no labels for {table_name}.{logical_name} in language {language_code}")
    return tuple(label for _, label in found)
