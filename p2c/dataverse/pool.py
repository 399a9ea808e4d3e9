"""Spread requests over the configured application users, within each user's parallelism and holds.

`UserPool.channel()` lends out the user with the most spare capacity among those not held back by a 429.
If every user is busy or held, it waits for a request to finish or a hold to expire. So a throttled user
stops receiving new work while the others carry on, and the total parallelism is the sum of the users'.

Two limits per user:
* requests in flight, reads and writes together, stay within the `x-ms-dop-hint` (the server's advice);
* writes in flight stay within the user's adaptive limit (`UserThrottle.limit`), which service protection
  lowers: bulk writes are what spends the execution-time budget.
So reads, a fraction of a bulk write's cost, use the slots the throttled writes leave, and the uploader's
reads of the next chunk never stop its writes of this one. Reads also go first: while a read waits for a
slot, no write takes one (served after the writes, the next chunk's reads would leave them idle)."""

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
        self._in_flight = {id(c): 0 for c in self.channels}  # reads and writes
        self._writes = {id(c): 0 for c in self.channels}
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

    def _pick(self, read: bool) -> tuple[UserChannel | None, float]:
        best: UserChannel | None = None
        best_load = 0.0
        soonest = _MAX_IDLE_WAIT_S
        for channel in self.channels:
            held = channel.throttle.blocked_for()
            if held > 0:
                soonest = min(soonest, held)
                continue
            throttle = channel.throttle
            in_flight, writes = self._in_flight[id(channel)], self._writes[id(channel)]
            if in_flight >= throttle.ceiling or (not read and writes >= throttle.limit):
                continue
            load = in_flight / throttle.ceiling if read else writes / throttle.limit
            if best is None or load < best_load:
                best, best_load = channel, load
        return best, soonest

    @contextmanager
    def channel(self, *, read: bool = False) -> Iterator[UserChannel]:
        """Borrow one user for one request (or one bulk request with its retries); `read` goes first."""
        with self._cond:
            self._reads_waiting += read
            try:
                while True:
                    held_back = not read and self._reads_waiting > 0
                    chosen, wait = (None, _MAX_IDLE_WAIT_S) if held_back else self._pick(read)
                    if chosen is not None:
                        self._in_flight[id(chosen)] += 1
                        self._writes[id(chosen)] += not read
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
                self._in_flight[id(chosen)] -= 1
                self._writes[id(chosen)] -= not read
                self._cond.notify_all()

    def in_flight(self) -> dict[str, int]:
        with self._cond:
            return {c.label: self._in_flight[id(c)] for c in self.channels}

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
