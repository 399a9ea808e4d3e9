"""Per-user service protection state: parallelism that adapts to 429s, holds for `Retry-After`, and the
counts of requests lent to and sent by each user (the one owner of them). How and why: docs/requests.md."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from p2c.dataverse.budget import BudgetMirror, WindowLimit

CONCURRENCY_LIMIT = 52  # "Number of concurrent requests exceeded the limit of 52."
HARD_MAX_PARALLEL = CONCURRENCY_LIMIT - 1


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds (what Dataverse sends) or an HTTP-date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_dop_hint(value: str | None) -> int | None:
    try:
        hint = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return hint if hint > 0 else None


PROVEN_ROUNDS = 8  # round trips without a 429 that make a level good
RELAX_ROUNDS = 32  # quiet round trips just below `upper` before that level is tried again


class HoldClock:
    """Time requests spent held (429 holds, the budget mirror, cut limits), two ways: on the clock (the union
    of the hold intervals: what a person waited) and in request-seconds (their sum: what parallel requests
    waited together, many times the clock time). Shared by every user of a client; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holding = 0
        self._since = 0.0
        self._clock_s = 0.0
        self._request_s = 0.0

    def enter(self) -> None:
        with self._lock:
            if self._holding == 0:
                self._since = time.monotonic()
            self._holding += 1

    def leave(self, waited_s: float) -> None:
        with self._lock:
            self._holding -= 1
            self._request_s += waited_s
            if self._holding == 0:
                self._clock_s += time.monotonic() - self._since

    def clock_s(self) -> float:
        """Seconds during which at least one request was held (a hold still running counts so far)."""
        with self._lock:
            running = time.monotonic() - self._since if self._holding else 0.0
            return self._clock_s + running

    def request_s(self) -> float:
        """The sum of every request's held seconds (finished holds)."""
        with self._lock:
            return self._request_s


