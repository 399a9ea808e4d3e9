"""Per-user parallelism adapts to service protection: a 429 halves it, successes add it back one by one,
and the `x-ms-dop-hint` of the next answers does not undo the decrease."""

from __future__ import annotations

from p2c.dataverse.throttle import UserThrottle


def test_a_429_halves_and_successes_climb_back_to_the_hint() -> None:
    throttle = UserThrottle(max_parallel=16, initial_parallel=4)
    assert throttle.observe_dop_hint("8") and throttle.limit == 8
    throttle.on_throttled()
    assert throttle.limit == 4
    throttle.on_throttled()
    assert throttle.limit == 2
    assert not throttle.observe_dop_hint("8") and throttle.limit == 2  # the hint is a ceiling, not a reset
    grew = [throttle.on_success() for _ in range(2 + 3 + 4 + 5 + 6 + 7)]
    assert throttle.limit == 8  # 2 -> 3 after 2 successes, 3 -> 4 after 3, ... 7 -> 8 after 7
    assert grew.count(True) == 6
    assert not throttle.on_success() and throttle.limit == 8  # never above the hint


def test_never_below_one_and_a_lower_hint_lowers_the_ceiling() -> None:
    throttle = UserThrottle(max_parallel=16, initial_parallel=1)
    throttle.on_throttled()
    assert throttle.limit == 1
    throttle.observe_dop_hint("6")
    assert throttle.limit == 1  # still reduced after the 429: it climbs, it does not jump
    for _ in range(100):
        throttle.on_success()
    assert throttle.limit == 6
    throttle.observe_dop_hint("3")
    assert throttle.limit == 3
