"""Header normalization: export headers (logical names, display names in any language, related-table
columns `X (Y)`) -> unique DuckDB column names, and entity detection from those headers.

Everything here is pure Python on strings: the vocabulary decides, the file name only breaks ties."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from loaders.errors import LoaderError
from loaders.metadata import CHECKSUM_COLUMN, CHECKSUM_PSEUDO_NAME, ExportMetadata, MetadataColumn
from loaders.raw_schema import PROVENANCE_COLUMNS
from loaders.vocabulary import exported_entities, read_vocabulary

# The table a lookup column points to, for headers of related-table columns like "Account Name (Company Name)"
# that the vocabulary does not list itself. Lookups to tables outside the nine (currency, price list, unit)
# are not resolved: such headers stay unknown columns under their own text.
LOOKUP_TARGETS: dict[str, str] = {
    "accountid": "account",
    "customerid": "account",
    "parentcustomerid": "account",
    "primarycontactid": "contact",
    "contactid": "contact",
    "salesorderid": "salesorder",
    "quoteid": "quote",
    "invoiceid": "invoice",
    "productid": "product",
}

# File-name words that hint at an entity; used only when the headers match two entities equally well.
FILE_NAME_HINTS: dict[str, str] = {
    "salesorderdetail": "salesorderdetail",
    "orderproduct": "salesorderdetail",
    "orderprodukt": "salesorderdetail",
    "quotedetail": "quotedetail",
    "quoteproduct": "quotedetail",
    "offertprodukt": "quotedetail",
    "invoicedetail": "invoicedetail",
    "invoiceproduct": "invoicedetail",
    "fakturaprodukt": "invoicedetail",
    "salesorder": "salesorder",
    "order": "salesorder",
    "quote": "quote",
    "offert": "quote",
    "invoice": "invoice",
    "faktura": "invoice",
    "product": "product",
    "produkt": "product",
    "account": "account",
    "konto": "account",
    "contact": "contact",
    "kontakt": "contact",
}

_RELATED = re.compile(r"^(?P<column>.+?)\s*\((?P<lookup>[^()]+)\)$")
_LAST_GROUP = re.compile(r"^(?P<rest>.*?)\s*\((?P<group>[^()]+)\)\s*$", re.DOTALL)
METADATA_SHEET = "metadata-sheet"  # the `how` of a header the workbook's metadata sheet named
_RESERVED = {name for name, _ in PROVENANCE_COLUMNS}


def header_key(text: str) -> str:
    """Compare headers case- and whitespace-insensitively (and ignore a stray BOM or NBSP)."""
    text = unicodedata.normalize("NFC", text.replace("\ufeff", "")).replace("\xa0", " ")
    return " ".join(text.split()).casefold()


@lru_cache(maxsize=1)
def _index() -> dict[str, dict[str, str]]:
    """table -> header key -> logical name; logical names match themselves."""
    index: dict[str, dict[str, str]] = {table: {} for table in exported_entities()}
    for label in read_vocabulary():
        table = index.setdefault(label.table_name, {})
        table.setdefault(header_key(label.header), label.logical_name)
        table.setdefault(header_key(label.logical_name), label.logical_name)
    return index


def resolve_header(table_name: str, header: str) -> tuple[str | None, str]:
    """The logical name of one header in one table, and how it was found ('vocabulary', 'related', '')."""
    table = _index().get(table_name, {})
    key = header_key(header)
    if key in table:
        return table[key], "vocabulary"
    match = _RELATED.match(key)
    if match:
        lookup = table.get(match["lookup"])
        target = LOOKUP_TARGETS.get(lookup or "")
        column = _index().get(target or "", {}).get(match["column"])
        if lookup and column:
            return f"{lookup}__{column}", "related"
    return None, ""


def _trailing_groups(header: str) -> list[str]:
    """The parenthesized groups at the end of a header, first to last: `Email (Primary Contact) (Contact)`
    -> ['Primary Contact', 'Contact']."""
    groups: list[str] = []
    rest = header
    while match := _LAST_GROUP.match(rest):
        groups.insert(0, match["group"])
        rest = match["rest"]
    return groups


def related_column_name(table_name: str, column: MetadataColumn) -> str:
    """The raw column of a related table's column named by the metadata sheet (`<relationship>.<column>`).

    Its header reads `<column> (<lookup>) (<table>)`: when the vocabulary knows the lookup's display name, the
    column lands as `<lookup>__<column>` (the name the vocabulary itself gives such columns, e.g.
    `primarycontactid__emailaddress1`); otherwise as `<relationship id>.<column>`, exactly as the metadata
    names it: the relationship's id is the same in every language and every export of the tenant."""
    assert column.relationship is not None and column.column is not None
    table = _index().get(table_name, {})
    for group in _trailing_groups(column.display_name):
        lookup = table.get(header_key(group))
        if lookup is not None and "__" not in lookup:
            return f"{lookup}__{column.column}"
    return f"{column.relationship}.{column.column}"


