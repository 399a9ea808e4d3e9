"""The budget mirror: the limits a 429 names, requests sent only while the service would admit them once
they are known, calibration from a 429 only while pacing, probing for the budget of several web servers,
and no parallelism cut for a 429 that named its limit."""

from __future__ import annotations

import math
from collections import deque

import pytest

from p2c.dataverse.budget import (
    CALIBRATION_MARGIN,
    PROBE_AFTER_WINDOWS,
    PROBE_STEP,
    BudgetMirror,
    WindowLimit,
    limit_from_throttling,
)
from p2c.dataverse.throttle import UserThrottle

EXECUTION_MESSAGE = (
    "Combined execution time of incoming requests exceeded limit of 1,200,000  milliseconds over time window "
    "of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again "
    "later."
)


def test_the_documented_messages_name_their_limits() -> None:
    assert limit_from_throttling("0x80072321", EXECUTION_MESSAGE) == WindowLimit("execution", 1200.0, 300.0)
    assert limit_from_throttling(
        "0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
    ) == WindowLimit("requests", 6000.0, 300.0)
    # the concurrency limit has no window; a message in another wording teaches nothing
    concurrency = "Number of concurrent requests exceeded the limit of 52."
    assert limit_from_throttling("0x80072326", concurrency) is None
    assert limit_from_throttling("0x80072321", "Zu viele Anfragen.") is None
    assert limit_from_throttling("", EXECUTION_MESSAGE) is None
    assert limit_from_throttling("0x80072321", EXECUTION_MESSAGE.replace("1,200,000", "1.200.000")) is None


def test_before_any_limit_is_known_the_history_stays_bounded() -> None:
    """A load that is never throttled keeps only the last HISTORY_S seconds of answers, not all of them."""
    from p2c.dataverse.budget import HISTORY_S

    mirror = BudgetMirror()
    for second in range(int(3 * HISTORY_S)):
        mirror.started(float(second), read=False)
        mirror.answered(second + 0.5, 0.5, read=False)
    assert not mirror.active
    assert len(mirror._spent) <= HISTORY_S + 1 and len(mirror._sent) <= HISTORY_S + 1


def test_a_request_is_counted_at_the_fastest_of_its_kind_not_at_the_queueing_it_waited_through() -> None:
    """The same UpdateMultiple waits 0.50 to 0.85 s depending on what else is in flight; the service charges
    the 0.5 s of work. Reads are counted apart: their short waits do not make a write look cheap."""
    mirror = BudgetMirror()
    waits = [0.5 + 0.05 * (i % 8) for i in range(32)]
    for i, wait in enumerate(waits):
        mirror.started(float(i), read=True)
        mirror.answered(i + 0.02, 0.02, read=True)
        mirror.started(float(i), read=False)
        mirror.answered(i + wait, wait, read=False)
    reads = 32 * 0.02
    # counted at the waits, the writes alone would be 21.6 s
    assert 32 * 0.5 + reads <= mirror._spent_total <= 32 * 0.56 + reads


def test_the_small_pieces_of_a_split_request_do_not_make_a_whole_one_look_cheap() -> None:
    """A failing UpdateMultiple of 100 rows is split until the bad row is alone: 50, 25, ... 1 rows, answered
    in a fraction of the whole's 0.5 s. Counted against all writes alike, their quick answers would count
    the next whole requests at a few milliseconds, and the mirror would send into a full window."""
    mirror = BudgetMirror()
    for i in range(8):
        mirror.started(float(i), read=False)
        mirror.answered(i + 0.5, 0.5, read=False, records=100)
    at = 8.0
    for size in (50, 25, 12, 6, 3, 2, 1) * 4:  # four split requests, seven pieces each
        mirror.started(at, read=False)
        mirror.answered(at + 0.005 * size, 0.005 * size, read=False, records=size)
        at += 0.3
    spent = mirror._spent_total
    for i in range(8):
        mirror.started(at + i, read=False)
        mirror.answered(at + i + 0.5, 0.5, read=False, records=100)
    # counted at the fastest of their own kind and size (against all writes alike: 8 x 0.005 s)
    assert mirror._spent_total - spent == pytest.approx(8 * 0.5)


