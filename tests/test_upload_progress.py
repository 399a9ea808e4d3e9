"""The progress of `p2c plan`/`p2c upload` (p2c/upload/progress.py) and the throttled time on the clock
(p2c/upload/runner.py HeldClock): bars move per answered request, and throttling, retries and an unreachable
service show on a status line."""

from __future__ import annotations

import io

from rich.console import Console

from p2c.upload.progress import RunWatch, TableBars
from p2c.upload.runner import HeldClock


def _bars() -> tuple[TableBars, io.StringIO]:
    out = io.StringIO()
    return TableBars(Console(file=out, force_terminal=True, width=160)), out


def test_concurrent_holds_count_once_on_the_clock() -> None:
    clock = HeldClock()
    for _ in range(16):
        clock.hold(100.0, 30.0)  # sixteen requests held for the same 30 s
    clock.hold(120.0, 20.0)  # overlaps the end: the clock runs to 140
    clock.hold(200.0, 5.0)  # apart
    assert clock.seconds == 45.0
    assert clock.request_seconds == 16 * 30.0 + 20.0 + 5.0


def test_bars_advance_per_answered_request_before_the_chunk_is_recorded() -> None:
    bars, _ = _bars()
    with bars:
        bars.start_table("account", 2000, "accounts")
        bars.answered("accounts", 100, True)
        bars.answered("accounts", 100, False)
        assert bars.completed("account") == 200
        # the chunk of 2,000 rows is recorded: 200 of its rows were already counted from their requests
        bars.advance("account", 2000, 0.0, sent=1800)
        assert bars.completed("account") == 2000


def test_without_answered_events_the_bars_advance_per_chunk() -> None:
    watch = RunWatch()
    watch.start_table("contact", 3000, "contacts")
    watch.advance("contact", 500, 0.0, sent=500)
    watch.advance("contact", 1000, 0.0, sent=0)
    assert watch.completed("contact") == 1500


def test_throttling_retries_and_an_unreachable_service_show_on_the_status_line() -> None:
    bars, out = _bars()
    with bars:
        bars.start_table("account", 10, "accounts")
        assert bars.status() == ""
        bars.throttled("app-user-1", 30.0)
        bars.throttled("app-user-2", 30.0)
        bars.retrying("PATCH accounts(...)", 2, "503 Service Unavailable")
        bars.unreachable(42.0, 300.0)
        status = bars.status()
        assert "throttled: 2 hold(s)" in status
        assert "1 retry (last: PATCH accounts(...) (attempt 2): 503 Service Unavailable)" in status
        assert "service unreachable for 42 s (trying until 300 s)" in status
        bars._progress.refresh()
        assert "service unreachable" in out.getvalue()
        bars.reachable()
        assert "unreachable" not in bars.status()
    assert 29.0 <= bars.held.seconds <= 31.0
