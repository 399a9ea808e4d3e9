"""The WSGI application: token service routes, then the Web API at `/api/data/v9.2/`.

Order for every API request, as the service behaves: bearer token (401) -> injected fault decided (429/503
before any work, or a dropped connection) -> service protection admission (429) -> the work (cost_ms per
written record is slept before the write transaction) -> response headers (`x-ms-dop-hint`, OData-Version).
Requests inside `$batch` run through the same `_execute` as top-level ones."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from p2c.emulator import metadata
from p2c.emulator.api_errors import ApiError, payload_error, query_error, resource_not_found, unknown_property
from p2c.emulator.auth import TokenService
from p2c.emulator.batch import BatchRequest, ChangeSet, PartResponse, parse_batch, render_batch
from p2c.emulator.faults import FaultInjector
from p2c.emulator.limits import ServiceProtection
from p2c.emulator.odata_query import (
    BoolOp,
    Compare,
    InList,
    Node,
    evaluate,
    parse_expand,
    parse_filter,
    parse_orderby,
    parse_select,
    parse_top,
    required_values,
)
from p2c.emulator.record_state import RecordStateRules
from p2c.emulator.records import Context, KeyRef, Records, etag
from p2c.emulator.request_checks import check_bypass_headers, check_key_url, check_query_options
from p2c.emulator.schema import Schema, Table
from p2c.emulator.store import Row, Store, Txn

API_PREFIX = "/api/data/v9.2/"
DEFAULT_PAGE_SIZE = 5000
BULK = re.compile(r"^(\w+)/Microsoft\.Dynamics\.CRM\.(CreateMultiple|UpdateMultiple|UpsertMultiple)$")
ENTITY = re.compile(r"^(\w+)(?:\((.*)\))?$")
DEFINITION_COLLECTIONS = frozenset(
    {"Keys", "Attributes", "ManyToOneRelationships", "OneToManyRelationships", "ManyToManyRelationships"}
)
COUNT = re.compile(r"^(\w+)/\$count$")
PICKLIST_CAST = "Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
DEFINITION = re.compile(
    r"^EntityDefinitions\((?:LogicalName='(\w+)'|([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}))\)(?:/(.+))?$"
)
ATTRIBUTE = re.compile(r"^Attributes\(LogicalName='(\w+)'\)$")
# what a metadata collection answers: its rows filtered, selected and (EntityDefinitions) expanded
METADATA_OPTIONS = frozenset({"$select", "$filter"})


@dataclass
class ApiResult:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, document: Any, headers: Mapping[str, str] | None = None) -> ApiResult:
        return cls(
            status,
            {"Content-Type": "application/json; odata.metadata=minimal", **(headers or {})},
            json.dumps(document).encode("utf-8"),
        )

    @classmethod
    def error(cls, error: ApiError) -> ApiResult:
        return cls.json(error.status, error.body(), error.headers)


def included_annotations(prefer: Mapping[str, str]) -> Callable[[str], bool] | None:
    """Which annotations `Prefer: odata.include-annotations="..."` asks for: `*`, names, `Namespace.*`
    wildcards, `-name` exclusions (OData 4.0 preference); None when it is not sent."""
    wanted = prefer.get("odata.include-annotations")
    if wanted is None:
        return None
    patterns = [p.strip() for p in wanted.split(",") if p.strip()]

    def matches(pattern: str, term: str) -> bool:
        return pattern == "*" or pattern == term or (pattern.endswith("*") and term.startswith(pattern[:-1]))

    def include(term: str) -> bool:
        if any(matches(p[1:], term) for p in patterns if p.startswith("-")):
            return False
        return any(matches(p, term) for p in patterns if not p.startswith("-"))

    return include


def applied_preferences(prefer: Mapping[str, str], others: Iterable[str] = ()) -> dict[str, str]:
    """`Preference-Applied`: the preferences this answer honoured, comma-separated (the annotations asked
    for are echoed as they were sent)."""
    applied = list(others)
    if "odata.include-annotations" in prefer:
        applied.insert(0, f'odata.include-annotations="{prefer["odata.include-annotations"]}"')
    return {"Preference-Applied": ",".join(applied)} if applied else {}


def parse_prefer(header: str | None) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for item in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", header or ""):
        name, _, value = item.strip().partition("=")
        if name:
            prefs[name.lower()] = value.strip().strip('"')
    return prefs


class DroppedConnection(Exception):
    """Close the socket without an answer (an injected `drop`)."""


class EmulatorApp:
    def __init__(
        self,
        store: Store,
        schema: Schema,
        tokens: TokenService,
        protection: ServiceProtection,
        faults: FaultInjector,
        options: Mapping[str, bool],
        verbose: bool = False,
        record_state: RecordStateRules | None = None,
    ) -> None:
        self.store = store
        self.schema = schema
        self.records = Records(schema)
        self.record_state = record_state or RecordStateRules(clients=tuple(tokens.users))
        self.records.state_rules = self.record_state
        self.tokens = tokens
        self.protection = protection
        self.faults = faults
        self.options = dict(options)
        self.verbose = verbose
        self.base_url = ""  # https://127.0.0.1:P, set by the server once bound

    # --- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        request = Request(environ)
        try:
            response = self._route(request)
        except DroppedConnection:
            self._log(request, "drop", started)
            connection = environ.get("werkzeug.socket")
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError("injected drop") from None
        self._log(request, str(response.status_code), started)
        return response(environ, start_response)

    def _log(self, request: Request, status: str, started: float) -> None:
        # Compact and secret-free: method, path (no query string, no headers), status, milliseconds.
        if self.verbose:
            elapsed = (time.monotonic() - started) * 1000
            print(f"{request.method} {request.path} {status} {elapsed:.0f}ms", file=sys.stderr, flush=True)

    def _route(self, request: Request) -> Response:
        path = request.path
        if path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/"):
            return self._api(request)
        if path.endswith("/discovery/instance"):
            return self._json(200, self.tokens.instance_discovery())
        match = re.fullmatch(r"/([^/]+)/v2\.0/\.well-known/openid-configuration", path)
        if match:
            if match.group(1) != self.tokens.tenant:
                return self._json(
                    400, {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."}
                )
            return self._json(200, self.tokens.openid_configuration())
        match = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/(token|devicecode)", path)
        if match and request.method == "POST":
            form = {k: v for k, v in request.form.items()}
            if request.authorization and request.authorization.type == "basic":
                form.setdefault("client_id", request.authorization.username or "")
                form.setdefault("client_secret", request.authorization.password or "")
            handler = self.tokens.token if match.group(2) == "token" else self.tokens.device_code
            answer = handler(match.group(1), form)
            return self._json(answer.status, answer.body, {"Cache-Control": "no-store"})
        return self._json(404, {"error": {"code": "", "message": f"No resource at {path}."}})

    @staticmethod
    def _json(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Response:
        return Response(
            json.dumps(document), status=status, headers=dict(headers or {}), content_type="application/json"
        )

    # --- the API ---------------------------------------------------------------------------------------
    def _api(self, request: Request) -> Response:
        client_id = self.tokens.client_of(request.headers.get("Authorization"))
        if client_id is None:
            challenge = (
                f"Bearer authorization_uri={self.tokens.authority()}/oauth2/authorize, "
                f"resource_id={self.base_url}/"
            )
            return self._respond(
                ApiResult.error(ApiError(401, "", "The user is not authenticated: no valid bearer token.")),
                {"WWW-Authenticate": challenge},
            )
        if self.faults.faults.latency_ms:
            time.sleep(self.faults.faults.latency_ms / 1000)
        fate = self.faults.draw()
        if fate == "429":
            error = ApiError(
                429,
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                {"Retry-After": "1"},
            )
            return self._respond(ApiResult.error(error), self.protection.headers(client_id))
        if fate == "503":
            return self._respond(ApiResult.error(ApiError(503, "", "Service Unavailable")))
        if fate == "drop-before":
            raise DroppedConnection()
        try:
            self.protection.admit(client_id)
        except ApiError as refused:
            return self._respond(ApiResult.error(refused), self.protection.headers(client_id))
        try:
            ctx = Context(client_id, f"{self.base_url}{API_PREFIX}", self.options)
            # the URL as sent, still percent-encoded: a key value holding `%3F` must not end the path
            raw = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "")
            raw = raw if raw.startswith(API_PREFIX) else request.full_path
            result = self._execute(
                request.method,
                raw[len(API_PREFIX) :] if raw.startswith(API_PREFIX) else "",
                {k.lower(): v for k, v in request.headers.items()},
                request.get_data(),
                ctx,
                None,
            )
        finally:
            self.protection.release(client_id)
        if fate == "drop-after":
            raise DroppedConnection()  # the work is done (and committed) but the answer is lost
        return self._respond(result, self.protection.headers(client_id))

    @staticmethod
    def _respond(result: ApiResult, extra: Mapping[str, str] | None = None) -> Response:
        headers = {"OData-Version": "4.0", "x-ms-service-request-id": str(uuid.uuid4()), **result.headers}
        headers.update(extra or {})
        response = Response(result.body, status=result.status)
        for name, value in headers.items():
            response.headers[name] = value
        if not result.body:
            response.headers.pop("Content-Type", None)
        return response

    def _execute(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, ctx: Context, txn: Txn | None
    ) -> ApiResult:
        """One request (top-level or inside a batch); `txn` is the open change-set transaction, if any."""
        try:
            return self._dispatch(method, target, headers, body, ctx, txn)
        except ApiError as error:
            if txn is not None:
                raise
            return ApiResult.error(error)

    def _dispatch(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, ctx: Context, txn: Txn | None
    ) -> ApiResult:
        split = urlsplit(target)
        resource = unquote(split.path).strip("/")
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        prefer = parse_prefer(headers.get("prefer"))
        check_bypass_headers(headers, ctx.client_id in self.record_state.policy.admins)
        if resource == "$batch" and method == "POST" and txn is None:
            return self._batch(headers, body, ctx)
        if resource in ("WhoAmI", "WhoAmI()") and method == "GET":
            return self._who_am_i(ctx)
        if resource == "" and method == "GET":
            sets = [
                {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
                for t in self.schema.tables.values()
            ]
            return ApiResult.json(200, {"@odata.context": f"{ctx.service_root}$metadata", "value": sets})
        definition = DEFINITION.match(resource)
        if definition and method == "GET":
            table = self._definition_table(definition.group(1), definition.group(2))
            return self._definition(table, definition.group(3), query, ctx)
        if resource == "EntityDefinitions" and method == "GET":
            check_query_options(query, METADATA_OPTIONS | {"$expand"})
            expand = self._definition_expansions(query)
            rows = [
                self._expanded(metadata.entity_definition(t), t, expand, ctx)
                for t in self.schema.tables.values()
            ]
            return self._virtual_collection(
                "EntityDefinitions", rows, query, ctx, keep=("MetadataId", *expand)
            )
        if resource == "sdkmessagefilters" and method == "GET":
            check_query_options(query, METADATA_OPTIONS)
            rows = metadata.sdk_message_filters(self.schema)
            return self._virtual_collection("sdkmessagefilters", rows, query, ctx)
        caller = self.record_state.answer(
            method, resource, query, ctx.client_id
        )  # systemusers, organizations
        if caller is not None:
            return ApiResult.json(200, {"@odata.context": f"{ctx.service_root}$metadata", **caller})
        counted = COUNT.match(resource)
        if counted and method == "GET":
            table = self.records.table_by_set(counted.group(1))
            check_query_options(query, {"$filter"})
            with self.store.reading() as reading:
                number = len(self._matching_rows(reading, table, query))
            return ApiResult(200, {"Content-Type": "text/plain"}, str(number).encode())
        bulk = BULK.match(resource)
        if bulk and method == "POST":
            return self._bulk(
                self.records.table_by_set(bulk.group(1)),
                bulk.group(2),
                self._body(body, bulk.group(1)),
                ctx,
                txn,
            )
        entity = ENTITY.match(resource)
        if not entity:
            raise resource_not_found(resource.split("/")[0] or resource)
        table = self.records.table_by_set(entity.group(1))
        if entity.group(2) is None:
            if method == "GET":
                return self._collection(table, query, headers, prefer, ctx, target)
            if method == "POST":
                check_query_options(query, {"$select"})
                return self._create(table, self._body(body, table.entity_set), query, prefer, ctx, txn)
            raise ApiError(
                405, "", f"The HTTP method '{method}' is not allowed on the collection {table.entity_set}."
            )
        ref = self.records.parse_key_ref(table, entity.group(2), ctx.options)
        check_key_url(ref)
        check_query_options(query, {"$select"} if method != "DELETE" else set())
        if method == "GET":
            return self._retrieve(ref, query, prefer, ctx)
        if method == "PATCH":
            return self._patch(ref, self._body(body, table.entity_set), headers, query, prefer, ctx, txn)
        if method == "DELETE":
            if_match = headers.get("if-match")
            self._write(txn, 1, lambda t: self.records.delete(t, ctx, ref, if_match=if_match))
            return ApiResult(204)
        raise ApiError(405, "", f"The HTTP method '{method}' is not allowed on a record.")

    @staticmethod
    def _body(body: bytes, entity_set: str) -> Any:
        try:
            document = json.loads(body or b"{}")
        except ValueError as error:
            raise payload_error(entity_set, f"The request body is not valid JSON: {error}.") from None
        if not isinstance(document, dict):
            raise payload_error(entity_set, "The request body must be a JSON object.")
        return document

    def _write(self, txn: Txn | None, records: int, work: Callable[[Txn], Any]) -> Any:
        """Run a write in the change set's transaction, or in its own after paying its cost."""
        if txn is not None:
            return work(txn)
        self.protection.charge_records(records)
        with self.store.transaction() as own:
            return work(own)

    # --- records ---------------------------------------------------------------------------------------
    def _select(self, table: Table, query: Mapping[str, str]) -> list[str] | None:
        return parse_select(
            query.get("$select"), lambda name: self._check_property(table, name, navigation=False)
        )

    def _check_property(self, table: Table, name: str, *, navigation: bool = True) -> None:
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

    def _shape(
        self, table: Table, row: Row, select: list[str] | None, prefer: Mapping[str, str]
    ) -> dict[str, Any]:
        return self.records.view(table, row, annotations=included_annotations(prefer), select=select)

    def _create(
        self,
        table: Table,
        body: Any,
        query: Mapping[str, str],
        prefer: Mapping[str, str],
        ctx: Context,
        txn: Txn | None,
    ) -> ApiResult:
        select = self._select(table, query)
        row = self._write(txn, 1, lambda t: self.records.create(t, ctx, table, body))
        location = self.records.entity_url(ctx, table, row.id)
        ctx.content_ids["__last__"] = location
        if prefer.get("return") == "representation":
            document = {
                "@odata.context": f"{ctx.service_root}$metadata#{table.entity_set}/$entity",
                **self._shape(table, row, select, prefer),
            }
            return ApiResult.json(
                201,
                document,
                {**applied_preferences(prefer, ["return=representation"]), "ETag": etag(row.version)},
            )
        return ApiResult(204, {"OData-EntityId": location, "Location": location})

    def _patch(
        self,
        ref: KeyRef,
        body: Any,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        prefer: Mapping[str, str],
        ctx: Context,
        txn: Txn | None,
    ) -> ApiResult:
        select = self._select(ref.table, query)
        if_none_match = headers.get("if-none-match")
        if if_none_match is not None and if_none_match.strip().lower() == "null":
            if_none_match = None  # the recommended cache-busting header, not a condition
        row, created = self._write(
            txn,
            1,
            lambda t: self.records.upsert(
                t, ctx, ref, body, if_match=headers.get("if-match"), if_none_match=if_none_match
            ),
        )
        if ref.record_id:
            location = self.records.entity_url(ctx, ref.table, row.id)
        else:
            keys = ",".join(
                f"{a}={json.dumps(v) if not isinstance(v, str) else repr_key(v)}" for a, v in ref.values
            )
            location = f"{ctx.service_root}{ref.table.entity_set}({keys})"
        ctx.content_ids["__last__"] = self.records.entity_url(ctx, ref.table, row.id)
        if prefer.get("return") == "representation":
            document = {
                "@odata.context": f"{ctx.service_root}$metadata#{ref.table.entity_set}/$entity",
                **self._shape(ref.table, row, select, prefer),
            }
            return ApiResult.json(
                201 if created else 200,
                document,
                {**applied_preferences(prefer, ["return=representation"]), "ETag": etag(row.version)},
            )
        return ApiResult(204, {"OData-EntityId": location})

    def _retrieve(
        self, ref: KeyRef, query: Mapping[str, str], prefer: Mapping[str, str], ctx: Context
    ) -> ApiResult:
        select = self._select(ref.table, query)
        with self.store.reading() as txn:
            row = self.records.find(txn, ref)
        if row is None:
            raise self.records.not_found(ref)
        document = {
            "@odata.context": f"{ctx.service_root}$metadata#{ref.table.entity_set}/$entity",
            **self._shape(ref.table, row, select, prefer),
        }
        return ApiResult.json(200, document, {"ETag": etag(row.version), **applied_preferences(prefer)})

    def _collection(
        self,
        table: Table,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        prefer: Mapping[str, str],
        ctx: Context,
        target: str,
    ) -> ApiResult:
        check_query_options(query, {"$select", "$filter", "$top", "$count", "$orderby", "$skiptoken"})
        select = self._select(table, query)
        order = parse_orderby(
            query.get("$orderby"), lambda n: self._check_property(table, n, navigation=False)
        )
        top = parse_top(query.get("$top"))
        with self.store.reading() as txn:
            views = self._matching_rows(txn, table, query, with_views=bool(order))
        for name, descending in reversed(order):
            views.sort(key=partial(_order_key, name), reverse=descending)
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
        document["value"] = [self._shape(table, row, select, prefer) for row, _ in page]
        if top is None and start + page_size < len(views):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = f"o{start + page_size}"
            document["@odata.nextLink"] = f"{ctx.service_root}{table.entity_set}?{urlencode(rest)}"
        return ApiResult.json(200, document, applied)

    def _matching_rows(
        self, txn: Txn, table: Table, query: Mapping[str, str], *, with_views: bool = False
    ) -> list[tuple[Row, dict[str, Any] | None]]:
        """The rows `$filter` keeps (all without one), each with its whole view when `with_views` or the
        filter needed it."""
        aliases = {k: v for k, v in query.items() if k.startswith("@")}
        node = (
            parse_filter(
                query["$filter"],
                aliases,
                lambda n: self._check_property(table, n),
                lambda n: self._property_type(table, n),
            )
            if query.get("$filter")
            else None
        )
        # a filter on record ids is answered from the primary key (as the service's index does), not a
        # scan of the table; the filter is still evaluated on those rows below, so the answer is the same
        ids = _primary_key_ids(node, table.primary_key) if node is not None else None
        indexed = _indexed_lookup(node, table) if node is not None and ids is None else None
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
        views: list[tuple[Row, dict[str, Any] | None]]
        if (node is not None and ids is None) or with_views:
            views = [(row, self.records.view(table, row)) for row in rows]
        else:
            views = [(row, None) for row in rows]
        if node is not None and ids is None:
            views = [
                (row, view)
                for row, view in views
                if evaluate(node, partial(self._value, txn, table, view or {}))
            ]
        return views

    def _property_type(self, table: Table, path: str) -> str | None:
        """The Edm type of a `$filter` property where the operand check needs it (GUIDs and text)."""
        if "/" in path:
            nav_name, _, path = path.partition("/")
            table = self.schema.tables[table.navigations[nav_name].target]
        if path == table.primary_key or (path.startswith("_") and path.endswith("_value")):
            return "Edm.Guid"
        column = table.columns.get(path)
        return "Edm.String" if column is not None and column.type in ("string", "memo") else None

    def _value(self, txn: Txn, table: Table, view: Mapping[str, Any], path: str) -> Any:
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

    def _bulk(self, table: Table, message: str, body: Any, ctx: Context, txn: Txn | None) -> ApiResult:
        targets = body.get("Targets") if isinstance(body, dict) else None
        count = len(targets) if isinstance(targets, list) else 0
        if message == "CreateMultiple":
            ids = self._write(txn, count, lambda t: self.records.create_multiple(t, ctx, table, body))
            return ApiResult.json(
                200,
                {
                    "@odata.context": f"{ctx.service_root}$metadata#"
                    "Microsoft.Dynamics.CRM.CreateMultipleResponse",
                    "Ids": ids,
                },
            )
        if message == "UpdateMultiple":
            self._write(txn, count, lambda t: self.records.update_multiple(t, ctx, table, body))
        else:
            self._write(txn, count, lambda t: self.records.upsert_multiple(t, ctx, table, body))
        return ApiResult(204)

    # --- metadata and functions ------------------------------------------------------------------------
    def _who_am_i(self, ctx: Context) -> ApiResult:
        return ApiResult.json(
            200,
            {
                "@odata.context": f"{ctx.service_root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                "BusinessUnitId": metadata.metadata_id("businessunit"),
                "UserId": metadata.metadata_id("systemuser", ctx.client_id),
                "OrganizationId": self.store.organization_id,  # each environment's own (see Store)
            },
        )

    def _definition_table(self, logical_name: str | None, metadata_id: str | None) -> Table:
        """The table an `EntityDefinitions(LogicalName='x')` or `EntityDefinitions(<MetadataId>)` names."""
        for table in self.schema.tables.values():
            if table.logical_name == logical_name or (
                metadata_id and metadata.entity_definition(table)["MetadataId"] == metadata_id.lower()
            ):
                return table
        named = f"the logical name '{logical_name}'" if logical_name else f"the MetadataId '{metadata_id}'"
        raise ApiError(404, "0x80040217", f"Could not find an entity with {named}.")

    def _definition_expansions(self, query: Mapping[str, str]) -> dict[str, dict[str, str]]:
        expand = dict(parse_expand(query.get("$expand")))
        for name, options in expand.items():
            if name not in DEFINITION_COLLECTIONS:
                raise query_error(f"Could not find a property named '{name}' on type EntityMetadata.")
            check_query_options(options, METADATA_OPTIONS)
        return expand

    def _extra_keys(self, table: Table, ctx: Context) -> list[tuple[str, tuple[str, ...]]]:
        return [
            (k.name, k.attributes) for k in self.records.keys_of(table, ctx.options) if k not in table.keys
        ]

    def _expanded(
        self, document: dict[str, Any], table: Table, expand: Mapping[str, Mapping[str, str]], ctx: Context
    ) -> dict[str, Any]:
        for name, options in expand.items():
            rows = metadata.collection(name, table, self.schema, self._extra_keys(table, ctx)) or []
            document[name] = _filtered(f"{table.logical_name}/{name}", rows, options, keep=("MetadataId",))
        return document

    def _definition(
        self, table: Table, part: str | None, query: Mapping[str, str], ctx: Context
    ) -> ApiResult:
        context = f"{ctx.service_root}$metadata#EntityDefinitions('{table.logical_name}')"
        if part is None:
            check_query_options(query, {"$select", "$expand"})
            expand = self._definition_expansions(query)
            document = _filtered(
                "EntityDefinitions",
                [metadata.entity_definition(table)],
                {"$select": query.get("$select", "")},
                keep=("MetadataId",),
            )[0]
            document = self._expanded(document, table, expand, ctx)
            return ApiResult.json(200, {"@odata.context": f"{context}/$entity", **document})
        if part == f"Attributes/{PICKLIST_CAST}":
            # The documented cast (Microsoft's Python SDK reads choice labels this way): the choice columns
            # with their OptionSet. `$expand=OptionSet(...)` is always answered with the whole OptionSet.
            check_query_options(query, {"$select", "$expand"})
            select = [s for s in (query.get("$select") or "").split(",") if s]
            option_set = query.get("$expand") or ""
            if option_set and not option_set.startswith("OptionSet"):
                raise ApiError(
                    400, "0x80060888", f"Could not find a property named '{option_set}' to expand."
                )
            shaped = [
                {
                    "MetadataId": row["MetadataId"],
                    **{k: v for k, v in row.items() if not select or k in select},
                    **({"OptionSet": row["OptionSet"]} if option_set else {}),
                }
                for row in metadata.picklists(table)
            ]
            return ApiResult.json(
                200, {"@odata.context": f"{context}/Attributes/{PICKLIST_CAST}", "value": shaped}
            )
        attribute = ATTRIBUTE.match(part)
        if attribute:
            check_query_options(query, {"$select"})
            found = [a for a in metadata.attributes(table) if a["LogicalName"] == attribute.group(1)]
            if not found:
                raise ApiError(
                    404,
                    "0x80040217",
                    f"Could not find an attribute '{attribute.group(1)}' on {table.logical_name}.",
                )
            document = _filtered(part, found, query, keep=("MetadataId",))[0]
            return ApiResult.json(200, {"@odata.context": f"{context}/{part}/$entity", **document})
        rows = metadata.collection(part, table, self.schema, self._extra_keys(table, ctx))
        if rows is None:
            raise resource_not_found(part.split("/")[0])
        check_query_options(query, METADATA_OPTIONS)
        return self._virtual_collection(
            f"EntityDefinitions('{table.logical_name}')/{part}", rows, query, ctx, keep=("MetadataId",)
        )

    def _virtual_collection(
        self,
        name: str,
        rows: list[dict[str, Any]],
        query: Mapping[str, str],
        ctx: Context,
        keep: tuple[str, ...] = (),
    ) -> ApiResult:
        shaped = _filtered(name, rows, query, keep)
        return ApiResult.json(200, {"@odata.context": f"{ctx.service_root}$metadata#{name}", "value": shaped})

    # --- $batch ----------------------------------------------------------------------------------------
    def _batch(self, headers: Mapping[str, str], body: bytes, ctx: Context) -> ApiResult:
        items = parse_batch(headers.get("content-type", ""), body)
        continue_on_error = "odata.continue-on-error" in parse_prefer(headers.get("prefer"))
        writes = sum(len(i.requests) if isinstance(i, ChangeSet) else int(i.method != "GET") for i in items)
        self.protection.charge_records(writes)
        responses: list[PartResponse | list[PartResponse]] = []
        failed = False
        # Consecutive writes outside change sets share one transaction, each in its own savepoint: each
        # still succeeds or fails alone, and a batch of 100 PATCHes commits once instead of 100 times. The
        # group is committed before a GET or a change set, so they see what the parts before them wrote.
        with contextlib.ExitStack() as group:
            txn: Txn | None = None
            for item in items:
                if isinstance(item, ChangeSet) or item.method == "GET":
                    group.close()
                    txn = None
                if isinstance(item, ChangeSet):
                    answer = self._change_set(item, ctx)
                elif item.method == "GET":
                    target = self._batch_target(item.url, ctx)
                    answer = _part(self._execute("GET", target, item.headers, item.body, ctx, None), None)
                else:
                    if txn is None:
                        txn = group.enter_context(self.store.transaction())
                    answer = _part(self._single_write(item, ctx, txn), None)
                responses.append(answer)
                error = answer.status >= 400 if isinstance(answer, PartResponse) else False
                if error and not continue_on_error:
                    failed = True
                    break
        content_type, payload = render_batch(responses)
        return ApiResult(400 if failed else 200, {"Content-Type": content_type}, payload)

    def _single_write(self, item: BatchRequest, ctx: Context, txn: Txn) -> ApiResult:
        # The batch already paid the cost of its writes; this one succeeds or fails alone.
        try:
            with txn.savepoint():
                return self._dispatch(
                    item.method, self._batch_target(item.url, ctx), item.headers, item.body, ctx, txn
                )
        except ApiError as error:
            return ApiResult.error(error)

    def _change_set(self, change_set: ChangeSet, ctx: Context) -> PartResponse | list[PartResponse]:
        answers: list[PartResponse] = []
        current: BatchRequest | None = None
        try:
            with self.store.transaction() as txn:
                for request in change_set.requests:
                    current = request
                    body = request.body
                    if request.content_id is not None or b'"$' in body:
                        body = self._resolve_content_ids(body, ctx)
                    result = self._dispatch(
                        request.method, self._batch_target(request.url, ctx), request.headers, body, ctx, txn
                    )
                    if request.content_id is not None and "__last__" in ctx.content_ids:
                        ctx.content_ids[f"${request.content_id}"] = ctx.content_ids["__last__"]
                    answers.append(_part(result, request.content_id))
        except ApiError as error:
            # The whole change set rolled back: only the failing request's answer is returned.
            return _part(ApiResult.error(error), current.content_id if current else None)
        return answers

    def _resolve_content_ids(self, body: bytes, ctx: Context) -> bytes:
        def replace(match: re.Match[bytes]) -> bytes:
            reference = match.group(1).decode()
            if reference not in ctx.content_ids:
                raise ApiError(
                    400, "0x0", f"Content-ID Reference: '{reference}' does not exist in the batch context."
                )
            return b'"' + ctx.content_ids[reference].encode() + b'"'

        return re.sub(rb'"(\$\d+)"', replace, body)

    def _batch_target(self, url: str, ctx: Context) -> str:
        if "/api/data/v9.2/" in url:
            url = url.split("/api/data/v9.2/", 1)[1]
        url = url.lstrip("/")
        match = re.match(r"^(\$\d+)(.*)$", url)
        if match:
            reference = match.group(1)
            if reference not in ctx.content_ids:
                raise ApiError(
                    400, "0x0", f"Content-ID Reference: '{reference}' does not exist in the batch context."
                )
            url = ctx.content_ids[reference].split(API_PREFIX, 1)[1] + match.group(2)
        return url


