"""`Transport`: the layer under `DataverseClient` and its helpers (`bulk.py`, `metadata.py`,
`references.py`), as httpx's transport sits under its client: each of them sends through this and never
calls back into the client that built it.

It sends one request through the user pool: every user signed in first (once), a user lent by admission,
retries, the outage budget and the events (`UserChannel.send` below it), and it holds the read-only guard.
Its only writes are the three update shapes (a PATCH by id, UpdateMultiple, a `$batch` of PATCHes), all
through `_send_write`, which refuses anything else and every write of a plan or dry run, whatever code path
calls it. How requests are admitted, retried and throttled: docs/requests.md."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from p2c.dataverse.auth import TokenProvider
from p2c.dataverse.errors import DataverseTerminalError
from p2c.dataverse.events import ClientEvents
from p2c.dataverse.http import Exchange, UserChannel
from p2c.dataverse.odata import to_json
from p2c.dataverse.options import ClientOptions
from p2c.dataverse.outage import OutageMonitor
from p2c.dataverse.pool import UserPool
from p2c.dataverse.signin import NO_CACHE, combined, reach_environment, sign_in_user, who_am_i
from p2c.dataverse.throttle import Backoff, HoldClock
from p2c.errors import P2CError, UsageError


class Transport:
    def __init__(self, environment_url: str, users: Sequence[TokenProvider], options: ClientOptions) -> None:
        if len({u.label for u in users}) != len(users):
            raise UsageError("every Dataverse user needs its own label")
        self.environment_url = environment_url
        self.options = options
        self._backoff = Backoff(options.backoff_base_s, options.backoff_cap_s)
        # one outage and one hold clock for all users: the service is down (or holding) for all of them
        self.outage = OutageMonitor(environment_url, options.outage_budget_s, self._backoff)
        self.hold_clock = HoldClock()
        self.pool = UserPool(
            [
                UserChannel(
                    environment_url,
                    user,
                    options,
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

    @property
    def events(self) -> ClientEvents:
        return self.outage.events

    @events.setter
    def events(self, events: ClientEvents) -> None:
        self.outage.events = events

    def close(self) -> None:
        self.pool.close()

    def secrets(self) -> list[str]:
        """Every secret value the users hold (client secrets, passwords, tokens), for masking output."""
        return [s for c in self.pool.channels for s in c.tokens.secrets()]

    def _limits_changed(self) -> None:
        # called by a channel when x-ms-dop-hint changes its limit; the pool may be mid-construction
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.notify()

    # -- signing in ------------------------------------------------------------------------------------

    def sign_in(self) -> None:
        """Reach the environment, then sign every application user in (in parallel), once; a failure is
        raised again on every later call (a credential does not mend itself mid-run)."""
        if self._signed_in:
            return
        with self._sign_in_lock:
            if self._signed_in:
                return
            if self._sign_in_error is not None:
                raise self._sign_in_error
            try:
                reach_environment(self.pool.channels[0], self.options, self._backoff)
                with ThreadPoolExecutor(len(self.pool.channels), thread_name_prefix="sign-in") as executor:
                    failures = [f for f in executor.map(sign_in_user, self.pool.channels) if f]
                if failures:
                    raise combined(failures)
            except P2CError as error:
                self._sign_in_error = error
                raise
            self._signed_in = True

    def learn_parallelism(self) -> dict[str, int]:
        """Ask each user whose `x-ms-dop-hint` is unknown (`WhoAmI`); the limit each user now runs at."""
        self.sign_in()  # which learns it for every user
        for channel in self.pool.channels:
            if channel.throttle.dop_hint is None:
                who_am_i(channel)
        self.pool.notify()
        return {c.label: c.throttle.limit for c in self.pool.channels}

    def hold_user(self, label: str, seconds: float) -> None:
        """Hold back one user (a 429 inside a $batch answer names the wait for that user only)."""
        for channel in self.pool.channels:
            if channel.label == label:
                channel.throttle.hold_for(seconds)
                self.events.throttled(label, seconds)

    # -- sending ------------------------------------------------------------------------------------------

    def _send(
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

    # -- reads --------------------------------------------------------------------------------------------

    def whoami(self) -> Exchange:
        """`WhoAmI` as whichever user the pool lends; admitted as a write is, as the client always did."""
        self.sign_in()
        with self.pool.channel() as channel:
            return who_am_i(channel)

    def get_json(
        self, path: str, *, headers: Mapping[str, str] | None = None, what: str = ""
    ) -> dict[str, Any]:
        exchange = self._send("GET", path, headers={**NO_CACHE, **(headers or {})}, what=what)
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

    # -- writes: the three update shapes, nothing else ------------------------------------------------------

    def patch(
        self,
        path: str,
        values: Mapping[str, Any],
        *,
        headers: Mapping[str, str],
        what: str,
        users: frozenset[str] | None = None,
    ) -> Exchange:
        """`PATCH <set>(<id>)`; `headers` carry its `If-Match` (`*` or an ETag): without it, refused."""
        return self._send_write(
            "PATCH", path, json_body=values, headers=headers, what=what, records=1, users=users
        )

    def update_multiple(
        self,
        path: str,
        targets: Sequence[Mapping[str, Any]],
        *,
        headers: Mapping[str, str],
        what: str,
        users: frozenset[str] | None = None,
    ) -> Exchange:
        """`POST <set>/Microsoft.Dynamics.CRM.UpdateMultiple` of `targets`, each with its primary key."""
        return self._send_write(
            "POST", path, json_body={"Targets": list(targets)}, headers=headers, what=what,
            records=len(targets), users=users,
        )  # fmt: skip

    def batch(
        self,
        body: bytes,
        *,
        headers: Mapping[str, str],
        what: str,
        records: int,
        users: frozenset[str] | None = None,
    ) -> Exchange:
        """`POST $batch` of `records` PATCHes by id (`batch.py` builds the body)."""
        return self._send_write(
            "POST", "$batch", body=body, headers=headers, what=what, records=records, users=users
        )

    def _send_write(
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
        """Every write goes through here. A read-only transport (plan or dry run) refuses them all, and
        anything but an update by record id is refused, so no code path, however wired, can POST a record
        or upsert."""
        if self.options.read_only:
            raise DataverseTerminalError(f"refused: {method} {path}: a read-only client (plan or dry run)")
        allowed = (
            (method == "PATCH" and headers is not None and headers.get("If-Match", "") not in ("", "null"))
            or (method == "POST" and path == "$batch")
            or (method == "POST" and path.endswith("/Microsoft.Dynamics.CRM.UpdateMultiple"))
        )
        if not allowed:
            raise DataverseTerminalError(f"refused: {method} {path} is not an update by record id")
        return self._send(
            method, path, json_body=json_body, body=body, headers=headers, what=what, records=records,
            users=users,
        )  # fmt: skip
