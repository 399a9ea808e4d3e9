"""Per-user parallelism adapts to service protection: one cut per throttling event, a search for the
highest level that runs without 429s, and the `x-ms-dop-hint` of the next answers does not undo it."""

from __future__ import annotations

import time

from p2c.dataverse.throttle import PROVEN_ROUNDS, RELAX_ROUNDS, UserThrottle


def _throttled(throttle: UserThrottle, answers: int = 1) -> None:
    """A throttling event: the first 429 holds the user, the others were in flight and answer during it."""
    throttle.hold_for(0.02)
    for _ in range(answers):
        throttle.on_throttled()
    time.sleep(0.03)


def test_a_burst_of_429s_is_one_cut_and_the_search_settles_below_the_failed_level() -> None:
    throttle = UserThrottle(max_parallel=16, initial_parallel=4)
    assert throttle.observe_dop_hint("8") and throttle.limit == 8
    _throttled(throttle, answers=8)
    assert throttle.limit == 4  # half of 8, once, not 8 -> 1
    assert not throttle.observe_dop_hint("8") and throttle.limit == 4  # the hint is a ceiling, not a reset
    grew = [throttle.on_success() for _ in range(PROVEN_ROUNDS * 4)]
    assert grew.count(True) == 1 and grew[-1] and throttle.limit == 6  # 4 proved itself: halfway to 8
    _throttled(throttle)
    assert throttle.limit == 4  # back to the level that held
    for _ in range(PROVEN_ROUNDS * 4):
        throttle.on_success()
    assert throttle.limit == 5  # halfway to 6, at least one more
    _throttled(throttle)
    assert throttle.limit == 4
    quiet = [throttle.on_success() for _ in range(RELAX_ROUNDS * 4)]
    assert quiet.count(True) == 1 and quiet[-1] and throttle.limit == 5  # 5 is tried again, much later
    for _ in range(PROVEN_ROUNDS * 5):
        throttle.on_success()
    _throttled(throttle)
    assert throttle.limit == 5  # 5 has held for many round trips: the budget is used up, the hold is enough


def test_before_any_429_no_level_counts_as_proven() -> None:
    """A sliding window starts with its whole budget unspent: a level that runs without 429s then proves
    nothing, so the first 429 still halves instead of keeping a level the budget cannot sustain."""
    throttle = UserThrottle(max_parallel=16, initial_parallel=8)
    for _ in range(PROVEN_ROUNDS * 8 * 4):
        throttle.on_success()
    _throttled(throttle)
    assert throttle.limit == 4


def test_never_below_one_never_above_the_hint_and_a_lower_hint_lowers_the_ceiling() -> None:
    throttle = UserThrottle(max_parallel=16, initial_parallel=1)
    _throttled(throttle)
    assert throttle.limit == 1
    throttle.observe_dop_hint("6")
    assert throttle.limit == 1  # still searching after the 429: it climbs, it does not jump
    grew = [throttle.on_success() for _ in range(5000)]
    assert throttle.limit == 6 and grew.count(True) == 5  # the failure is forgotten one level at a time
    throttle.observe_dop_hint("3")
    assert throttle.limit == 3


def test_a_waiting_read_takes_the_next_free_slot_before_waiting_writes() -> None:
    """The uploader reads the next chunk while it writes this one: a read waiting for a slot goes first."""
    import threading
    from types import SimpleNamespace

    from p2c.dataverse.pool import UserPool

    user = SimpleNamespace(label="app", throttle=UserThrottle(max_parallel=1, initial_parallel=1))
    pool = UserPool([user])  # type: ignore[list-item]
    order: list[str] = []
    lock = threading.Lock()

    def borrow(kind: str) -> None:
        with pool.channel(read=kind == "read"):
            with lock:
                order.append(kind)
            time.sleep(0.05)

    with pool.channel():  # the one slot is taken
        writers = [threading.Thread(target=borrow, args=("write",)) for _ in range(3)]
        for thread in writers:
            thread.start()
        time.sleep(0.1)  # the writes wait first
        reader = threading.Thread(target=borrow, args=("read",))
        reader.start()
        time.sleep(0.1)
    for thread in [*writers, reader]:
        thread.join(timeout=5)
    assert order[0] == "read", order
    assert sorted(order) == ["read", "write", "write", "write"]


def test_the_users_throttle_owns_the_counts_the_pool_lends_by() -> None:
    """One owner of the requests in flight per user (issue 19, item 5): the pool asks the throttle."""
    from types import SimpleNamespace

    from p2c.dataverse.pool import UserPool

    user = SimpleNamespace(label="app", throttle=UserThrottle(max_parallel=4, initial_parallel=2))
    pool = UserPool([user])  # type: ignore[list-item]
    with pool.channel(read=True), pool.channel():
        assert user.throttle.borrowed() == (2, 1)  # requests lent to this user, writes among them
        assert pool.in_flight() == {"app": 2}
    assert user.throttle.borrowed() == (0, 0) and pool.in_flight() == {"app": 0}


def test_throttled_clock_counts_concurrent_holds_once() -> None:
    """Four requests held together for 0.3 s are 0.3 s on the clock and 1.2 request-seconds (item 4)."""
    import threading

    from p2c.dataverse.throttle import HoldClock

    clock = HoldClock()
    throttle = UserThrottle(max_parallel=8, initial_parallel=8, clock=clock)
    throttle.hold_for(0.3)
    waits: list[float] = []

    def send() -> None:
        waits.append(throttle.wait_until_open())
        throttle.answered()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 0.25 <= clock.clock_s() < 0.45
    assert 1.0 <= clock.request_s() < 1.8
    assert abs(clock.request_s() - sum(waits)) < 1e-6
