"""Service protection limits per user, as Dataverse applies them (`dataverse-web-api.md` §4.1).

Each application user (client id of the bearer token) has its own budget over a sliding window:
  * number of requests      -> 429, -2147015902 / 0x80072322
  * combined execution time -> 429, -2147015903 / 0x80072321
  * concurrent requests     -> 429, -2147015898 / 0x80072326 (checked immediately)
Every answer carries `x-ms-dop-hint`, and 429s carry `Retry-After` in whole seconds: the time until enough of
the window has passed for the request to be accepted.

`--limits requests=600,window=10,execution=120,concurrency=52,cost_ms=5,dop=8` scales Dataverse's 6,000
requests / 1,200 s execution per 300 s window. `cost_ms` is the execution time charged (and slept) for every
written record, so throughput has a real ceiling. For one user sending batches of B records with P requests
in flight (P <= concurrency):

    records/s <= min( execution * 1000 / (cost_ms * window),   # execution-time budget
                      P * 1000 / cost_ms,                      # each in-flight request sleeps B * cost_ms
                      requests / window * B )                  # request-count budget

e.g. the defaults give min(2400, P * 200, 60 * B) records/s. Rejected (429) requests are not counted, as a
refused request does no work; execution time is charged when a request ends.

What a request is charged is the work the server did for it: the CPU time of the thread that served it
(`time.thread_time()`: parsing, SQLite, JSON) plus the modelled cost of its writes (`cost_ms` per record,
slept, as a plug-in or the database would take it). Not wall time: on a small machine the emulator's
threads wait for the interpreter lock and for the client's processes, and a real service does not bill a
request for another request's work. Reads are charged their CPU time too, so a client that reads pays
for it from the same budget."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from p2c.emulator.api_errors import ApiError
from p2c.errors import UsageError

LIMIT_FIELDS = {
    "requests": int,
    "window": float,
    "execution": float,
    "concurrency": int,
    "cost_ms": float,
    "dop": int,
}


@dataclass(frozen=True)
class Limits:
    requests: int = 600
    window: float = 10.0
    execution: float = 120.0
    concurrency: int = 52
    cost_ms: float = 5.0
    dop: int = 8

    def ceiling_records_per_second(self, batch_size: int = 1, parallel: int | None = None) -> float:
        """The throughput ceiling of the formula in the module docstring, for one user."""
        in_flight = min(parallel or self.concurrency, self.concurrency)
        if self.cost_ms <= 0:
            return self.requests / self.window * batch_size
        return min(
            self.execution * 1000 / (self.cost_ms * self.window),
            in_flight * 1000 / self.cost_ms,
            self.requests / self.window * batch_size,
        )

    def most_records(self, seconds: float, batch_size: int = 1, parallel: int | None = None) -> float:
        """The most records one user can have written `seconds` after its first request: the ceiling of a
        run, not of a rate. Cut the run into windows from its start: each whole window holds at most
        `execution` seconds of charges (and no more than `parallel` requests in flight charge in it: each
        charges its own duration) and `requests` requests; the part-window after them at most what
        `parallel` requests in flight charge in that time, and the request count of one window. So a run
        of whole windows can do exactly `ceiling_records_per_second` times its length, and a run that ends
        part-way into a window a little more (the burst of its last part-window).

        A request is admitted while the finished charges of the window are under the limit, so the
        requests in flight at that moment can take the window over it; that overrun is not counted here:
        the ceiling is what the limits allow, not what their enforcement lets slip through."""
        in_flight = min(parallel or self.concurrency, self.concurrency)
        whole, rest = divmod(max(0.0, seconds), self.window)
        by_requests = (whole + (1 if rest > 0 else 0)) * self.requests * batch_size
        if self.cost_ms <= 0:
            return float(by_requests)
        execution = whole * min(self.execution, in_flight * self.window) + min(
            self.execution, in_flight * rest
        )
        return min(execution * 1000 / self.cost_ms, float(by_requests))

    def least_seconds(self, records: int, batch_size: int = 1, parallel: int | None = None) -> float:
        """The least time in which one user can write `records`: the inverse of `most_records`, so the
        ceiling of a job (its fastest possible run) rather than of a rate. The whole windows it needs, and
        the burst of `parallel` requests in flight that writes the rest into the last one."""
        if records <= 0:
            return 0.0
        in_flight = min(parallel or self.concurrency, self.concurrency)
        requests = math.ceil(records / batch_size)
        by_requests = (math.ceil(requests / self.requests) - 1) * self.window
        if self.cost_ms <= 0:
            return by_requests
        needed = records * self.cost_ms / 1000
        per_window = min(self.execution, in_flight * self.window)
        whole = math.ceil(needed / per_window) - 1
        return max(by_requests, whole * self.window + (needed - whole * per_window) / in_flight)


def parse_limits(spec: str | None) -> Limits:
    """`requests=600,window=10,...`; unknown names or bad numbers are a UsageError."""
    if not spec:
        return Limits()
    values: dict[str, float | int] = {}
    for item in spec.split(","):
        name, equals, raw = item.strip().partition("=")
        if not equals or name not in LIMIT_FIELDS:
            raise UsageError(
                f"--limits: {item.strip()!r} is not NAME=VALUE with NAME one of {', '.join(LIMIT_FIELDS)}",
                hint="e.g. --limits requests=600,window=10,execution=120,concurrency=52,cost_ms=5,dop=8",
            )
        try:
            value = LIMIT_FIELDS[name](raw)
        except ValueError:
            raise UsageError(f"--limits: {name}={raw!r} is not a number") from None
        if value < 0 or (name in ("window", "requests", "concurrency", "dop") and value <= 0):
            raise UsageError(f"--limits: {name} must be positive, not {raw}")
        values[name] = value
    return Limits(**values)  # type: ignore[arg-type]


class _UserBudget:
    def __init__(self) -> None:
        self.requests: deque[float] = deque()  # arrival times
        self.executions: deque[tuple[float, float]] = deque()  # (end time, seconds)
        self.execution_total = 0.0
        self.in_flight = 0


class ServiceProtection:
    """Admission control; `admit` raises the 429 ApiError, `release` charges the execution time."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._users: dict[str, _UserBudget] = {}
        self._request = threading.local()  # per serving thread: CPU time at start, modelled cost so far

    def _expire(self, budget: _UserBudget, now: float) -> None:
        horizon = now - self.limits.window
        while budget.requests and budget.requests[0] <= horizon:
            budget.requests.popleft()
        while budget.executions and budget.executions[0][0] <= horizon:
            budget.execution_total -= budget.executions.popleft()[1]

    def admit(self, user: str) -> None:
        limits = self.limits
        now = time.monotonic()
        with self._lock:
            budget = self._users.setdefault(user, _UserBudget())
            self._expire(budget, now)
            if budget.in_flight >= limits.concurrency:
                raise ApiError(
                    429,
                    "0x80072326",
                    f"Number of concurrent requests exceeded the limit of {limits.concurrency}.",
                    {"Retry-After": "1"},
                )
            if len(budget.requests) >= limits.requests:
                wait = budget.requests[0] + limits.window - now
                raise ApiError(
                    429,
                    "0x80072322",
                    f"Number of requests exceeded the limit of {limits.requests} over time window of "
                    f"{limits.window:g} seconds.",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
            if budget.execution_total >= limits.execution:
                excess, wait = budget.execution_total - limits.execution, 0.0
                for end, seconds in budget.executions:
                    excess -= seconds
                    wait = end + limits.window - now
                    if excess < 0:
                        break
                raise ApiError(
                    429,
                    "0x80072321",
                    "Combined execution time of incoming requests exceeded limit of "
                    f"{limits.execution * 1000:,.0f}  "
                    f"milliseconds over time window of {limits.window:g} seconds. Decrease number of "
                    "concurrent "
                    "requests or reduce the duration of requests and try again later.",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
            budget.requests.append(now)
            budget.in_flight += 1
        self._request.cpu_start = time.thread_time()
        self._request.modelled = 0.0

    def release(self, user: str) -> float:
        """End the admitted request served by this thread; the execution time charged to `user`."""
        seconds = float(time.thread_time() - self._request.cpu_start + self._request.modelled)
        with self._lock:
            budget = self._users[user]
            budget.in_flight -= 1
            budget.executions.append((time.monotonic(), seconds))
            budget.execution_total += seconds
        return seconds

    def charge_records(self, records: int) -> None:
        """Do the work a write costs: sleep cost_ms per record (outside any lock), charged to the request."""
        if records > 0 and self.limits.cost_ms > 0:
            cost = records * self.limits.cost_ms / 1000
            time.sleep(cost)
            if hasattr(self._request, "modelled"):
                self._request.modelled += cost

    def headers(self, user: str) -> dict[str, str]:
        with self._lock:
            budget = self._users.get(user)
            used = len(budget.requests) if budget else 0
            spent = budget.execution_total if budget else 0.0
        remaining_ms = max(0.0, self.limits.execution - spent) * 1000
        return {
            "x-ms-dop-hint": str(self.limits.dop),
            "x-ms-ratelimit-burst-remaining-xrm-requests": str(max(0, self.limits.requests - used)),
            "x-ms-ratelimit-time-remaining-xrm-requests": f"{remaining_ms:.2f}",
        }