def metadata_column_names(table_name: str, metadata: ExportMetadata) -> dict[str, str]:
    """Display name -> raw column name for every column the metadata sheet lists."""
    names: dict[str, str] = {}
    for column in metadata.columns:
        if column.logical_name == CHECKSUM_PSEUDO_NAME:
            name = CHECKSUM_COLUMN
        elif column.is_related:
            name = related_column_name(table_name, column)
        else:
            name = column.logical_name
        names.setdefault(column.display_name, name)
    return names


@dataclass(frozen=True)
class Column:
    position: int  # 1-based, as a user counts columns
    header: str
    name: str  # the DuckDB column name in raw.<table>
    how: str  # metadata-sheet | vocabulary | related | unknown


@dataclass(frozen=True)
class ColumnPlan:
    columns: tuple[Column, ...]
    unknown: tuple[str, ...] = field(default=())
    duplicates: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]


# Quotes cannot stand in an identifier that dbt quotes (its unit-test fixtures list every column of a
# source between double quotes, unescaped), so an unknown header lands with each of them as `_`.
_UNQUOTABLE = str.maketrans({'"': "_", "'": "_", "`": "_"})


def unknown_column_name(header: str) -> str:
    """The column an unknown header lands in: its own text, white space folded, quotes as `_`
    (`Customer "VIP" flag` -> `Customer _VIP_ flag`). The header itself is kept in raw._loads.headers."""
    return " ".join(header.replace("\ufeff", "").split()).translate(_UNQUOTABLE)


def plan_columns(table_name: str, headers: list[str], exact: Mapping[str, str] | None = None) -> ColumnPlan:
    """Map headers to unique column names. DuckDB names are case-insensitive, so uniqueness is checked on
    the casefolded name; later duplicates get a deterministic `__2`, `__3` suffix and are reported.

    `exact` (display name -> column name, from the workbook's metadata sheet) decides first, by the header
    byte for byte, else compared like the vocabulary compares; the vocabulary decides the rest."""
    used: set[str] = {name.casefold() for name in _RESERVED}
    columns: list[Column] = []
    unknown: list[str] = []
    duplicates: list[str] = []
    exact = exact or {}
    exact_keys = {header_key(display): name for display, name in reversed(list(exact.items()))}
    for position, header in enumerate(headers, start=1):
        named = exact.get(header) or exact_keys.get(header_key(header))
        logical, how = (named, METADATA_SHEET) if named else resolve_header(table_name, header)
        if logical is None:
            how = "unknown"
            logical = unknown_column_name(header) or f"column_{position}"
            unknown.append(header)
        name, suffix = logical, 1
        while name.casefold() in used:
            suffix += 1
            name = f"{logical}__{suffix}"
        if suffix > 1:
            duplicates.append(f"{header!r} (column {position}) -> {name}")
        used.add(name.casefold())
        columns.append(Column(position, header, name, how))
    return ColumnPlan(tuple(columns), tuple(unknown), tuple(duplicates))


def entity_scores(headers: list[str]) -> dict[str, int]:
    """How many headers each entity's vocabulary knows (directly or as a related-table column)."""
    return {
        table: sum(1 for header in headers if resolve_header(table, header)[0] is not None)
        for table in exported_entities()
    }


class EntityError(LoaderError):
    """The entity of a file cannot be determined, or --entity contradicts its headers."""


def _hint_from_name(stem: str) -> list[str]:
    squashed = re.sub(r"[^a-z]", "", stem.casefold())
    return [entity for word, entity in FILE_NAME_HINTS.items() if word in squashed]


def detect_entity(headers: list[str], file_name: str, override: str | None = None) -> tuple[str, str]:
    """Return (entity, how detected). The headers decide; the file name only breaks a tie.

    --entity wins unless the headers clearly belong to another entity (it matches fewer than half as many
    headers as the best entity): then loading would put a file in the wrong table, so it fails."""
    scores = entity_scores(headers)
    best = max(scores.values())
    leaders = [table for table, score in scores.items() if score == best]
    if override is not None:
        if override not in exported_entities():
            raise EntityError(f"--entity {override!r} is not one of: {', '.join(exported_entities())}")
        if best > 0 and scores[override] * 2 < best:
            raise EntityError(
                f"--entity {override} does not match the headers: they belong to {leaders[0]} "
                f"({best} of {len(headers)} headers are {leaders[0]} columns, "
                f"{scores[override]} are {override} columns)"
            )
        return override, "--entity"
    if best == 0:
        raise EntityError("no header is a known column of any entity; pass --entity to load it anyway")
    if best * 4 < len(headers):
        raise EntityError(
            f"only {best} of {len(headers)} headers are known columns (best: {', '.join(leaders)}); "
            "pass --entity to load it anyway"
        )
    if len(leaders) == 1:
        return leaders[0], "headers"
    hinted = [table for table in _hint_from_name(file_name) if table in leaders]
    if hinted:
        return hinted[0], "headers+file name"
    raise EntityError(
        f"the headers match {' and '.join(leaders)} equally ({best} headers each); pass --entity"
    )