def test_a_refused_request_is_not_counted_and_does_not_make_its_kind_look_cheap() -> None:
    """A 429 comes back in milliseconds and the service charged nothing for it: counting its wait would add
    to the window and pull the estimate of a write's charge down to the 429's few milliseconds."""
    mirror = BudgetMirror()
    for i in range(16):
        mirror.started(float(i), read=False)
        mirror.answered(i + 0.5, 0.5, read=False)
    spent, typical = mirror._spent_total, mirror._typical[False]
    for i in range(16):
        mirror.started(16.0 + i * 0.01, read=False)
    for i in range(16):
        mirror.answered(16.01 + i * 0.01, 0.005, read=False, charged=False)
    assert mirror._spent_total == pytest.approx(spent)
    assert mirror._typical[False] == pytest.approx(typical)
    assert not mirror._in_flight[False]  # the refused requests are no longer in flight either
    mirror.started(17.0, read=False)
    mirror.answered(17.5, 0.5, read=False)
    assert mirror._spent_total == pytest.approx(spent + 0.5)  # counted at its own wait, not at a 429's


def _mirror_with(spent: list[tuple[float, float]], limit: WindowLimit, typical: float) -> BudgetMirror:
    mirror = BudgetMirror()
    for answered_at, seconds in spent:
        mirror.started(answered_at - seconds, read=False)
        mirror.answered(answered_at, seconds, read=False)
    mirror._typical[False] = typical  # the running average, set exactly for the arithmetic below
    mirror.learn(limit, now=spent[-1][0] if spent else 0.0)
    return mirror


def test_a_request_waits_until_the_window_has_room_when_it_will_be_charged() -> None:
    limit = WindowLimit("execution", 2.0, 5.0)
    # 2 s spent: one second at t=1, another at t=2 -> full
    mirror = _mirror_with([(1.0, 1.0), (2.0, 1.0)], limit, typical=1.0)
    # at t=3 the service sees 2 s in its window: refused now, and until the entry of t=1 leaves (t=6)
    assert mirror.wait_s(3.0, read=False) == pytest.approx(3.0)
    # at t=6 the first entry has left: 1 s spent; one more second fits, whenever it lands
    assert mirror.wait_s(6.0, read=False) == 0.0


def test_a_request_goes_while_the_service_would_admit_it_and_counts_what_should_have_ended() -> None:
    limit = WindowLimit("execution", 3.0, 5.0)
    # 2 s of 3 spent, plus one request of 1 s in flight since t=2.5
    mirror = _mirror_with([(1.0, 1.0), (2.0, 1.0)], limit, typical=1.0)
    mirror.started(2.5, read=False)
    # the service admits it now (2 < 3): it goes, although the window will be over the limit once both
    # have ended (3.5 s of 3): the service charges at the end and refuses only a request that arrives while
    # the window is full, and none is sent until it is under the limit again
    assert mirror.wait_s(2.6, read=False) == 0.0
    mirror.started(2.6, read=False)
    # at t=3.7 both should have ended (their answers are on the way): the service's window is full, 4 s;
    # it is under the limit once more than 1 s has left, i.e. after the entries of t=1 and t=2 (t=7)
    assert mirror.wait_s(3.7, read=False) == pytest.approx(7.0 - 3.7)


