"""Records and their collections: list (`$filter`, `$select`, `$orderby`, `$top`, `$count`, paging), count,
create, retrieve, update or upsert by id or alternate key (PATCH), delete."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from p2c.emulator.api_errors import ApiError
from p2c.emulator.api_result import ApiResult
from p2c.emulator.handlers.call import ApiCall, json_body
from p2c.emulator.odata_query import parse_orderby, parse_top
from p2c.emulator.preferences import applied_preferences, included_annotations
from p2c.emulator.records import KeyRef, etag
from p2c.emulator.request_checks import check_key_url, check_query_options
from p2c.emulator.schema import Table
from p2c.emulator.store import Row

DEFAULT_PAGE_SIZE = 5000
COLLECTION_OPTIONS = frozenset({"$select", "$filter", "$top", "$count", "$orderby", "$skiptoken"})


# --- collections: `accounts` -------------------------------------------------------------------------
def list_records(call: ApiCall, match: re.Match[str]) -> ApiResult:
    service, query, prefer, ctx = call.service, call.query, call.prefer, call.ctx
    table = service.records.table_by_set(match.group(1))
    check_query_options(query, COLLECTION_OPTIONS)
    select = service.queries.select(table, query)
    order = parse_orderby(
        query.get("$orderby"), lambda n: service.queries.check_property(table, n, navigation=False)
    )
    top = parse_top(query.get("$top"))
    with service.store.reading() as txn:
        views = service.queries.matching_rows(txn, table, query, with_views=bool(order))
    service.queries.sort(views, order)
    total = len(views)
    token = query.get("$skiptoken", "")
    start = int(token[1:]) if token[:1] == "o" and token[1:].isdigit() else 0
    page_size = DEFAULT_PAGE_SIZE
    applied_page_size: list[str] = []
    if "odata.maxpagesize" in prefer and prefer["odata.maxpagesize"].isdigit():
        page_size = max(1, min(DEFAULT_PAGE_SIZE, int(prefer["odata.maxpagesize"])))
        applied_page_size.append(f"odata.maxpagesize={page_size}")
    applied = applied_preferences(prefer, applied_page_size)
    if top is not None:
        views, page = views[:top], views[:top]
    else:
        page = views[start : start + page_size]
    document: dict[str, Any] = {"@odata.context": f"{ctx.service_root}$metadata#{table.entity_set}"}
    if query.get("$count") == "true":
        document["@odata.count"] = total
    document["value"] = [_shape(call, table, row, select) for row, _ in page]
    if top is None and start + page_size < len(views):
        rest = {k: v for k, v in query.items() if k != "$skiptoken"}
        rest["$skiptoken"] = f"o{start + page_size}"
        document["@odata.nextLink"] = f"{ctx.service_root}{table.entity_set}?{urlencode(rest)}"
    return ApiResult.json(200, document, applied)


def count(call: ApiCall, match: re.Match[str]) -> ApiResult:
    """`accounts/$count`: the number of matching rows as text/plain."""
    table = call.service.records.table_by_set(match.group(1))
    check_query_options(call.query, {"$filter"})
    with call.service.store.reading() as reading:
        number = len(call.service.queries.matching_rows(reading, table, call.query))
    return ApiResult(200, {"Content-Type": "text/plain"}, str(number).encode())


def create(call: ApiCall, match: re.Match[str]) -> ApiResult:
    service, ctx, prefer = call.service, call.ctx, call.prefer
    table = service.records.table_by_set(match.group(1))
    check_query_options(call.query, {"$select"})
    body = json_body(call.body, table.entity_set)
    select = service.queries.select(table, call.query)
    row = service.write(call.txn, 1, lambda t: service.records.create(t, ctx, table, body))
    location = service.records.entity_url(ctx, table, row.id)
    ctx.content_ids["__last__"] = location
    if prefer.get("return") == "representation":
        document = {
            "@odata.context": f"{ctx.service_root}$metadata#{table.entity_set}/$entity",
            **_shape(call, table, row, select),
        }
        return ApiResult.json(
            201,
            document,
            {**applied_preferences(prefer, ["return=representation"]), "ETag": etag(row.version)},
        )
    return ApiResult(204, {"OData-EntityId": location, "Location": location})


def not_allowed_on_collection(call: ApiCall, match: re.Match[str]) -> ApiResult:
    table = call.service.records.table_by_set(match.group(1))  # an unknown set is a 404 first
    raise ApiError(
        405, "", f"The HTTP method '{call.method}' is not allowed on the collection {table.entity_set}."
    )


# --- one record: `accounts(<id>)` or `accounts(accountnumber='A1')` ---------------------------------
def _record(call: ApiCall, match: re.Match[str]) -> KeyRef:
    """The record the URL names, its key and query options checked (the same for every method)."""
    records = call.service.records
    table = records.table_by_set(match.group(1))
    ref = records.parse_key_ref(table, match.group(2), call.ctx.options)
    check_key_url(ref)
    check_query_options(call.query, {"$select"} if call.method != "DELETE" else set())
    return ref


def retrieve(call: ApiCall, match: re.Match[str]) -> ApiResult:
    ref = _record(call, match)
    service, ctx = call.service, call.ctx
    select = service.queries.select(ref.table, call.query)
    with service.store.reading() as txn:
        row = service.records.find(txn, ref)
    if row is None:
        raise service.records.not_found(ref)
    document = {
        "@odata.context": f"{ctx.service_root}$metadata#{ref.table.entity_set}/$entity",
        **_shape(call, ref.table, row, select),
    }
    return ApiResult.json(200, document, {"ETag": etag(row.version), **applied_preferences(call.prefer)})


def patch(call: ApiCall, match: re.Match[str]) -> ApiResult:
    """An update (or, without `If-Match`, an upsert) of one record by id or alternate key."""
    ref = _record(call, match)
    service, ctx, prefer, headers = call.service, call.ctx, call.prefer, call.headers
    body = json_body(call.body, ref.table.entity_set)
    select = service.queries.select(ref.table, call.query)
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip().lower() == "null":
        if_none_match = None  # the recommended cache-busting header, not a condition
    row, created = service.write(
        call.txn,
        1,
        lambda t: service.records.upsert(
            t, ctx, ref, body, if_match=headers.get("if-match"), if_none_match=if_none_match
        ),
    )
    if ref.record_id:
        location = service.records.entity_url(ctx, ref.table, row.id)
    else:
        keys = ",".join(
            f"{a}={json.dumps(v) if not isinstance(v, str) else _quoted_key(v)}" for a, v in ref.values
        )
        location = f"{ctx.service_root}{ref.table.entity_set}({keys})"
    ctx.content_ids["__last__"] = service.records.entity_url(ctx, ref.table, row.id)
    if prefer.get("return") == "representation":
        document = {
            "@odata.context": f"{ctx.service_root}$metadata#{ref.table.entity_set}/$entity",
            **_shape(call, ref.table, row, select),
        }
        return ApiResult.json(
            201 if created else 200,
            document,
            {**applied_preferences(prefer, ["return=representation"]), "ETag": etag(row.version)},
        )
    return ApiResult(204, {"OData-EntityId": location})


def delete(call: ApiCall, match: re.Match[str]) -> ApiResult:
    ref = _record(call, match)
    service, ctx = call.service, call.ctx
    if_match = call.headers.get("if-match")
    service.write(call.txn, 1, lambda t: service.records.delete(t, ctx, ref, if_match=if_match))
    return ApiResult(204)


def not_allowed_on_record(call: ApiCall, match: re.Match[str]) -> ApiResult:
    _record(call, match)  # a bad key or query option is refused before the method
    raise ApiError(405, "", f"The HTTP method '{call.method}' is not allowed on a record.")


def _shape(call: ApiCall, table: Table, row: Row, select: list[str] | None) -> dict[str, Any]:
    return call.service.records.view(table, row, annotations=included_annotations(call.prefer), select=select)


def _quoted_key(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
