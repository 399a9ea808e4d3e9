"""Spread requests over the configured application users, within each user's parallelism and holds.

`UserPool.channel()` lends out the user with the most spare capacity (in-flight requests relative to its
`x-ms-dop-hint` limit) among those not held back by a 429. If every user is busy or held, it waits for
a request to finish or a hold to expire. So a throttled user stops receiving new work while the others
carry on, and the total parallelism is the sum of the users' limits."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from p2c.dataverse.http import UserChannel

_MAX_IDLE_WAIT_S = 0.5  # re-check holds at least this often (a hold expiring wakes nobody by itself)


class UserPool:
    def __init__(self, channels: Sequence[UserChannel]) -> None:
        if not channels:
            raise ValueError("a pool needs at least one user")
        self.channels = list(channels)
        self._in_flight = {id(c): 0 for c in self.channels}
        self._cond = threading.Condition()

    def notify(self) -> None:
        """A limit grew: let waiting callers look again."""
        with self._cond:
            self._cond.notify_all()

    @property
    def total_limit(self) -> int:
        return sum(c.throttle.limit for c in self.channels)

    @property
    def max_total_parallel(self) -> int:
        return sum(c.throttle.max_parallel for c in self.channels)

    def _pick(self) -> tuple[UserChannel | None, float]:
        best: UserChannel | None = None
        best_load = 0.0
        soonest = _MAX_IDLE_WAIT_S
        for channel in self.channels:
            held = channel.throttle.blocked_for()
            if held > 0:
                soonest = min(soonest, held)
                continue
            in_flight = self._in_flight[id(channel)]
            if in_flight >= channel.throttle.limit:
                continue
            load = in_flight / channel.throttle.limit
            if best is None or load < best_load:
                best, best_load = channel, load
        return best, soonest

    @contextmanager
    def channel(self) -> Iterator[UserChannel]:
        """Borrow one user for one request (or one bulk request with its retries)."""
        with self._cond:
            while True:
                chosen, wait = self._pick()
                if chosen is not None:
                    self._in_flight[id(chosen)] += 1
                    break
                self._cond.wait(timeout=max(wait, 0.001))
        try:
            yield chosen
        finally:
            with self._cond:
                self._in_flight[id(chosen)] -= 1
                self._cond.notify_all()

    def in_flight(self) -> dict[str, int]:
        with self._cond:
            return {c.label: self._in_flight[id(c)] for c in self.channels}

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