def test_a_429_calibrates_the_account_only_while_the_mirror_paces_at_an_allowance_that_held() -> None:
    """The service said full while the mirror counted 24 s of 20: when the mirror was pacing, it counts a
    fifth dearer than the service. Before the limit was known, or during a probe, it overran on purpose,
    and a later 429 of the same event is an answer to a request sent before it: neither says anything."""
    limit = WindowLimit("execution", 20.0, 5.0)

    def counted_24(mirror: BudgetMirror, now: float) -> BudgetMirror:
        for i in range(48):
            mirror.started(now - 4.0 + i * 0.05, read=False)
            mirror.answered(now - 3.5 + i * 0.05, 0.5, read=False)
        return mirror

    unknown = counted_24(BudgetMirror(), 10.0)
    unknown.learn(limit, 10.0)
    assert unknown.execution_scale == 1.0  # the initial burst
    pacing = BudgetMirror()
    pacing.learn(limit, 0.0)
    counted_24(pacing, 10.0).learn(limit, 10.0, first=False)
    assert pacing.execution_scale == 1.0  # not the first 429 of its event
    pacing.learn(limit, 10.0)
    assert pacing.execution_scale == pytest.approx(24 / 20 * CALIBRATION_MARGIN)
    probing = BudgetMirror()
    probing.learn(limit, 0.0)
    probing.allowance = PROBE_STEP
    counted_24(probing, 10.0).learn(limit, 10.0)
    assert probing.execution_scale == 1.0 and probing.allowance == 1.0


def test_the_request_count_limit_spaces_the_sends() -> None:
    mirror = BudgetMirror()
    mirror.learn(WindowLimit("requests", 3, 1.0), now=0.0)
    for at in (0.0, 0.1, 0.2):
        assert mirror.wait_s(at, read=True) == 0.0
        mirror.started(at, read=True)
        mirror.answered(at + 0.01, 0.01, read=True)
    assert mirror.wait_s(0.3, read=True) == pytest.approx(0.7)  # until the send of t=0 leaves the window
    assert mirror.wait_s(1.0, read=True) == 0.0


def _at_limit(mirror: BudgetMirror, now: float) -> float:
    """Fill the 1 s window just before `now` (five requests of the typical 0.5 s: more than any allowance
    of the test allows), then ask."""
    for _ in range(5):
        mirror.started(now - 0.6, read=False)
        mirror.answered(now - 0.1, 0.5, read=False)
    return mirror.wait_s(now, read=False)


def test_probing_allows_more_after_quiet_windows_and_a_429_takes_it_back() -> None:
    limit = WindowLimit("execution", 1.0, 1.0)
    mirror = _mirror_with([], limit, typical=0.5)
    assert _at_limit(mirror, 10.0) > 0  # held back: the limit is reached (the clock starts)
    assert _at_limit(mirror, 10.0 + PROBE_AFTER_WINDOWS - 0.5) > 0 and mirror.allowance == 1.0
    _at_limit(mirror, 10.0 + PROBE_AFTER_WINDOWS)  # PROBE_AFTER_WINDOWS windows at the limit, no 429
    assert mirror.allowance == pytest.approx(PROBE_STEP)
    mirror.learn(limit, now=13.0)  # the probe drew a 429: a single web server
    assert mirror.allowance == 1.0
    _at_limit(mirror, 13.5)
    _at_limit(mirror, 13.5 + PROBE_AFTER_WINDOWS)
    assert mirror.allowance == 1.0  # the next probe waits twice as long
    _at_limit(mirror, 13.5 + 2 * PROBE_AFTER_WINDOWS)
    smaller = 1 + (PROBE_STEP - 1) / 2
    assert mirror.allowance == pytest.approx(smaller)  # and with half the step
    # that probe holds through its (doubled) interval without a 429: the next is twice as bold, and the one
    # after it comes after the first interval again
    _at_limit(mirror, 13.6 + 2 * PROBE_AFTER_WINDOWS)
    _at_limit(mirror, 13.61 + 4 * PROBE_AFTER_WINDOWS)
    assert mirror.allowance == pytest.approx(smaller * PROBE_STEP)
    _at_limit(mirror, 13.71 + 4 * PROBE_AFTER_WINDOWS)
    _at_limit(mirror, 13.72 + 5 * PROBE_AFTER_WINDOWS)
    assert mirror.allowance == pytest.approx(smaller * PROBE_STEP * (1 + (PROBE_STEP - 1) * 2))


