"""Per-user service protection state: how many requests may run at once, and until when to hold off.

Dataverse counts its limits per user and per web server, and answers 429 with `Retry-After` (seconds)
when one is exceeded. The wait applies to that user only: other application users keep working.
The degree of parallelism comes from the `x-ms-dop-hint` response header ("performance worsens if you
send more parallel requests than the response header recommends"), capped by the client's option and
always below the concurrency limit of 52. Within that ceiling it adapts as the documentation advises
("decrease number of concurrent requests"): a 429 halves this user's parallelism, and every run of as many
successes as requests in flight adds one back (additive increase, multiplicative decrease, as TCP does), so
a load settles just under the service's execution-time budget instead of running into it again and again."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

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


class UserThrottle:
    """One user's parallelism limit and 429 hold. Thread-safe; time is `time.monotonic()`."""

    def __init__(self, *, max_parallel: int, initial_parallel: int) -> None:
        self.max_parallel = max(1, min(max_parallel, HARD_MAX_PARALLEL))
        self._limit = max(1, min(initial_parallel, self.max_parallel))
        self._ceiling = self._limit  # the hint (capped); the limit climbs back to it after a 429
        self._reduced = False
        self._successes = 0
        self.dop_hint: int | None = None
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return self._limit

    def observe_dop_hint(self, header: str | None) -> bool:
        """Adopt the server's hint (capped); True if the limit changed."""
        hint = parse_dop_hint(header)
        if hint is None:
            return False
        with self._lock:
            self.dop_hint = hint
            self._ceiling = max(1, min(hint, self.max_parallel))
            new_limit = min(self._limit, self._ceiling) if self._reduced else self._ceiling
            changed = new_limit != self._limit
            self._limit = new_limit
            return changed

    def on_throttled(self) -> None:
        """A 429: halve the parallelism (never below 1)."""
        with self._lock:
            self._limit = max(1, self._limit // 2)
            self._reduced = True  # until it has climbed back to the ceiling
            self._successes = 0

    def on_success(self) -> bool:
        """An answer below 400: after `limit` of them in a row, one more request may run; True if it grew."""
        with self._lock:
            if not self._reduced:
                return False
            self._successes += 1
            if self._successes < self._limit:
                return False
            self._successes = 0
            self._limit = min(self._ceiling, self._limit + 1)
            self._reduced = self._limit < self._ceiling
            return True

    def hold_for(self, seconds: float) -> None:
        """Stop this user until `seconds` from now (a later hold never shortens an earlier one)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)

    def blocked_for(self) -> float:
        """Seconds until this user may send again (0 when it may send now)."""
        with self._lock:
            return max(0.0, self._blocked_until - time.monotonic())

    def wait_until_open(self) -> float:
        """Sleep out any hold on this user; the seconds slept (the throttling time the uploader reports)."""
        waited = 0.0
        while True:
            remaining = self.blocked_for()
            if remaining <= 0:
                return waited
            start = time.monotonic()
            time.sleep(remaining)
            waited += time.monotonic() - start


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**(n-1)))."""

    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(0.0, ceiling)
