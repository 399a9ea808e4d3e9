"""One application user's connection to Dataverse. `UserChannel.send` is the only place a request leaves
the client: headers and bearer token, 429 holds, retries (per request, or through the client's shared
`OutageMonitor` when the service is down), one token refresh after a 401, the `x-ms-dop-hint`. What is
retried and why it is safe: docs/requests.md."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import RemoteDisconnected
from urllib.parse import urlparse

import requests

from p2c.dataverse.auth import TokenProvider, is_certificate_failure
from p2c.dataverse.budget import limit_from_throttling
from p2c.dataverse.errors import (
    OUTAGE_STATUSES,
    AuthenticationError,
    DataverseTerminalError,
    DataverseTransientError,
    error_from_response,
    parse_error_body,
)
from p2c.dataverse.options import ClientOptions
from p2c.dataverse.outage import OutageMonitor, failure_reason
from p2c.dataverse.results import RequestStats
from p2c.dataverse.session import BearerAuth, TimeoutSession, new_session
from p2c.dataverse.throttle import Backoff, HoldClock, UserThrottle, parse_retry_after

log = logging.getLogger("p2c.dataverse")

BASE_HEADERS = {
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "Accept": "application/json",
}
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# What a dropped or broken connection looks like through requests (RemoteDisconnected arrives wrapped in
# ConnectionError; listed for the rare path where http.client raises it bare).
DROPPED = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    RemoteDisconnected,
)
# Failures that say the whole service is not there, whatever the request: nothing listens, no such host.
_SERVICE_GONE = ("connection refused", "does not resolve", "no connection within")


@dataclass
class _Failures:
    """The transient failures of one request: how many were its own, and since when it has been failing."""

    own: int = 0
    since: float = 0.0


@dataclass
class Exchange:
    response: requests.Response
    stats: RequestStats


class UserChannel:
    """Everything that belongs to one Dataverse user: session, token, throttle state. Thread-safe."""

    def __init__(
        self,
        environment_url: str,
        tokens: TokenProvider,
        options: ClientOptions,
        *,
        on_limit_change: Callable[[], None] | None = None,
        rng: random.Random | None = None,
        monitor: OutageMonitor | None = None,
        clock: HoldClock | None = None,
    ) -> None:
        self.environment_url = environment_url.rstrip("/")
        self.api_root = f"{self.environment_url}/api/data/{options.api_version}/"
        self.tokens = tokens
        self.label = tokens.label
        self.options = options
        self.throttle = UserThrottle(
            max_parallel=options.max_parallel_per_user,
            initial_parallel=options.initial_parallel_per_user,
            clock=clock,
        )
        self.session: TimeoutSession = new_session(
            options.timeout, pool_size=options.max_parallel_per_user + 2
        )
        self._backoff = Backoff(options.backoff_base_s, options.backoff_cap_s)
        self.monitor = monitor or OutageMonitor(self.environment_url, options.outage_budget_s, self._backoff)
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._on_limit_change = on_limit_change
        self._host = urlparse(self.environment_url).netloc.lower()

    def __repr__(self) -> str:
        return f"UserChannel({self.label!r}, {self.environment_url!r}, limit={self.throttle.limit})"

    def url(self, path: str) -> str:
        """An absolute URL for a path relative to the API root (or an absolute URL on this host, as given)."""
        if path.startswith(("https://", "http://")):
            if urlparse(path).netloc.lower() != self._host:
                # a nextLink (or anything else) pointing elsewhere would receive our bearer token
                raise DataverseTerminalError(
                    f"refusing to send a token to another host: {urlparse(path).netloc}"
                )
            return path
        return self.api_root + path.lstrip("/")

    def _delay(self, attempt: int) -> float:
        with self._rng_lock:
            return self._backoff.delay(attempt, self._rng)

    def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        what: str = "",
        records: int = 1,
    ) -> Exchange:
        """Send one request with retries; the 2xx response, or a typed error for anything else. `records`:
        how many records it writes (the budget mirror compares a request's wait with those of its size)."""
        try:
            return self._send(method, path, body=body, headers=headers, what=what, records=records)
        finally:
            self.monitor.leave()  # if this request was probing an outage, another one takes over

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        what: str,
        records: int,
    ) -> Exchange:
        url = self.url(path)
        what = what or f"{method} {path.split('?')[0]}"
        stats = RequestStats(user=self.label)
        request_headers = dict(BASE_HEADERS)
        if body is not None:
            request_headers["Content-Type"] = JSON_CONTENT_TYPE
        request_headers.update(headers or {})
        refreshed = False
        throttled = 0
        failures = _Failures()
        token: str | None = None
        read = method == "GET"
        while True:
            self.monitor.check()
            if token is None:
                try:
                    token = self.tokens.token()
                except DataverseTransientError as exc:  # the identity provider is not there (a renewal)
                    failures.since = failures.since or time.monotonic()
                    self._transient(what, exc.message, None, failures, stats, service_gone=True)
                    continue
            stats.throttle_wait_s += self.throttle.wait_until_open(read=read)
            stats.attempts += 1
            sent_at = time.monotonic()
            try:
                try:
                    response = self.session.request(
                        method, url, data=body, headers=request_headers, auth=BearerAuth(token)
                    )
                except BaseException:
                    # a dropped request may have run on the server: counted as charged
                    self.throttle.answered(read=read, seconds=time.monotonic() - sent_at, records=records)
                    raise
                # a refused request (429) did no work: the service does not charge it
                self.throttle.answered(
                    read=read,
                    seconds=time.monotonic() - sent_at,
                    charged=response.status_code != 429,
                    records=records,
                )
            except requests.exceptions.SSLError as exc:
                if is_certificate_failure(exc):  # an untrusted certificate stays untrusted: no retry
                    raise DataverseTerminalError(
                        f"{what} failed: the server's TLS certificate is not trusted ({self._describe(exc)})",
                        request=what,
                        stats=stats,
                        hint="a private CA's certificate goes in REQUESTS_CA_BUNDLE",
                    ) from None
                failures.since = failures.since or sent_at
                self._transient(what, failure_reason(exc), None, failures, stats)
                continue
            except DROPPED as exc:
                log.debug("%s %s: %s (send %d)", self.label, what, type(exc).__name__, stats.attempts)
                reason = failure_reason(exc)
                failures.since = failures.since or sent_at
                self._transient(
                    what, reason, None, failures, stats, service_gone=reason.startswith(_SERVICE_GONE)
                )
                continue
            status = response.status_code
            if status not in OUTAGE_STATUSES:
                self.monitor.answered(time.monotonic())
            if (
                self.throttle.observe_dop_hint(response.headers.get("x-ms-dop-hint"))
                and self._on_limit_change
            ):
                self._on_limit_change()
            log.debug("%s %s -> %d (send %d)", self.label, what, status, stats.attempts)
            if status < 400:
                if self.throttle.on_success() and self._on_limit_change:
                    self._on_limit_change()
                return Exchange(response, stats)
            if status == 401 and not refreshed:
                refreshed = True
                token = self.tokens.refresh(token)
                continue
            if status == 401:
                error = error_from_response(response, request=what, stats=stats)
                raise AuthenticationError(
                    f"{what}: Dataverse refused a fresh token for {self.label} (HTTP 401)"
                    + (f": {error.service_message}" if error.service_message else ""),
                    status=401,
                    code=error.code,
                    service_message=error.service_message,
                    request=what,
                    stats=stats,
                    hint="check that the application user exists in this environment and is enabled",
                )
            if status == 429:
                throttled += 1
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if throttled > self.options.max_throttle_retries:
                    raise error_from_response(response, request=what, stats=stats)
                # No Retry-After: Microsoft's reference policy waits 2^attempt seconds instead.
                hold = wait if wait is not None else float(2 ** min(throttled, 6))
                self.throttle.hold_for(hold)
                self.throttle.on_throttled(limit_from_throttling(*parse_error_body(response.text)))
                self.monitor.events.throttled(self.label, hold)
                continue
            if status >= 500:
                failures.since = failures.since or sent_at
                self._transient(
                    what, f"HTTP {status} {response.reason or ''}".strip(), response, failures, stats
                )
                continue
            raise error_from_response(response, request=what, stats=stats)

    def _transient(
        self,
        what: str,
        reason: str,
        response: requests.Response | None,
        failures: _Failures,
        stats: RequestStats,
        *,
        service_gone: bool = False,
    ) -> None:
        """After a transient failure: back off and return (the caller sends again), or raise.

        A failure with no answer from the service to anyone since this request began failing (or one that
        says nothing is there at all) is an outage: the shared monitor decides, within the outage budget.
        Otherwise the service is up and the failure is this request's own: `max_attempts` sends at most."""
        status = response.status_code if response is not None else None
        outage = status is None or status in OUTAGE_STATUSES
        if outage and (service_gone or not self.monitor.answered_since(failures.since)):
            stats.backoff_wait_s += self.monitor.failed(
                what, reason, since=failures.since, attempt=stats.attempts + 1
            )
            return
        failures.own += 1
        failures.since = time.monotonic()
        if failures.own >= self.options.max_attempts:
            if response is not None:
                raise error_from_response(response, request=what, stats=stats)
            raise DataverseTransientError(
                f"{what} failed: {reason} after {stats.attempts} sends", request=what, stats=stats
            ) from None
        self.monitor.events.retrying(what, stats.attempts + 1, reason)
        self._sleep_backoff(failures.own, stats)

    def _sleep_backoff(self, failures: int, stats: RequestStats) -> None:
        delay = self._delay(failures)
        stats.backoff_wait_s += delay
        time.sleep(delay)

    @staticmethod
    def _describe(exc: BaseException) -> str:
        # requests' messages name the URL and the socket error, never headers; keep the first line short
        return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__

    def close(self) -> None:
        self.session.close()