def test_a_429_that_names_its_limit_does_not_cut_the_parallelism_one_that_does_not_does() -> None:
    named = UserThrottle(max_parallel=16, initial_parallel=4)
    named.observe_dop_hint("8")
    named.hold_for(0.01)
    named.on_throttled(limit_from_throttling("0x80072321", EXECUTION_MESSAGE))
    assert named.limit == 8 and named.budget.active
    unnamed = UserThrottle(max_parallel=16, initial_parallel=4)
    unnamed.observe_dop_hint("8")
    unnamed.hold_for(0.01)
    unnamed.on_throttled(None)
    assert unnamed.limit == 4 and not unnamed.budget.active


def _service_run(
    pace: bool, *, requests: int = 200, cost: float = 0.5, latency: float = 0.02, charged_share: float = 1.0
) -> dict[str, float]:
    """A model of one user against the service's execution-time window (as `p2c.emulator.limits` applies it:
    admitted while the finished charges in the window are under the limit, charged when a request ends,
    429 with a whole-second Retry-After), 8 requests in flight at most. Time steps of 2 ms. Each request
    takes `cost` on the server, of which the service charges `charged_share` (the rest is waiting)."""
    window_s, limit, dop, step = 5.0, 20.0, 8, 0.002
    mirror = BudgetMirror()
    charged: deque[tuple[float, float]] = deque()
    in_flight: list[tuple[float, float]] = []  # (answered at, sent at)
    now, held_until, done, sent, throttled, worst = 0.0, 0.0, 0, 0, 0, 0.0
    while done < requests:
        for answer in [a for a in in_flight if a[0] <= now]:
            in_flight.remove(answer)
            charged.append((now - latency, cost * charged_share))
            mirror.answered(now, now - answer[1], read=False)
            done += 1
        while charged and charged[0][0] <= now - window_s:
            charged.popleft()
        total = sum(seconds for _, seconds in charged)
        worst = max(worst, total) if throttled else worst
        while sent < requests and now >= held_until and len(in_flight) < dop:
            if pace and mirror.active and mirror.wait_s(now, read=False) > 0:
                break
            if total >= limit:
                excess, wait = total - limit, 0.0
                for end, seconds in charged:
                    excess, wait = excess - seconds, end + window_s - now
                    if excess < 0:
                        break
                held_until, throttled = now + max(1, math.ceil(wait)), throttled + 1
                if pace:
                    mirror.learn(WindowLimit("execution", limit, window_s), now)
                break
            mirror.started(now, read=False)
            in_flight.append((now + cost + latency, now))
            sent += 1
        now += step
    return {"seconds": now, "throttled": throttled, "worst_window": worst}


def test_against_the_service_model_the_mirror_avoids_holds_and_finishes_no_later() -> None:
    held = _service_run(pace=False)
    paced = _service_run(pace=True)
    # without the mirror every overrun of the window is a whole-second hold; with it, after the first 429
    # only the probes for a second web server draw one
    assert paced["throttled"] <= held["throttled"] / 2
    assert paced["worst_window"] <= 20.0 + 8 * 0.5  # the limit plus what was in flight at the first 429
    # 200 x 0.5 s of execution at 4 s per second after the first 20 s of credit: 20 s at the very least
    assert paced["seconds"] < held["seconds"]
    assert paced["seconds"] < 25.0
    long_held, long_paced = _service_run(pace=False, requests=1000), _service_run(pace=True, requests=1000)
    assert long_paced["throttled"] <= long_held["throttled"] / 4
    assert long_paced["seconds"] < long_held["seconds"]


def test_a_mirror_that_counts_dearer_than_the_service_finds_the_budget_by_probing() -> None:
    """The client waits 0.52 s for a request the service charges 0.375 s: counting wall time, the mirror
    holds back with a quarter of the budget unused and no 429 comes to say so. Its probes (more allowed
    after two windows at its limit) find the rest: the same requests take over a fifth less time than when
    the service charges the whole 0.5 s, with a 429 for each probe that went too far."""
    cheaper = _service_run(pace=True, charged_share=0.75, requests=1000)
    whole = _service_run(pace=True, charged_share=1.0, requests=1000)
    assert cheaper["seconds"] < whole["seconds"] * 0.8
    assert cheaper["throttled"] <= 6
