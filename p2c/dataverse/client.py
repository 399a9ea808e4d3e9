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
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO
from urllib.parse import urlparse

from p2c.dataverse.auth import MsalTokenProvider, TokenProvider
from p2c.dataverse.bulk import BulkWriter
from p2c.dataverse.credentials import credentials_from_env, device_code_credential
from p2c.dataverse.errors import DataverseError, DataverseTerminalError
from p2c.dataverse.events import ClientEvents
from p2c.dataverse.metadata import MetadataCache
from p2c.dataverse.odata import (
    collection_path,
    equals_filter,
    guid,
    ids_filter,
    key_segment,
    query_string,
    record_path,
)
from p2c.dataverse.options import BulkMode, ClientOptions
from p2c.dataverse.pool import UserPool
from p2c.dataverse.references import ReferenceResolver, resolve_id
from p2c.dataverse.results import EntityInfo, Record, Resolution, RowResult, UpdateRow, WhoAmI
from p2c.dataverse.transport import Transport
from p2c.errors import UsageError

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
    """A facade over the `Transport` (which sends) and the helpers built on it: `metadata`, `references`
    and the bulk writer each send through the transport, never back through this client."""

    def __init__(
        self,
        environment_url: str,
        users: Sequence[TokenProvider],
        options: ClientOptions | None = None,
    ) -> None:
        self.environment_url = normalize_environment_url(environment_url, allow_loopback_http=True)
        self.options = options or ClientOptions()
        self.transport = Transport(self.environment_url, users, self.options)
        self.metadata = MetadataCache(self.transport)
        self.references = ReferenceResolver(self.transport)
        self._writer = BulkWriter(self.transport, self.metadata)

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
        self.transport.close()

    @property
    def pool(self) -> UserPool:
        """The application users and their throttles (`transport.pool`)."""
        return self.transport.pool

    @property
    def events(self) -> ClientEvents:
        """Who hears about answers, throttling, retries and outages (a progress display); says nothing."""
        return self.transport.events

    @events.setter
    def events(self, events: ClientEvents) -> None:
        self.transport.events = events

    def throttled_clock_s(self) -> float:
        """Seconds on the clock during which at least one request was held by service protection."""
        return self.transport.hold_clock.clock_s()

    def throttled_request_seconds(self) -> float:
        """The held seconds of every request added up (parallel waits overlap: many times the clock time)."""
        return self.transport.hold_clock.request_s()

    def secrets(self) -> list[str]:
        """Every secret value the client holds (client secrets, passwords, tokens), for masking output."""
        return self.transport.secrets()

    def mask(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text

    # -- signing in --------------------------------------------------------------------------------

    def sign_in(self) -> None:
        """Reach the environment, then sign every application user in (a token and one WhoAmI each, in
        parallel), once: a wrong secret of the last user stops the run before the first user writes.
        Called before the first request of any kind; callers may call it first thing. A failure is raised
        again on every later call (a credential does not mend itself mid-run)."""
        self.transport.sign_in()

    def learn_parallelism(self) -> dict[str, int]:
        """Ask each user whose `x-ms-dop-hint` is unknown (`WhoAmI`); the limit each user now runs at."""
        return self.transport.learn_parallelism()

    # -- reads --------------------------------------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        exchange = self.transport.whoami()
        data = exchange.response.json()
        return WhoAmI(
            str(data.get("UserId", "")),
            str(data.get("BusinessUnitId", "")),
            str(data.get("OrganizationId", "")),
            user=exchange.stats.user,
        )

    def get_json(
        self, path: str, *, headers: Mapping[str, str] | None = None, what: str = ""
    ) -> dict[str, Any]:
        """One JSON object read from `path` (relative to the API root)."""
        return self.transport.get_json(path, headers=headers, what=what)

    def iter_pages(
        self, path: str, *, page_size: int | None = None, what: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following `@odata.nextLink`."""
        return self.transport.iter_pages(path, page_size=page_size, what=what)

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
        path = collection_path(entity_set, filter=filter, select=select, orderby=orderby, top=top)
        return self.transport.iter_pages(path, page_size=page_size, what=f"query {entity_set}")

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
        """Which record has these column values: exactly one id, none, or several (always by `$filter`).
        Asked every time: `references` keeps the answers."""
        return resolve_id(self.transport, entity_set, match, id_column)

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


def _etag(data: Mapping[str, Any]) -> str | None:
    value = data.get("@odata.etag")
    return str(value) if value else None
