"""`DataverseClient`: the one object the uploader talks to.

    client = DataverseClient.from_environment("https://contoso.crm4.dynamics.com")
    company = client.references.require("cdm_companies", {"cdm_companycode": "USMF"}, "cdm_companyid")
    nav = client.metadata.navigation_property("account", "msdyn_company")
    results = client.update_many("account", [UpdateRow(account_id, {**bind(nav, "cdm_companies", company)})])

Writes are updates of existing records by record id only (`update`, `update_many`); the client has no way
to create a record or upsert by alternate key. Reads (`get`, `query`, `get_many`, `resolve_id`, `whoami`)
and metadata are there to find ids and check results. Every request goes through a `UserPool` of one or
more application users (see `credentials.py` for configuring several), each with its own session, token,
parallelism and throttle state."""

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
from p2c.dataverse.events import NO_EVENTS, ClientEvents
from p2c.dataverse.http import Exchange, UserChannel
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
from p2c.errors import UsageError

ENVIRONMENT_URL_VARIABLE = "P2C_DATAVERSE_URL"
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def normalize_environment_url(url: str) -> str:
    """`https://org.crm.dynamics.com` (no trailing slash); plain http only for an emulator on loopback."""
    parsed = urlparse(url.strip())
    if not parsed.scheme or not parsed.hostname:
        raise UsageError(f"{url!r} is not an environment URL", hint="e.g. https://contoso.crm4.dynamics.com")
    if parsed.scheme != "https" and not (parsed.scheme == "http" and parsed.hostname in _LOOPBACK):
        raise UsageError(f"{url!r}: Dataverse is reached over https (plain http only on localhost)")
    if parsed.path not in ("", "/") or parsed.query:
        raise UsageError(
            f"{url!r}: give the environment URL alone, without a path",
            hint="e.g. https://contoso.crm4.dynamics.com, not …/api/data/v9.2",
        )
    return f"{parsed.scheme}://{parsed.netloc}"


class DataverseClient:
    # told of each answered write, hold, retry and outage (a progress display sets its own)
    events: ClientEvents = NO_EVENTS

    def __init__(
        self,
        environment_url: str,
        users: Sequence[TokenProvider],
        options: ClientOptions | None = None,
    ) -> None:
        self.environment_url = normalize_environment_url(environment_url)
        self.options = options or ClientOptions()
        if len({u.label for u in users}) != len(users):
            raise UsageError("every Dataverse user needs its own label")
        self.pool = UserPool(
            [
                UserChannel(self.environment_url, user, self.options, on_limit_change=self._limits_changed)
                for user in users
            ]
        )
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
    ) -> Exchange:
        """One request (with retries) through whichever user has capacity; `records` it writes."""
        if json_body is not None:
            body = to_json(json_body)
        with self.pool.channel(read=method == "GET") as channel:
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
            method, path, json_body=json_body, body=body, headers=headers, what=what, records=records
        )

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

    def learn_parallelism(self) -> dict[str, int]:
        """Ask each user whose `x-ms-dop-hint` is unknown (`WhoAmI`); the limit each user now runs at."""
        for channel in self.pool.channels:
            if channel.throttle.dop_hint is None:
                channel.send("GET", "WhoAmI", headers={"If-None-Match": "null"}, what="WhoAmI")
        self.pool.notify()
        return {c.label: c.throttle.limit for c in self.pool.channels}

    # -- reads --------------------------------------------------------------------------------------------

    def whoami(self) -> WhoAmI:
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
        return self._writer.update_one(entity_set, UpdateRow(str(record_id), dict(values), if_match))

    def update_many(
        self, table: str | EntityInfo, rows: Sequence[UpdateRow], *, mode: BulkMode | None = None
    ) -> list[RowResult]:
        """Update existing records of one table (logical name, e.g. "account"); a result per row, in order."""
        entity = table if isinstance(table, EntityInfo) else self.metadata.entity(table)
        return self._writer.update_many(entity, rows, mode or self.options.bulk_mode)


def _etag(data: Mapping[str, Any]) -> str | None:
    value = data.get("@odata.etag")
    return str(value) if value else None
