"""Spread requests over the application users: lend the least busy user not held back by a 429, or wait.
Each user's `UserThrottle` counts what is lent to it; the pool only chooses (docs/requests.md)."""

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
        self._cond = threading.Condition()
        self._reads_waiting = 0

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

    def _pick(self, read: bool, users: frozenset[str] | None) -> tuple[UserChannel | None, float]:
        best: UserChannel | None = None
        best_load = 0.0
        soonest = _MAX_IDLE_WAIT_S
        for channel in self.channels:
            if users is not None and channel.label not in users:
                continue
            held = channel.throttle.blocked_for()
            if held > 0:
                soonest = min(soonest, held)
                continue
            load = channel.throttle.load(read)
            if load is not None and (best is None or load < best_load):
                best, best_load = channel, load
        return best, soonest

    @contextmanager
    def channel(self, *, read: bool = False, users: frozenset[str] | None = None) -> Iterator[UserChannel]:
        """Borrow one user for one request (or one bulk request with its retries); `read` goes first;
        `users` (labels) limits the choice to the users allowed to send it."""
        if users is not None and not any(c.label in users for c in self.channels):
            raise ValueError(f"none of the users {sorted(users)} is in the pool")
        with self._cond:
            self._reads_waiting += read
            try:
                while True:
                    held_back = not read and self._reads_waiting > 0
                    chosen, wait = (None, _MAX_IDLE_WAIT_S) if held_back else self._pick(read, users)
                    if chosen is not None:
                        chosen.throttle.lend(read)
                        break
                    self._cond.wait(timeout=max(wait, 0.001))
            finally:
                self._reads_waiting -= read
                if read and not self._reads_waiting:
                    self._cond.notify_all()  # the writes held back for it may go
        try:
            yield chosen
        finally:
            with self._cond:
                chosen.throttle.give_back(read)
                self._cond.notify_all()

    def in_flight(self) -> dict[str, int]:
        """Requests lent to each user now (asked of the users' throttles)."""
        return {c.label: c.throttle.borrowed()[0] for c in self.channels}

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
