"""Per-user service protection state: how many requests may run at once, and until when to hold off.

Dataverse counts its limits per user and per web server, and answers 429 with `Retry-After` (seconds)
when one is exceeded. The wait applies to that user only: other application users keep working.
The degree of parallelism comes from the `x-ms-dop-hint` response header ("performance worsens if you
send more parallel requests than the response header recommends"), capped by the client's option and
always below the concurrency limit of 52."""

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
            new_limit = max(1, min(hint, self.max_parallel))
            changed = new_limit != self._limit
            self._limit = new_limit
            return changed

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
