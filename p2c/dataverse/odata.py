"""OData text: literals, `$filter` expressions, key segments, query strings, `@odata.bind` values.

Rules from the Web API documentation:
* A string literal is single-quoted, with each `'` doubled (`'O''Brien & Sons'`).
* GUIDs, numbers, booleans and `null` are unquoted. Pass a `uuid.UUID` for a Uniqueidentifier column
  (`accountid`, `_parentcustomerid_value`): a quoted GUID is a string, and Dataverse refuses the comparison.
* Special characters in URL values are percent-encoded (`&` -> %26, `+` -> %2B, `/` -> %2F, ...).
* A key URL (`accounts(accountnumber='A/1')`) fails for retrieve and update when a key value contains any of
  `/ < > * % & : \\ ? +`, however it is encoded; `key_segment` returns None for those, and the client then
  finds the record with `$filter` instead.
* Lookups are set with `"<navigation property>@odata.bind": "/<entity set>(<guid>)"`; the navigation
  property name is case-sensitive and comes from metadata (see `metadata.py`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from p2c.errors import UsageError

KEY_URL_UNSAFE = frozenset("/<>*%&:\\?+")
# Left readable in query values: OData punctuation that is not a query-string delimiter.
_QUERY_SAFE = "'(),$"


def guid(value: str | uuid.UUID) -> str:
    """A record id in canonical form (lower case, hyphens); UsageError if it is not a GUID."""
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip().strip("{}")))
    except ValueError:
        raise UsageError(f"{value!r} is not a record id (a GUID)") from None


def literal(value: Any) -> str:
    """An OData literal for `value` (strings quoted with `'` doubled; GUIDs, numbers, booleans bare)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise UsageError(f"cannot write {type(value).__name__} value {value!r} as an OData literal")


def equals_filter(match: Mapping[str, Any]) -> str:
    """`col1 eq 'a' and col2 eq 2` for every column/value pair (in the mapping's order)."""
    if not match:
        raise UsageError("a lookup needs at least one column value")
    return " and ".join(f"{column} eq {literal(value)}" for column, value in match.items())


def ids_filter(id_column: str, ids: Iterable[str | uuid.UUID]) -> str:
    """`(id eq g1 or id eq g2 ...)`: plain OData 4.0 comparisons, which every service and emulator reads.

    (Dataverse also has `Microsoft.Dynamics.CRM.In(PropertyName=..,PropertyValues=[..])`; the or-chain
    needs no vendor function and stays inside the 32,768-character URL limit at the default 250 ids per
    query: about 70 characters an id, encoded, for a primary id column like `salesorderdetailid`.)"""
    terms = [f"{id_column} eq {guid(i)}" for i in ids]
    if not terms:
        raise UsageError("no ids to query")
    return "(" + " or ".join(terms) + ")"


def key_segment(key: Mapping[str, Any]) -> str | None:
    """`accountnumber='O''Brien%20%26%20Sons'`-style key text for a URL, or None if a key URL cannot work."""
    parts = []
    for column, value in key.items():
        if isinstance(value, str) and KEY_URL_UNSAFE.intersection(value):
            return None
        parts.append(f"{column}={quote(literal(value), safe=_QUERY_SAFE)}")
    return ",".join(parts) if parts else None


def record_path(entity_set: str, record_id: str | uuid.UUID) -> str:
    """`accounts(00000000-…)`: the address of one record by its primary key."""
    return f"{entity_set}({guid(record_id)})"


def query_string(params: Mapping[str, str | int | None]) -> str:
    """`$select=a,b&$filter=name%20eq%20'x'`: values percent-encoded, `$`-names left as they are."""
    pairs = []
    for name, value in params.items():
        if value is None:
            continue
        pairs.append(f"{name}={quote(str(value), safe=_QUERY_SAFE)}")
    return "&".join(pairs)


def collection_path(
    entity_set: str,
    *,
    filter: str | None = None,
    select: Sequence[str] = (),
    orderby: str | None = None,
    top: int | None = None,
) -> str:
    """`accounts?$select=name&$filter=...`: a query of a collection (the entity set alone without options)."""
    params = {"$select": ",".join(select) or None, "$filter": filter, "$orderby": orderby, "$top": top}
    qs = query_string(params)
    return f"{entity_set}?{qs}" if qs else entity_set


def json_default(value: Any) -> Any:
    """JSON for the values a row may carry beyond JSON's own: Decimal (money), dates, GUIDs."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be sent as JSON")


def to_json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=json_default).encode(
        "utf-8"
    )


def bind(navigation_property: str, entity_set: str, record_id: str | uuid.UUID) -> dict[str, str]:
    """`{"parentcustomerid_account@odata.bind": "/accounts(<guid>)"}` for one lookup."""
    if not navigation_property or "@" in navigation_property:
        raise UsageError(f"{navigation_property!r} is not a navigation property name")
    return {f"{navigation_property}@odata.bind": f"/{record_path(entity_set, record_id)}"}
