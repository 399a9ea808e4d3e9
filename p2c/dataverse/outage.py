"""One service outage, shared by every thread of a client: one thread probes, the others wait, and the
client gives up with `ServiceUnreachable` once the outage has lasted its time budget (docs/requests.md)."""

from __future__ import annotations

import random
import threading
import time

import requests

from p2c.dataverse.errors import ServiceUnreachable
from p2c.dataverse.events import NO_EVENTS, ClientEvents
from p2c.dataverse.throttle import Backoff

CONFIRMING_PROBES = 2  # a probe that failed again: new requests wait instead of each trying for itself
_WAKE_S = 0.5  # a waiting thread looks again at least this often (its prober may have ended)


def failure_reason(exc: BaseException) -> str:
    """A whole, short, secret-free reason for a failed send: what a person needs to tell the cases apart."""
    text = str(exc).lower()
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "no connection within the connect timeout"
    if isinstance(exc, requests.Timeout):
        return "no answer within the read timeout"
    if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return "the host name does not resolve (DNS)"
    if "getaddrinfo failed" in text or "no address associated" in text:
        return "the host name does not resolve (DNS)"
    if "connection refused" in text or "errno 111" in text:
        return "connection refused (nothing is listening on that port)"
    if "reset by peer" in text or "remotedisconnected" in text or "aborted" in text:
        return "the connection was dropped"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    return f"the connection failed ({type(exc).__name__})"


class OutageMonitor:
    """Whether the service answers, for every thread of one client. Thread-safe.

    `answered` after every answer that proves the service is up; `failed` after a failure that looks like
    the service is down (no answer, 502/503/504): the first thread to fail probes with capped exponential
    backoff, the others wait for it; `check` before each send holds new requests while an outage is
    confirmed and raises the one `ServiceUnreachable` once the client gave up (it stays given up)."""

    def __init__(
        self,
        url: str,
        budget_s: float,
        backoff: Backoff,
        *,
        events: ClientEvents = NO_EVENTS,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.budget_s = budget_s
        self.events = events
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._cond = threading.Condition()
        self.last_answer_at = 0.0
        self._down_since: float | None = None
        self._prober: int | None = None
        self._probes = 0
        self._reported = False
        self._gave_up: ServiceUnreachable | None = None

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def answered(self, now: float) -> None:
        """An answer came back: the service is up (the hot path takes no lock unless it was down)."""
        self.last_answer_at = now
        if self._down_since is None:
            return
        with self._cond:
            if self._down_since is None:
                return
            self._down_since, self._prober, self._probes = None, None, 0
            reported, self._reported = self._reported, False
            self._cond.notify_all()
        if reported:
            self.events.reachable()

    def answered_since(self, moment: float) -> bool:
        return self.last_answer_at > moment

    def check(self) -> None:
        """Before a send: raise if the client gave up; wait while a confirmed outage is being probed."""
        if self._gave_up is not None:
            raise self._given_up()
        if self._down_since is None or self._probes < CONFIRMING_PROBES:
            return
        with self._cond:
            self._wait_for_prober(threading.get_ident())

    def failed(self, what: str, reason: str, *, since: float, attempt: int) -> float:
        """The service looks down for this request (failing since `since`, nothing answered since): probe
        after a backoff, or wait for the thread that probes. Returns the seconds waited; raises
        `ServiceUnreachable` once the outage has lasted the budget."""
        me = threading.get_ident()
        began = time.monotonic()
        with self._cond:
            if self._gave_up is not None:
                raise self._given_up()
            if self._down_since is None:
                self._down_since = min(since, began)
            down_for = began - self._down_since
            if down_for >= self.budget_s:
                self._gave_up = ServiceUnreachable(self.url, down_for, self.budget_s, reason)
                self._cond.notify_all()
                raise self._gave_up
            if self._prober is None:
                self._prober = me
            if self._prober != me:
                self._wait_for_prober(me)
                return time.monotonic() - began
            self._probes += 1
            report = self._probes >= CONFIRMING_PROBES
            self._reported = self._reported or report
            delay = min(self._backoff.delay(self._probes, self._rng), self.budget_s - down_for + 0.01)
        if report:
            self.events.unreachable(down_for, self.budget_s)
        self.events.retrying(what, attempt, reason)
        with self._cond:  # an answer to anyone ends the wait early
            self._cond.wait_for(lambda: self._down_since is None or self._gave_up is not None, timeout=delay)
            if self._gave_up is not None:
                raise self._given_up()
        return time.monotonic() - began

    def leave(self) -> None:
        """The calling thread's request is over: if it was probing, another waiting thread takes over."""
        if self._prober != threading.get_ident():
            return
        with self._cond:
            if self._prober == threading.get_ident():
                self._prober = None
                self._cond.notify_all()

    def _given_up(self) -> ServiceUnreachable:
        # a fresh instance per thread: one exception object raised in several threads would share a traceback
        first = self._gave_up
        assert first is not None
        return ServiceUnreachable(first.url, first.down_for_s, first.budget_s, first.last_failure)

    def _wait_for_prober(self, me: int) -> None:  # with the lock held
        while True:
            if self._gave_up is not None:
                raise self._given_up()
            if self._down_since is None:
                return
            if self._prober in (None, me):  # none probes (its request ended): probe in its place
                self._prober = me
                return
            self._cond.wait(timeout=_WAKE_S)
