"""The WSGI application: the token service's endpoints, then the Web API at `/api/data/v9.2/`.

Order for every API request, as the service behaves: bearer token (401) -> injected fault decided (429/503
before any work, or a dropped connection) -> service protection admission (429) -> the route table
(`routes.py`; cost_ms per written record is slept before the write transaction) -> response headers
(`x-ms-dop-hint`, OData-Version). This module does only that: what each resource answers is in
`handlers/`, which handler answers which URL in `routes.py`, how queries are evaluated in `record_query.py`
and `odata_query.py`."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from p2c.emulator.api_errors import ApiError
from p2c.emulator.api_result import ApiResult
from p2c.emulator.auth import TokenService
from p2c.emulator.faults import FaultInjector
from p2c.emulator.handlers.call import Service
from p2c.emulator.handlers.token_service import token_service_answer
from p2c.emulator.limits import ServiceProtection
from p2c.emulator.record_query import RecordQuery
from p2c.emulator.record_state import RecordStateRules
from p2c.emulator.records import Context, Records
from p2c.emulator.routes import execute
from p2c.emulator.schema import Schema
from p2c.emulator.store import Store

API_PREFIX = "/api/data/v9.2/"


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
        self.service = Service(
            store=store,
            schema=schema,
            records=self.records,
            queries=RecordQuery(schema, self.records),
            record_state=self.record_state,
            protection=protection,
        )

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
        answer = token_service_answer(self.tokens, request)
        if answer is not None:
            return self._json(answer.status, answer.document, answer.headers)
        return self._json(404, {"error": {"code": "", "message": f"No resource at {path}."}})

    @staticmethod
    def _json(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Response:
        return Response(
            json.dumps(document), status=status, headers=dict(headers or {}), content_type="application/json"
        )

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
            result = execute(
                self.service,
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
