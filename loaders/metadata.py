"""The metadata sheet of a Dynamics 365 "Export to Excel" workbook (docs/loading.md, "The metadata sheet").

Every export carries a very hidden sheet (`hiddenSheet`) whose cell A1 is
`<table logical name>:<88-character base64>:<logicalname>=<percent-encoded display name>&...`: it names the
table and the logical name of every column of the view, whatever the user's language, custom columns
included. Rows 2..n hold the labels of each choice column of the view, one row per column, in view order.

This module only parses that text; landing.py decides which sheet it describes and what lands."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

# The pseudo logical name Dynamics gives the row checksum column; the vocabulary calls it `rowchecksum`.
CHECKSUM_PSEUDO_NAME = "checksumLogicalName"
CHECKSUM_COLUMN = "rowchecksum"

_A1 = re.compile(
    r"^(?P<table>[A-Za-z_][A-Za-z0-9_]*):(?P<token>[A-Za-z0-9+/]+={0,2}):(?P<pairs>.+)$", re.DOTALL
)
# A related table's column: `<relationship metadata GUID>.<column logical name>`.
_RELATED = re.compile(
    r"^(?P<relationship>[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})\.(?P<column>.+)$"
)


@dataclass(frozen=True)
class MetadataColumn:
    logical_name: str  # as the metadata names it (`checksumLogicalName`, `<guid>.<column>` included)
    display_name: str  # decoded, byte for byte the header Dynamics wrote
    relationship: str | None = None  # the relationship GUID of a related table's column
    column: str | None = None  # the column of the related table

    @property
    def is_related(self) -> bool:
        return self.relationship is not None


@dataclass(frozen=True)
class ChoiceRow:
    row: int  # the metadata sheet's row (2..n): the (row - 1)-th choice column of the view
    labels: tuple[str, ...]


@dataclass(frozen=True)
class ExportMetadata:
    table: str
    token: str
    columns: tuple[MetadataColumn, ...]
    choice_rows: tuple[ChoiceRow, ...]  # rows 2..n: the labels of each choice column, in view order

    def by_display_name(self) -> dict[str, MetadataColumn]:
        return {column.display_name: column for column in self.columns}


def parse_metadata_cell(text: str) -> tuple[str, str, tuple[MetadataColumn, ...]] | None:
    """(table, token, columns) of an A1 cell, or None when the text is not Dynamics' metadata."""
    match = _A1.match(text.strip("\ufeff"))
    if not match:
        return None
    columns: list[MetadataColumn] = []
    for pair in match["pairs"].split("&"):
        logical, equals, encoded = pair.partition("=")
        if not equals or not logical:
            return None
        display = unquote(encoded, encoding="utf-8", errors="replace")
        related = _RELATED.match(logical)
        if related:
            columns.append(
                MetadataColumn(logical, display, related["relationship"].lower(), related["column"])
            )
        else:
            columns.append(MetadataColumn(logical, display))
    return match["table"], match["token"], tuple(columns)


def parse_metadata_sheet(rows: Sequence[Sequence[str | None]]) -> ExportMetadata | None:
    """The metadata of a sheet given as rows of cell texts (row 1 first), or None when it is not one."""
    if not rows or not rows[0] or rows[0][0] is None:
        return None
    parsed = parse_metadata_cell(rows[0][0])
    if parsed is None:
        return None
    table, token, columns = parsed
    choice_rows = [
        ChoiceRow(number, tuple(label for label in row if label is not None and label != ""))
        for number, row in enumerate(rows[1:], start=2)
    ]
    return ExportMetadata(table, token, columns, tuple(row for row in choice_rows if row.labels))
