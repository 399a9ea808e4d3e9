"""Query evaluation over stored records: which rows a `$filter` keeps (by primary key when it names only
record ids), the properties `$select`/`$orderby`/`$filter` may name, and the order `$orderby` gives."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from p2c.emulator.api_errors import unknown_property
from p2c.emulator.odata_query import (
    Node,
    evaluate,
    parse_filter,
    parse_select,
    primary_key_ids,
    required_values,
    sort_key,
)
from p2c.emulator.records import Records
from p2c.emulator.schema import Schema, Table
from p2c.emulator.store import Row, Txn

# a row with its whole view (None when neither the filter nor the order needed it)
RowView = tuple[Row, dict[str, Any] | None]


class RecordQuery:
    def __init__(self, schema: Schema, records: Records) -> None:
        self.schema = schema
        self.records = records

    def select(self, table: Table, query: Mapping[str, str]) -> list[str] | None:
        """The columns `$select` names (None: all), each checked against the table."""
        return parse_select(
            query.get("$select"), lambda name: self.check_property(table, name, navigation=False)
        )

    def check_property(self, table: Table, name: str, *, navigation: bool = True) -> None:
        if navigation and "/" in name:
            nav_name, _, column = name.partition("/")
            nav = table.navigations.get(nav_name)
            if nav is None:
                raise unknown_property(table.logical_name, nav_name)
            target = self.schema.tables[nav.target]
            if column not in self.records.property_names(target):
                raise unknown_property(target.logical_name, column)
            return
        if name not in self.records.property_names(table):
            raise unknown_property(table.logical_name, name)

    def matching_rows(
        self, txn: Txn, table: Table, query: Mapping[str, str], *, with_views: bool = False
    ) -> list[RowView]:
        """The rows `$filter` keeps (all without one), each with its whole view when `with_views` or the
        filter needed it."""
        aliases = {k: v for k, v in query.items() if k.startswith("@")}
        node = (
            parse_filter(
                query["$filter"],
                aliases,
                lambda n: self.check_property(table, n),
                lambda n: self.property_type(table, n),
            )
            if query.get("$filter")
            else None
        )
        # a filter on record ids is answered from the primary key (as the service's index does), not a
        # scan of the table; the filter is still evaluated on those rows below, so the answer is the same
        ids = primary_key_ids(node, table.primary_key) if node is not None else None
        indexed = indexed_lookup(node, table) if node is not None and ids is None else None
        if indexed is not None:
            # a filter that requires one of a few values of a column is answered from that column's values
            # (as the service's indexes on alternate keys and lookups do), not a scan of every record's
            # whole view; the filter is still evaluated on the rows found
            rows = list(txn.scan_where(table.logical_name, *indexed))
        elif ids is None:
            rows = list(txn.scan(table.logical_name))
        else:
            rows = txn.get_many(table.logical_name, ids)
        # rows found by their ids already match a filter made only of those ids: evaluating each of
        # 100 `or` terms on each of 100 rows again would cost more than the rest of the request (and
        # their whole views are made only when a filter or an order needs them)
        views: list[RowView]
        if (node is not None and ids is None) or with_views:
            views = [(row, self.records.view(table, row)) for row in rows]
        else:
            views = [(row, None) for row in rows]
        if node is not None and ids is None:
            views = [
                (row, view)
                for row, view in views
                if evaluate(node, partial(self.value, txn, table, view or {}))
            ]
        return views

    @staticmethod
    def sort(views: list[RowView], order: list[tuple[str, bool]]) -> None:
        """Order the rows as `$orderby` asks (the last property first: sorts are stable); nulls last."""
        for name, descending in reversed(order):
            views.sort(key=partial(_order_key, name), reverse=descending)

    def property_type(self, table: Table, path: str) -> str | None:
        """The Edm type of a `$filter` property where the operand check needs it (GUIDs and text)."""
        if "/" in path:
            nav_name, _, path = path.partition("/")
            table = self.schema.tables[table.navigations[nav_name].target]
        if path == table.primary_key or (path.startswith("_") and path.endswith("_value")):
            return "Edm.Guid"
        column = table.columns.get(path)
        return "Edm.String" if column is not None and column.type in ("string", "memo") else None

    def value(self, txn: Txn, table: Table, view: Mapping[str, Any], path: str) -> Any:
        if "/" not in path:
            return view.get(path)
        nav_name, _, column = path.partition("/")
        nav = table.navigations[nav_name]
        stored = view.get(f"_{nav.attribute}_value")
        if not stored:
            return None
        related = txn.get(nav.target, str(stored))  # one navigation step only
        if related is None:
            return None
        return self.records.view(self.schema.tables[nav.target], related).get(column)


def _order_key(name: str, item: RowView) -> tuple[bool, Any]:
    value = (item[1] or {}).get(name)
    return (value is None, sort_key(value))


# more values than this are looked up by a scan: SQLite's limit on a statement's parameters is far above it
MOST_INDEXED_VALUES = 1000


def indexed_lookup(node: Node, table: Table) -> tuple[str, frozenset[str]] | None:
    """(the JSON path in a stored record, the values one of which it must hold) for the column of the filter
    that narrows it most, when it requires ASCII string values of a column or a lookup (`_<lookup>_value`);
    None when no such column exists (the table is scanned)."""
    paths: list[tuple[int, str, frozenset[str]]] = []
    for prop, values in required_values(node).items():
        if not values or len(values) > MOST_INDEXED_VALUES or not all(v.isascii() for v in values):
            continue
        if prop in table.columns:
            paths.append((len(values), f'$."{prop}"', values))
        elif prop.startswith("_") and prop.endswith("_value") and prop[1:-6] in table.lookups:
            paths.append((len(values), f'$."{prop[1:-6]}".id', values))
    if not paths:
        return None
    _, path, values = min(paths)
    return path, values