def _filtered(
    name: str, rows: list[dict[str, Any]], options: Mapping[str, str], keep: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Metadata rows after `$filter` and `$select` (the `keep` properties stay, as MetadataId does)."""
    known = {key for row in rows for key in row}

    def check(prop: str) -> None:
        # an empty collection (a table without keys) has no row to name its properties: none is refused
        if rows and prop not in known:
            raise ApiError(400, "0x0", f"Could not find a property named '{prop}' on {name}.")

    if options.get("$filter"):
        aliases = {k: v for k, v in options.items() if k.startswith("@")}
        node = parse_filter(options["$filter"], aliases, check)
        rows = [row for row in rows if evaluate(node, row.get)]
    select = parse_select(options.get("$select"), check)
    if select:
        rows = [{k: v for k, v in row.items() if k in select or k in keep} for row in rows]
    return rows


def _primary_key_ids(node: Node, primary_key: str) -> list[str] | None:
    """The ids of `<primary key> eq <id> [or ...]` (or `in (...)`); None for any other filter."""
    if isinstance(node, Compare) and node.op == "eq" and node.left.path == primary_key:
        return [str(node.right.value).lower()]
    if isinstance(node, InList) and node.prop.path == primary_key:
        return [str(value).lower() for value in node.values]
    if isinstance(node, BoolOp) and node.op == "or":
        left = _primary_key_ids(node.left, primary_key)
        right = _primary_key_ids(node.right, primary_key) if left is not None else None
        return None if left is None or right is None else left + right
    return None


# more values than this are looked up by a scan: SQLite's limit on a statement's parameters is far above it
MOST_INDEXED_VALUES = 1000


def _indexed_lookup(node: Node, table: Table) -> tuple[str, frozenset[str]] | None:
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


def repr_key(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _order_key(name: str, item: tuple[Row, dict[str, Any] | None]) -> tuple[bool, Any]:
    value = (item[1] or {}).get(name)
    return (value is None, _sort_key(value))


def _sort_key(value: Any) -> Any:
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value)
    return (2, "")


def _part(result: ApiResult, content_id: str | None) -> PartResponse:
    headers = {"OData-Version": "4.0", "REQ_ID": str(uuid.uuid4()), **result.headers}
    return PartResponse(result.status, headers, result.body, content_id)
