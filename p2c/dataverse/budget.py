"""A client-side mirror of one user's service protection budget, learned from the service's own 429s.

Dataverse counts, per user and web server, the requests and the combined execution time of a sliding window
(`dataverse-web-api.md` §4.1), and its 429 says which limit was hit, with the figures:

    0x80072321  Combined execution time of incoming requests exceeded limit of 1,200,000  milliseconds over
                time window of 300 seconds. ...
    0x80072322  Number of requests exceeded the limit of 6000 over time window of 300 seconds.

Holding off for `Retry-After` alone keeps a bulk load inside the budget, but in lurches: the requests sent
when the budget ran out are charged after the 429, the window overflows, and for the whole-second hold that
follows nothing is in flight, so the budget of those seconds is lost. Once a 429 has named a limit, the
mirror keeps the user's own account of the same window: what each of its requests was charged, and how
many it sent, plus the requests in flight that should have ended by now (at the recent average of their
kind). A request goes out only while the service would admit it, its window under the limit, so the load
runs at the budget's rate instead of overrunning it and stopping; the initial burst (an empty window) and
the `x-ms-dop-hint` are unchanged.

What a request was charged the client cannot see; the time it waited for the answer is that charge plus
the network and the queueing behind other requests, on the client and on the server, which the service
does not bill. The queueing varies from request to request and is sometimes almost nil, so a request is
counted at its own wait or at the fastest eighth of the recent answers of its kind (read or write) and size
(records written, by powers of two), whichever is less
(measured against the emulator's charges: a GET of 250 ids waited 104 ms at the median for 17 ms charged,
its fastest eighth 34 ms; an UpdateMultiple of 100 rows 537 ms for 511 ms, its fastest eighth 519 ms). An
execution-time 429 while the mirror paces then corrects the account as a whole: when the service says
full while the mirror counts more, the mirror's limit becomes a little under what it counted (see `learn`).

The limits are per web server, and a load with the affinity cookie off is spread over all of them, so the
budget of one server may be too little. The mirror therefore probes: after `PROBE_AFTER_WINDOWS` windows at
its limit without a 429 it allows `PROBE_STEP` times more. A 429 takes it back to the last allowance that
held, doubles the wait before the next probe and halves the step; a probe that held doubles the step. On a
single server that costs a 429 now and then, rarer and smaller each time; on several it finds their combined
budget in a few probes.

Not thread-safe by itself: `UserThrottle` calls it under its lock."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

EXECUTION_TIME_CODE = "0x80072321"
REQUEST_COUNT_CODE = "0x80072322"

_EXECUTION = re.compile(r"limit of ([\d,.]+)\s*milliseconds over time window of ([\d.]+) seconds", re.I)
_REQUESTS = re.compile(r"limit of ([\d,.]+) over time window of ([\d.]+) seconds", re.I)

PROBE_AFTER_WINDOWS = 2  # windows at the limit without a 429 before allowing more
PROBE_STEP = 1.25  # how much more the first probe allows
MIN_STEP, MAX_STEP = 1.05, 2.0
MAX_ALLOWANCE = 64.0  # beyond this the budget is not what limits the load
HISTORY_S = 600.0  # kept before any limit is known (the documented window is 300 s)
# Of what the mirror counted at an execution-time 429. The service admits requests until its window is
# full, so the requests in flight then take it over the limit; a mirror that aims at exactly full draws a
# 429 at every such overrun (in the service model of tests/test_dataverse_budget.py, 1.0 finished in 27.1 s
# where 0.95 took 23.8 s; on the benchmark the two measured alike).
CALIBRATION_MARGIN = 0.95
RECENT_ANSWERS = 32  # durations per kind the estimate of a request's charge is taken from
_SMOOTHING = 0.2  # weight of the newest duration in the running average per kind


@dataclass(frozen=True)
class WindowLimit:
    """One limit as the service stated it: `amount` (seconds of execution, or requests) per `window_s`."""

    kind: str  # "execution" | "requests"
    amount: float
    window_s: float


def limit_from_throttling(code: str, message: str) -> WindowLimit | None:
    """The limit a 429's error names (execution time or number of requests), or None (also for figures
    written otherwise than the documented `1,200,000`: a guess would pace the load wrongly)."""
    kind, pattern, unit = {
        EXECUTION_TIME_CODE: ("execution", _EXECUTION, 1000.0),
        REQUEST_COUNT_CODE: ("requests", _REQUESTS, 1.0),
    }.get(code.lower(), ("", None, 1.0))
    found = pattern.search(message) if pattern else None
    if found is None:
        return None
    try:
        return WindowLimit(kind, float(found.group(1).replace(",", "")) / unit, float(found.group(2)))
    except ValueError:  # "1.200.000"
        return None


class BudgetMirror:
    """The user's own spend and request count over the service's windows; time is `time.monotonic()`."""

    def __init__(self) -> None:
        self.limits: dict[str, WindowLimit] = {}
        self.allowance = 1.0  # multiple of the stated limits allowed (probing for several web servers)
        self.execution_scale = 1.0  # the mirror's seconds per second of execution the service charges
        self._held_allowance = 1.0  # the last allowance that ran a window without a 429
        self._probe_after = PROBE_AFTER_WINDOWS
        self._step = PROBE_STEP
        self._at_limit_since: float | None = None  # when the mirror last started holding requests back
        self._spent: deque[tuple[float, float]] = deque()  # (answered at, seconds) of finished requests
        self._spent_total = 0.0
        self._sent: deque[float] = deque()  # send times
        self._typical = {True: 0.0, False: 0.0}  # running average of what a read, a write is charged
        # per kind and size (records written, by powers of two): when a failing bulk request is split, the
        # quick answers of its small pieces must not make the next whole request look cheap
        self._recent: dict[tuple[bool, int], deque[float]] = {}
        self._in_flight: dict[bool, deque[float]] = {True: deque(), False: deque()}  # send times

    @property
    def active(self) -> bool:
        return bool(self.limits)

    def learn(self, limit: WindowLimit, now: float, *, first: bool = True) -> None:
        """A 429 named `limit`: adopt it; at a raised allowance, go back to the last one that held.

        An execution-time 429 also says that the service's window is full now: if the mirror's own account
        of it is more than the limit at that moment, it counts the requests dearer than the service does
        (the wall time it waited includes the network and the queueing of requests in flight, which the
        service does not charge), and from then on the mirror's limit is (a little under, CALIBRATION_MARGIN)
        what it counted when the service said full. Only from the `first` 429 of a throttling event, and
        only while the mirror was pacing at an allowance that held: before the limit was known (the initial
        burst) and during a probe the mirror let the window run over on purpose, so what it counted then
        says how far it overran, not how dear it counts (measured: calibrating there set the limit 3-9%
        too high, and a 429 followed within seconds). Never less than the stated limit: a mirror that counts
        less at a 429 is missing answers still on their way, or another client spent part of the budget,
        and the hold covers that."""
        probing = self.allowance > self._held_allowance
        pacing = limit.kind in self.limits
        if probing:
            self.allowance = self._held_allowance
            self._probe_after *= 2
            self._step = max(MIN_STEP, 1 + (self._step - 1) / 2)
        self.limits[limit.kind] = limit
        if limit.kind == "execution" and pacing and not probing and first:
            self._expire(now)
            counted = self._spent_total / (limit.amount * self.allowance)
            self.execution_scale = max(1.0, counted * CALIBRATION_MARGIN)
        self._at_limit_since = None

    def wait_s(self, now: float, *, read: bool) -> float:
        """0 when one more request of this kind may go now, else the seconds until it may.

        For the execution time, the service's own rule: it admits a request while the charges of its window
        are under the limit, and charges a request when it ends. So a request goes while the window as the
        service sees it now is under the limit, counting the requests in flight that should have been
        answered by now (their charges are in the service's window before their answers reach the client).
        The requests in flight then take the window over the limit when they end, which costs nothing: no
        request is sent until it is under the limit again. (Keeping the window within the limit even when
        they have ended, as this mirror did before, left it a request or two under the limit on average:
        about 6% of the budget, `benchmarks/README.md`.)"""
        self._expire(now)
        wait = 0.0
        execution = self.limits.get("execution")
        if execution is not None:
            allowed = execution.amount * self.allowance * self.execution_scale
            overdue = sum(
                self._typical[kind]
                for kind, starts in self._in_flight.items()
                for s in starts
                if s + self._typical[kind] <= now
            )
            excess = self._spent_total + overdue - allowed
            if excess >= 0:
                wait = self._until_expired(excess, execution.window_s, now)
        requests = self.limits.get("requests")
        if requests is not None:
            excess = len(self._sent) + 1 - requests.amount * self.allowance
            if excess > 0:
                oldest = self._sent[min(len(self._sent), int(excess)) - 1] if self._sent else now
                wait = max(wait, oldest + requests.window_s - now)
        self._note_at_limit(now, wait > 0)
        return wait

    def started(self, now: float, *, read: bool) -> None:
        self._sent.append(now)
        self._in_flight[read].append(now)

    def answered(
        self, now: float, seconds: float, *, read: bool, charged: bool = True, records: int = 1
    ) -> None:
        """A request sent with `started` has its answer after `seconds`. An uncharged one (a 429: the
        service refused it before doing any work) leaves the requests in flight and counts nothing: its
        quick answer would also pull the estimate of its kind's charge down. `records`: how many records
        it wrote (a read is one)."""
        self._expire(now)  # also before any limit is known: the history stays one window long
        if self._in_flight[read]:
            self._in_flight[read].popleft()  # the oldest of its kind: an estimate needs no more
        if not charged:
            return
        recent = self._recent.setdefault((read, max(1, records).bit_length()), deque(maxlen=RECENT_ANSWERS))
        recent.append(seconds)
        counted = min(
            seconds, sorted(recent)[len(recent) // 8]
        )  # about the fastest eighth of its kind and size
        self._spent.append((now, counted))
        self._spent_total += counted
        typical = self._typical[read]
        self._typical[read] = counted if typical == 0 else typical + _SMOOTHING * (counted - typical)

    def _window(self) -> float:
        return max((limit.window_s for limit in self.limits.values()), default=HISTORY_S)

    def _expire(self, now: float) -> None:
        execution = self.limits.get("execution")
        horizon = now - (execution.window_s if execution else HISTORY_S)
        while self._spent and self._spent[0][0] <= horizon:
            self._spent_total -= self._spent.popleft()[1]
        if not self._spent:
            self._spent_total = 0.0  # no drift from float subtraction
        requests = self.limits.get("requests")
        horizon = now - (requests.window_s if requests else HISTORY_S)
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def _until_expired(self, excess: float, window_s: float, now: float) -> float:
        """Seconds until the oldest finished requests worth more than `excess` (the service refuses at its
        limit, not above it) are older than `window_s`."""
        for answered_at, seconds in self._spent:
            excess -= seconds
            if excess < 0:
                return max(0.0, answered_at + window_s - now)
        # the requests in flight alone fill the window: wait for answers (re-checked when they come)
        return max(0.0, window_s)

    def _note_at_limit(self, now: float, held_back: bool) -> None:
        """Probe for more after `_probe_after` windows at the limit without a 429."""
        if not held_back or not self.limits:
            return
        if self._at_limit_since is None:
            self._at_limit_since = now
            return
        probe_due = now - self._at_limit_since >= self._probe_after * self._window()
        if probe_due and self.allowance < MAX_ALLOWANCE:
            if self.allowance > self._held_allowance:  # the last probe held: probe sooner and bolder
                self._probe_after = PROBE_AFTER_WINDOWS
                self._step = min(MAX_STEP, 1 + (self._step - 1) * 2)
            self._held_allowance = self.allowance
            self.allowance *= self._step
            self._at_limit_since = None
