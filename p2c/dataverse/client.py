"""`DataverseClient`: the one object the uploader talks to.

    client = DataverseClient.from_environment("https://contoso.crm4.dynamics.com")
    company = client.references.require("cdm_companies", {"cdm_companycode": "USMF"}, "cdm_companyid")
    nav = client.metadata.navigation_property("account", "msdyn_company")
    results = client.update_many("account", [UpdateRow(account_id, {**bind(nav, "cdm_companies", company)})])

Writes are updates of existing records by record id only (`update`, `update_many`); the client has no way
to create a record or upsert by alternate key. Reads (`get`, `query`, `get_many`, `resolve_id`, `whoami`)
and metadata are there to find ids and check results. Every user signs in before the first request; how
requests are admitted, retried and throttled: docs/requests.md."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO
from urllib.parse import urlparse

import requests

from p2c.dataverse.auth import MsalTokenProvider, TokenProvider
from p2c.dataverse.bulk import BulkWriter
from p2c.dataverse.credentials import client_id_variable, credentials_from_env, device_code_credential
from p2c.dataverse.errors import (
    AuthenticationError,
    DataverseError,
    DataverseTerminalError,
    EnvironmentUnreachable,
)
from p2c.dataverse.events import ClientEvents
from p2c.dataverse.http import BASE_HEADERS, DROPPED, Exchange, UserChannel
from p2c.dataverse.metadata import MetadataCache
from p2c.dataverse.odata import (
    equals_filter,
    guid,
    ids_filter,
    key_segment,
    query_string,
    record_path,
    to_json,
)
from p2c.dataverse.options import BulkMode, ClientOptions
from p2c.dataverse.outage import OutageMonitor, failure_reason
from p2c.dataverse.pool import UserPool
from p2c.dataverse.references import ReferenceResolver
from p2c.dataverse.results import (
    EntityInfo,
    Record,
    Resolution,
    ResolutionStatus,
    RowResult,
    UpdateRow,
    WhoAmI,
)
from p2c.dataverse.throttle import Backoff, HoldClock
from p2c.errors import P2CError, UsageError

ENVIRONMENT_URL_VARIABLE = "P2C_DATAVERSE_URL"
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def normalize_environment_url(url: str, *, allow_loopback_http: bool = False) -> str:
    """`https://org.crm.dynamics.com` (no trailing slash). Plain http only when asked, on loopback (a test
    server with static tokens): a user's URL is https, as Dataverse and `p2c emulator` are."""
    parsed = urlparse(url.strip())
    if not parsed.scheme or not parsed.hostname:
        raise UsageError(f"{url!r} is not an environment URL", hint="e.g. https://contoso.crm4.dynamics.com")
    loopback_http = allow_loopback_http and parsed.scheme == "http" and parsed.hostname in _LOOPBACK
    if parsed.scheme != "https" and not loopback_http:
        raise UsageError(
            f"{url!r}: Dataverse is reached over https only, and tokens are never sent in plain text",
            hint="write the environment URL with https:// (p2c emulator serves https too)",
        )
    if parsed.path not in ("", "/") or parsed.query:
        raise UsageError(
            f"{url!r}: give the environment URL alone, without a path",
            hint="e.g. https://contoso.crm4.dynamics.com, not …/api/data/v9.2",
        )
    return f"{parsed.scheme}://{parsed.netloc}"