class UserThrottle:
    """One user's parallelism limit, 429 hold and requests in flight. Thread-safe; `time.monotonic()`."""

    def __init__(self, *, max_parallel: int, initial_parallel: int, clock: HoldClock | None = None) -> None:
        self.max_parallel = max(1, min(max_parallel, HARD_MAX_PARALLEL))
        self._limit = max(1, min(initial_parallel, self.max_parallel))
        self._ceiling = self._limit  # the hint (capped)
        self._upper: int | None = None  # the lowest level a 429 showed too high, while remembered
        self._good = 0  # the highest level that ran PROVEN_ROUNDS round trips without a 429
        self._successes = 0  # at the current level, since it was set
        self._event_until = 0.0  # 429s before this moment belong to the last throttling event
        self.dop_hint: int | None = None
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        self._gate = threading.Condition(self._lock)  # sends in flight, for `wait_until_open`
        self._sending = 0  # on the wire now (between `wait_until_open` and `answered`)
        self._writing = 0
        self._lent = 0  # lent out by the pool (from borrowing to giving back: sends, holds, backoff)
        self._lent_writes = 0
        self.clock = clock or HoldClock()
        self.budget = BudgetMirror()

    @property
    def limit(self) -> int:
        """Writes in flight allowed now (adaptive)."""
        return self._limit

    @property
    def ceiling(self) -> int:
        """Requests in flight allowed at all, reads included: the hint (capped), never below the limit."""
        return max(self._ceiling, self._limit)

    # -- requests lent out by the pool: counted here, the pool asks ------------------------------------------

    def load(self, read: bool) -> float | None:
        """How busy this user is for one more request (0 idle, <1 has room), or None when it is full: all
        requests within `ceiling`, writes within `limit`. The pool calls it and `lend` under its own lock."""
        lent, writes = self._lent, self._lent_writes
        ceiling, limit = self.ceiling, self._limit
        if lent >= ceiling or (not read and writes >= limit):
            return None
        return lent / ceiling if read else writes / limit

    def lend(self, read: bool) -> None:
        with self._lock:
            self._lent += 1
            self._lent_writes += not read

    def give_back(self, read: bool) -> None:
        with self._lock:
            self._lent -= 1
            self._lent_writes -= not read

    def borrowed(self) -> tuple[int, int]:
        """Requests lent to this user now, and the writes among them."""
        with self._lock:
            return self._lent, self._lent_writes

    def observe_dop_hint(self, header: str | None) -> bool:
        """Adopt the server's hint (capped) as the ceiling; True if the limit changed."""
        hint = parse_dop_hint(header)
        if hint is None:
            return False
        with self._lock:
            self.dop_hint = hint
            self._ceiling = max(1, min(hint, self.max_parallel))
            searching = self._upper is not None or self._good > 0
            new_limit = min(self._limit, self._ceiling) if searching else self._ceiling
            changed = new_limit != self._limit
            self._set(new_limit)
            return changed

    def _set(self, level: int) -> None:  # with the lock held
        if level != self._limit:
            self._limit = level
            self._successes = 0
            self._gate.notify_all()

    def on_throttled(self, limit: WindowLimit | None = None) -> None:
        """A 429 (call after `hold_for`), with the limit its error names if any: a named limit teaches the
        budget mirror; otherwise the first 429 of a throttling event cuts the parallelism."""
        with self._lock:
            now = time.monotonic()
            if limit is not None:
                # the 429s of requests already in flight at the first one are the same event
                self.budget.learn(limit, now, first=now >= self._event_until)
                self._event_until = max(self._event_until, self._blocked_until, now)
                return
            if now < self._event_until:
                return  # answered during this event's hold: a request sent before the cut
            self._event_until = max(self._blocked_until, now)
            failed = self._limit
            if 0 < failed <= self._good:
                # a level that held for many round trips: the budget is about used up, which is the aim;
                # the hold is all it takes (a lower level would leave part of the budget unused)
                self._successes = 0
                return
            self._upper = failed if self._upper is None else min(self._upper, failed)
            self._set(max(1, self._good if self._good > 0 else failed // 2))

    def on_success(self) -> bool:
        """An answer below 400; True if the limit grew."""
        with self._lock:
            self._successes += 1
            level = self._limit
            if self._successes >= PROVEN_ROUNDS * level and self._upper is not None:
                # only once a 429 was seen: before, the window's unspent budget makes any level look good
                self._good = max(self._good, level)
            if self._upper is not None and level + 1 >= self._upper:
                if self._successes < RELAX_ROUNDS * level:
                    return False
                self._upper += 1  # forget the failure one level at a time
                if self._upper > self._ceiling:
                    self._upper = None
            if self._successes < PROVEN_ROUNDS * level or level >= self._ceiling:
                return False
            target = self._ceiling if self._upper is None else (level + self._upper) // 2
            if self._upper is None and self._good == 0:
                target = level + 1  # never throttled: no search, the hint is the ceiling
            self._set(min(self._ceiling, max(level + 1, target)))
            return self._limit > level

    def hold_for(self, seconds: float) -> None:
        """Stop this user until `seconds` from now (a later hold never shortens an earlier one)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)

    def blocked_for(self) -> float:
        """Seconds until this user may send again (0 when it may send now)."""
        with self._lock:
            return max(0.0, self._blocked_until - time.monotonic())

    def wait_until_open(self, *, read: bool = False) -> float:
        """Wait until this user may send (no hold, room within its limits and budget); count the send in.
        The seconds waited, also added to the `HoldClock`. Pair every call with `answered`."""
        began: float | None = None
        with self._gate:
            while True:
                now = time.monotonic()
                remaining = self._blocked_until - now
                if remaining <= 0 and self._sending < self.ceiling and (read or self._writing < self._limit):
                    remaining = self.budget.wait_s(now, read=read) if self.budget.active else 0.0
                    if remaining <= 0:
                        self._sending += 1
                        self._writing += not read
                        self.budget.started(now, read=read)
                        if began is None:
                            return 0.0
                        waited = time.monotonic() - began
                        self.clock.leave(waited)
                        return waited
                if began is None:
                    began = now
                    self.clock.enter()
                self._gate.wait(timeout=min(remaining, 0.5) if remaining > 0 else 0.5)

    def answered(
        self, *, read: bool = False, seconds: float = 0.0, charged: bool = True, records: int = 1
    ) -> None:
        """The send counted in by `wait_until_open` has its answer (or failed) after `seconds`; `charged`
        False for an answer the service charges nothing for (a 429); `records` it wrote."""
        with self._gate:
            self._sending -= 1
            self._writing -= not read
            self.budget.answered(time.monotonic(), seconds, read=read, charged=charged, records=records)
            self._gate.notify_all()


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**(n-1)))."""

    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(0.0, ceiling)
