"""The Web API's route table: method + resource pattern -> handler, first match wins (as moto's `urls.py`).

A resource is the path after `/api/data/v9.2/`, percent-decoded, without surrounding slashes; the query
string is split into options. Every request, top-level or inside a `$batch`, goes through `dispatch`: the
bypass headers are checked first, then the first route whose method and pattern match answers. A resource
no route takes is a 404 naming its first segment."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from p2c.emulator.api_errors import ApiError, resource_not_found
from p2c.emulator.api_result import ApiResult
from p2c.emulator.handlers import batch, bulk, functions, metadata, records
from p2c.emulator.handlers.call import ApiCall, Service
from p2c.emulator.preferences import parse_prefer
from p2c.emulator.records import Context
from p2c.emulator.request_checks import check_bypass_headers
from p2c.emulator.store import Txn

Handler = Callable[[ApiCall, re.Match[str]], ApiResult]
ANY_METHOD = "*"


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, PATCH, DELETE, or ANY_METHOD
    pattern: re.Pattern[str]  # matched against the whole resource
    handler: Handler
    top_level_only: bool = False  # not taken inside a `$batch` (a batch holds no batch)


GUID = r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
SET = r"(\w+)"
COLLECTION = re.compile(SET)
RECORD = re.compile(rf"{SET}\((.*)\)")

ROUTES: tuple[Route, ...] = (
    Route("POST", re.compile(r"\$batch"), batch.run_batch, top_level_only=True),
    Route("GET", re.compile(r"WhoAmI(?:\(\))?"), functions.who_am_i),
    Route("GET", re.compile(r""), metadata.service_document),
    Route(
        "GET",
        re.compile(rf"EntityDefinitions\((?:LogicalName='(\w+)'|({GUID}))\)(?:/(.+))?"),
        metadata.entity_definition,
    ),
    Route("GET", re.compile(r"EntityDefinitions"), metadata.entity_definitions),
    Route("GET", re.compile(r"sdkmessagefilters"), metadata.sdk_message_filters),
    Route("GET", re.compile(r"organizations"), functions.caller_record),
    Route("GET", re.compile(r"systemusers\(([0-9a-fA-F-]{36})\)"), functions.caller_record),
    Route("GET", re.compile(rf"{SET}/\$count"), records.count),
    Route(
        "POST",
        re.compile(rf"{SET}/Microsoft\.Dynamics\.CRM\.(CreateMultiple|UpdateMultiple|UpsertMultiple)"),
        bulk.bulk_message,
    ),
    Route("GET", COLLECTION, records.list_records),
    Route("POST", COLLECTION, records.create),
    Route(ANY_METHOD, COLLECTION, records.not_allowed_on_collection),
    Route("GET", RECORD, records.retrieve),
    Route("PATCH", RECORD, records.patch),
    Route("DELETE", RECORD, records.delete),
    Route(ANY_METHOD, RECORD, records.not_allowed_on_record),
)


def execute(
    service: Service,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    ctx: Context,
    txn: Txn | None,
) -> ApiResult:
    """One request; its refusal becomes its answer, except inside a change set (`txn`), which it aborts."""
    try:
        return dispatch(service, method, target, headers, body, ctx, txn)
    except ApiError as error:
        if txn is not None:
            raise
        return ApiResult.error(error)


def dispatch(
    service: Service,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    ctx: Context,
    txn: Txn | None,
) -> ApiResult:
    """Route one request (`target`: the URL after the service root, still percent-encoded)."""
    split = urlsplit(target)
    resource = unquote(split.path).strip("/")
    check_bypass_headers(headers, ctx.client_id in service.record_state.policy.admins)
    call = ApiCall(
        service=service,
        method=method,
        resource=resource,
        query=dict(parse_qsl(split.query, keep_blank_values=True)),
        headers=headers,
        prefer=parse_prefer(headers.get("prefer")),
        body=body,
        ctx=ctx,
        txn=txn,
    )
    for route in ROUTES:
        if route.method not in (method, ANY_METHOD) or (route.top_level_only and txn is not None):
            continue
        match = route.pattern.fullmatch(resource)
        if match:
            return route.handler(call, match)
    raise resource_not_found(resource.split("/")[0] or resource)