class DataverseClient:
    # told of each answered write, hold, retry and outage (a progress display sets its own)

    def __init__(
        self,
        environment_url: str,
        users: Sequence[TokenProvider],
        options: ClientOptions | None = None,
    ) -> None:
        self.environment_url = normalize_environment_url(environment_url, allow_loopback_http=True)
        self.options = options or ClientOptions()
        if len({u.label for u in users}) != len(users):
            raise UsageError("every Dataverse user needs its own label")
        self._backoff = Backoff(self.options.backoff_base_s, self.options.backoff_cap_s)
        # one outage and one hold clock for all users: the service is down (or holding) for all of them
        self.outage = OutageMonitor(self.environment_url, self.options.outage_budget_s, self._backoff)
        self.hold_clock = HoldClock()
        self.pool = UserPool(
            [
                UserChannel(
                    self.environment_url,
                    user,
                    self.options,
                    on_limit_change=self._limits_changed,
                    monitor=self.outage,
                    clock=self.hold_clock,
                )
                for user in users
            ]
        )
        self._signed_in = False
        self._sign_in_error: P2CError | None = None
        self._sign_in_lock = threading.Lock()
        self.metadata = MetadataCache(self)
        self.references = ReferenceResolver(self)
        self._writer = BulkWriter(self)

    @classmethod
    def from_environment(
        cls,
        environment_url: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        options: ClientOptions | None = None,
        device_code: bool = False,
        prompt: TextIO | None = None,
    ) -> DataverseClient:
        """A client for the users the environment configures (`credentials.py`), or one person by device code.

        The environment URL is the argument, else `P2C_DATAVERSE_URL`."""
        env = os.environ if env is None else env
        url = environment_url or env.get(ENVIRONMENT_URL_VARIABLE, "")
        if not url:
            raise UsageError(f"no Dataverse environment URL: pass it or set {ENVIRONMENT_URL_VARIABLE}")
        url = normalize_environment_url(url)
        options = options or ClientOptions()
        credentials = [device_code_credential(env)] if device_code else credentials_from_env(env)
        timeout = (options.connect_timeout_s, min(options.read_timeout_s, 60.0))
        providers: list[TokenProvider] = [
            MsalTokenProvider(c, url, timeout=timeout, prompt=prompt or sys.stderr) for c in credentials
        ]
        return cls(url, providers, options)

    def __repr__(self) -> str:
        return f"DataverseClient({self.environment_url!r}, users={[c.label for c in self.pool.channels]})"

    def __enter__(self) -> DataverseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()

    @property
    def events(self) -> ClientEvents:
        """Who hears about answers, throttling, retries and outages (a progress display); says nothing."""
        return self.outage.events

    @events.setter
    def events(self, events: ClientEvents) -> None:
        self.outage.events = events

    def throttled_clock_s(self) -> float:
        """Seconds on the clock during which at least one request was held by service protection."""
        return self.hold_clock.clock_s()

    def throttled_request_seconds(self) -> float:
        """The held seconds of every request added up (parallel waits overlap: many times the clock time)."""
        return self.hold_clock.request_s()

    # -- signing in --------------------------------------------------------------------------------

    def sign_in(self) -> None:
        """Reach the environment, then sign every application user in (a token and one WhoAmI each, in
        parallel), once: a wrong secret of the last user stops the run before the first user writes.
        Called before the first request of any kind; callers may call it first thing. A failure is raised
        again on every later call (a credential does not mend itself mid-run)."""
        if self._signed_in:
            return
        with self._sign_in_lock:
            if self._signed_in:
                return
            if self._sign_in_error is not None:
                raise self._sign_in_error
            try:
                self._reach_environment()
                with ThreadPoolExecutor(len(self.pool.channels), thread_name_prefix="sign-in") as executor:
                    failures = [f for f in executor.map(self._sign_in_user, self.pool.channels) if f]
                if failures:
                    raise _combined(failures)
            except P2CError as error:
                self._sign_in_error = error
                raise
            self._signed_in = True

    def _reach_environment(self) -> None:
        """One unauthenticated request: any HTTP answer (a 401) proves the URL leads to a web server, so a
        wrong URL or port is reported as such and never as a refused credential."""
        channel = self.pool.channels[0]
        url = self.environment_url
        for attempt in range(1, self.options.max_attempts + 1):
            try:
                channel.session.request("GET", channel.api_root, headers=BASE_HEADERS).close()
                return
            except requests.exceptions.SSLError as exc:
                trust = "certificate" in str(exc).lower() or "hostname" in str(exc).lower()
                raise EnvironmentUnreachable(
                    url,
                    "its TLS certificate is not trusted"
                    if trust
                    else "the TLS handshake failed (is an https server listening on that port?)",
                    hint="a private CA's certificate goes in REQUESTS_CA_BUNDLE" if trust else None,
                ) from None
            except DROPPED as exc:
                reason = failure_reason(exc)
                if "resolve" in reason or attempt == self.options.max_attempts:
                    raise EnvironmentUnreachable(url, reason) from None
                time.sleep(self._backoff.delay(attempt))

    def _sign_in_user(self, channel: UserChannel) -> P2CError | None:
        """A token and one WhoAmI (which also brings this user's `x-ms-dop-hint`); the failure, named by
        the user's environment variable, or None."""
        variable = client_id_variable(channel.label)
        try:
            channel.send("GET", "WhoAmI", headers={"If-None-Match": "null"}, what="WhoAmI")
        except AuthenticationError as exc:
            if exc.status != 401:  # the token service refused the credential
                message = exc.message.removeprefix(channel.label + ": ")
                return AuthenticationError(f"{variable}: {message}", hint=exc.hint)
            return AuthenticationError(
                f"{variable}: Dataverse refused its token (HTTP 401)"
                + (f": {exc.service_message}" if exc.service_message else ""),
                status=401,
                stats=exc.stats,
                hint="check that this application user exists in the environment and is enabled",
            )
        except DataverseError as exc:
            return type(exc)(f"{variable}: {exc.message}", status=exc.status, stats=exc.stats, hint=exc.hint)
        return None

    # -- plumbing --------------------------------------------------------------------------------

    def _limits_changed(self) -> None:
        # called by a channel when x-ms-dop-hint changes its limit; the pool may be mid-construction
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.notify()

    def secrets(self) -> list[str]:
        """Every secret value the client holds (client secrets, passwords, tokens), for masking output."""
        return [s for c in self.pool.channels for s in c.tokens.secrets()]

    def mask(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        what: str = "",
        records: int = 1,
        users: frozenset[str] | None = None,
    ) -> Exchange:
        """One request (with retries) through whichever user has capacity (of `users`, when given);
        `records` it writes."""
        self.sign_in()
        if json_body is not None:
            body = to_json(json_body)
        with self.pool.channel(read=method == "GET", users=users) as channel:
            return channel.send(method, path, body=body, headers=headers, what=what, records=records)

    def send_write(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        what: str = "",
        records: int = 1,
        users: frozenset[str] | None = None,
    ) -> Exchange:
        """For `bulk.py` only: the three update shapes (PATCH by id, UpdateMultiple, $batch of PATCHes).

        Anything else is refused here, so no code path, however wired, can POST a record or upsert."""
        if self.options.read_only:
            raise DataverseTerminalError(f"refused: {method} {path}: a read-only client (plan or dry run)")
        allowed = (
            (method == "PATCH" and headers is not None and headers.get("If-Match", "") not in ("", "null"))
            or (method == "POST" and path == "$batch")
            or (method == "POST" and path.endswith("/Microsoft.Dynamics.CRM.UpdateMultiple"))
        )
        if not allowed:
            raise DataverseTerminalError(f"refused: {method} {path} is not an update by record id")
        return self._request(
            method, path, json_body=json_body, body=body, headers=headers, what=what, records=records,
            users=users,
        )  # fmt: skip

    def get_json(
        self, path: str, *, headers: Mapping[str, str] | None = None, what: str = ""
    ) -> dict[str, Any]:
        read_headers = {
            "If-None-Match": "null",
            **(headers or {}),
        }  # as Microsoft recommends: no cached reads
        exchange = self._request("GET", path, headers=read_headers, what=what)
        if not exchange.response.content:
            return {}
        data: Any = exchange.response.json()
        if not isinstance(data, dict):
            raise DataverseTerminalError(f"{what or path}: expected a JSON object")
        return data

    def iter_pages(
        self, path: str, *, page_size: int | None = None, what: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following `@odata.nextLink` (with the same `Prefer` on each page)."""
        headers = {"Prefer": f"odata.maxpagesize={page_size or self.options.page_size}"}
        next_path: str | None = path
        while next_path:
            data = self.get_json(next_path, headers=headers, what=what)
            yield from data.get("value", [])
            link = data.get("@odata.nextLink")
            next_path = str(link) if link else None

    def hold_user(self, label: str, seconds: float) -> None:
        """Hold back one user (a 429 inside a $batch answer names the wait for that user only)."""
        for channel in self.pool.channels:
            if channel.label == label:
                channel.throttle.hold_for(seconds)
                self.events.throttled(label, seconds)

    def learn_parallelism(self) -> dict[str, int]:
        """Ask each user whose `x-ms-dop-hint` is unknown (`WhoAmI`); the limit each user now runs at."""
        self.sign_in()  # which learns it for every user
        for channel in self.pool.channels:
            if channel.throttle.dop_hint is None:
                channel.send("GET", "WhoAmI", headers={"If-None-Match": "null"}, what="WhoAmI")
        self.pool.notify()
        return {c.label: c.throttle.limit for c in self.pool.channels}

    # -- reads --------------------------------------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        self.sign_in()
        with self.pool.channel() as channel:
            exchange = channel.send("GET", "WhoAmI", headers={"If-None-Match": "null"}, what="WhoAmI")
        data = exchange.response.json()
        return WhoAmI(
            str(data.get("UserId", "")),
            str(data.get("BusinessUnitId", "")),
            str(data.get("OrganizationId", "")),
            user=exchange.stats.user,
        )

    def get(self, entity_set: str, record_id: str | uuid.UUID, select: Sequence[str] = ()) -> Record | None:
        """One record by id with the chosen columns and its ETag; None if there is no such record."""
        path = record_path(entity_set, record_id)
        if select:
            path += "?" + query_string({"$select": ",".join(select)})
        try:
            data = self.get_json(path, what=f"GET {entity_set}({record_id})")
        except DataverseError as exc:
            if exc.status == 404:
                return None
            raise
        return Record(guid(record_id), data, _etag(data))

    def query(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: Sequence[str] = (),
        orderby: str | None = None,
        top: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Rows of a `$filter` query, page by page (`Prefer: odata.maxpagesize`, `@odata.nextLink`)."""
        params = {
            "$select": ",".join(select) or None,
            "$filter": filter,
            "$orderby": orderby,
            "$top": top,
        }
        qs = query_string(params)
        return self.iter_pages(
            f"{entity_set}?{qs}" if qs else entity_set, page_size=page_size, what=f"query {entity_set}"
        )

    def get_many(
        self,
        entity_set: str,
        id_column: str,
        ids: Iterable[str | uuid.UUID],
        select: Sequence[str] = (),
    ) -> dict[str, dict[str, Any]]:
        """The records with these ids (missing ones are absent), `ids_per_query` ids per request."""
        unique = sorted({guid(i) for i in ids})
        columns = list(dict.fromkeys([id_column, *select]))
        found: dict[str, dict[str, Any]] = {}
        step = self.options.ids_per_query
        for start in range(0, len(unique), step):
            for row in self.query(
                entity_set, filter=ids_filter(id_column, unique[start : start + step]), select=columns
            ):
                found[str(row[id_column]).lower()] = row
        return found

    def resolve_id(self, entity_set: str, match: Mapping[str, Any], id_column: str) -> Resolution:
        """Which record has these column values: exactly one id, none, or several (always by `$filter`)."""
        rows = list(self.query(entity_set, filter=equals_filter(match), select=[id_column], top=2))
        ids = tuple(str(r[id_column]) for r in rows)
        if not ids:
            return Resolution(ResolutionStatus.NONE)
        if len(ids) > 1:
            return Resolution(ResolutionStatus.SEVERAL, candidates=ids)
        return Resolution(ResolutionStatus.FOUND, record_id=ids[0], candidates=ids)

    def get_by_key(
        self, entity_set: str, key: Mapping[str, Any], id_column: str, select: Sequence[str] = ()
    ) -> Record | None:
        """A record by its alternate key: a key URL when the values allow one, else a `$filter` query."""
        segment = key_segment(key)
        columns = list(dict.fromkeys([id_column, *select]))
        if segment is not None:
            path = f"{entity_set}({segment})?" + query_string({"$select": ",".join(columns)})
            try:
                data = self.get_json(path, what=f"GET {entity_set} by key")
            except DataverseError as exc:
                if exc.status == 404:
                    return None
                raise
            return Record(str(data[id_column]), data, _etag(data))
        rows = list(self.query(entity_set, filter=equals_filter(key), select=columns, top=2))
        if len(rows) > 1:
            raise DataverseTerminalError(f"{entity_set}: the key values match {len(rows)} records")
        return Record(str(rows[0][id_column]), rows[0], _etag(rows[0])) if rows else None

    # -- writes: updates by record id, never creates --------------------------------------------------

    def update(
        self,
        entity_set: str,
        record_id: str | uuid.UUID,
        values: Mapping[str, Any],
        *,
        if_match: str = "*",
    ) -> RowResult:
        """`PATCH <entity set>(<id>)` with `If-Match` (`*`: the record must exist; or an ETag)."""
        self.sign_in()  # a sign-in failure stops the caller; it is not this row's failure
        return self._writer.update_one(entity_set, UpdateRow(str(record_id), dict(values), if_match))

    def update_many(
        self, table: str | EntityInfo, rows: Sequence[UpdateRow], *, mode: BulkMode | None = None
    ) -> list[RowResult]:
        """Update existing records of one table (logical name, e.g. "account"); a result per row, in order.
        Raises `ServiceUnreachable` (not a result per row) when the service stays away past the budget."""
        self.sign_in()
        entity = table if isinstance(table, EntityInfo) else self.metadata.entity(table)
        return self._writer.update_many(entity, rows, mode or self.options.bulk_mode)


def _combined(failures: list[P2CError]) -> P2CError:
    """One error for the users that could not sign in (each named by its variable), of the first's kind."""
    if len(failures) == 1:
        return failures[0]
    first = failures[0]
    return type(first)("; ".join(f.message for f in failures), hint=first.hint)


def _etag(data: Mapping[str, Any]) -> str | None:
    value = data.get("@odata.etag")
    return str(value) if value else None
