"""How a value of each column kind becomes the text a given export shape writes.

Three text shapes exist: what Excel shows a Swedish user, what it shows a US-English user, and what the
Dataverse Web API / Power Query writes (ISO dates, plain decimals). The xlsx writer does not use this module:
it writes real Excel dates and numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from p2c.sample.labels import ENGLISH, choice_label


class Kind(StrEnum):
    TEXT = "text"  # also GUIDs, checksums and lookups (a lookup exports the referenced record's name)
    CHOICE = "choice"  # an option value (int) exported as its label in the user's language
    DATE = "date"
    DATETIME = "datetime"
    MONEY = "money"  # currency amounts: grouped thousands in localized text
    DECIMAL = "decimal"  # quantities: never grouped
    INTEGER = "integer"


@dataclass(frozen=True)
class Column:
    logical_name: str
    kind: Kind = Kind.TEXT


Record = dict[str, object]


def _sv_date(value: dt.date) -> str:
    return value.isoformat()


def _sv_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _en_date(value: dt.date) -> str:
    return f"{value.month}/{value.day}/{value.year}"


def _en_datetime(value: dt.datetime) -> str:
    hour = value.hour % 12 or 12
    half = "AM" if value.hour < 12 else "PM"
    return f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02d}:{value.second:02d} {half}"


def _iso_date(value: dt.date) -> str:
    return f"{value.isoformat()}T00:00:00Z"


def _iso_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sv_money(value: float) -> str:
    # Swedish Excel groups thousands with a space and writes a decimal comma: 1 234,50.
    return f"{value:,.2f}".replace(",", " ").replace(".", ",")


def _sv_decimal(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def _en_money(value: float) -> str:
    return f"{value:,.2f}"


def _plain_decimal(value: float) -> str:
    return f"{value:.2f}"


@dataclass(frozen=True)
class TextLocale:
    """The text conventions of one export shape."""

    name: str
    language_code: int  # of the choice labels
    date: Callable[[dt.date], str]
    datetime: Callable[[dt.datetime], str]
    money: Callable[[float], str]
    decimal: Callable[[float], str]


TEXT_LOCALES: dict[str, TextLocale] = {
    "sv": TextLocale("sv", 1053, _sv_date, _sv_datetime, _sv_money, _sv_decimal),
    "en": TextLocale("en", ENGLISH, _en_date, _en_datetime, _en_money, _plain_decimal),
    # Web API / Power Query: ISO 8601 UTC, plain decimals, English choice labels.
    "webapi": TextLocale("webapi", ENGLISH, _iso_date, _iso_datetime, _plain_decimal, _plain_decimal),
}


def text_renderer(
    table_name: str, columns: Sequence[Column], locale: TextLocale
) -> Callable[[Record], list[str]]:
    """A function turning a record into the row of texts the export writes (missing values are empty)."""
    cell_formatters: list[tuple[str, Callable[[object], str]]] = []
    for column in columns:
        cell_formatters.append((column.logical_name, _formatter(table_name, column, locale)))

    def render(record: Record) -> list[str]:
        get = record.get
        return [
            "" if (value := get(name)) is None else format_cell(value)
            for name, format_cell in cell_formatters
        ]

    return render


def _formatter(table_name: str, column: Column, locale: TextLocale) -> Callable[[object], str]:
    match column.kind:
        case Kind.TEXT:
            return str
        case Kind.INTEGER:
            return str
        case Kind.CHOICE:
            # Cache the labels: a vocabulary lookup per cell would dominate large runs.
            labels: dict[object, str] = {}

            def label(value: object) -> str:
                if value not in labels:
                    labels[value] = choice_label(
                        table_name, column.logical_name, int(str(value)), locale.language_code
                    )
                return labels[value]

            return label
        case Kind.DATE:
            return locale.date  # type: ignore[return-value]
        case Kind.DATETIME:
            return locale.datetime  # type: ignore[return-value]
        case Kind.MONEY:
            return locale.money  # type: ignore[return-value]
        case Kind.DECIMAL:
            return locale.decimal  # type: ignore[return-value]
    raise ValueError(f"unknown column kind {column.kind!r}")
