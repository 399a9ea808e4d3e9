"""Service protection (429 + Retry-After, per user), the cost ceiling, and injected faults."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
from emulator_fixtures import api_session, msal_token, trusting_session

from p2c.emulator import EmulatorState, Limits, parse_faults, parse_limits, running_emulator
from p2c.errors import UsageError


def test_limits_spec_parsing() -> None:
    limits = parse_limits("requests=600,window=10,execution=120,concurrency=52,cost_ms=5,dop=8")
    assert limits == Limits(600, 10.0, 120.0, 52, 5.0, 8)
    assert limits.ceiling_records_per_second(batch_size=100) == 2400
    assert limits.ceiling_records_per_second(batch_size=1) == 60
    assert limits.ceiling_records_per_second(batch_size=100, parallel=4) == 800
    assert parse_limits(None) == Limits()
    for bad in ("requests=lots", "speed=3", "window=0", "requests"):
        with pytest.raises(UsageError):
            parse_limits(bad)


def test_faults_spec_parsing() -> None:
    faults = parse_faults("429=0.10,503=0.05,drop=0.02,latency_ms=20,token_lifetime=30")
    assert (faults.throttle, faults.unavailable, faults.drop, faults.latency_ms, faults.token_lifetime) == (
        0.10,
        0.05,
        0.02,
        20.0,
        30,
    )
    assert parse_faults(None).token_lifetime == 3600
    for bad in ("429=2", "drop=-0.1", "429=0.6,503=0.6", "teapot=0.1", "token_lifetime=0", "503=x"):
        with pytest.raises(UsageError):
            parse_faults(bad)


def test_request_count_limit_gives_429_with_retry_after_per_user(tmp_path: Path) -> None:
    with running_emulator(
        tmp_path / "s.sqlite", limits="requests=3,window=30", extra_users=[("second-app", "second-secret")]
    ) as emulator:
        first = api_session(emulator)
        statuses = [first.get(emulator.service_root + "WhoAmI").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = first.get(emulator.service_root + "WhoAmI")
        assert refused.json()["error"]["code"] == "0x80072322"
        assert 1 <= int(refused.headers["Retry-After"]) <= 30
        assert refused.headers["x-ms-dop-hint"] == "8"
        second = api_session(emulator, "second-app")  # its own budget
        assert second.get(emulator.service_root + "WhoAmI").status_code == 200


def test_execution_time_limit(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "s.sqlite", limits="execution=0.05,window=30,cost_ms=30") as emulator:
        api = api_session(emulator)
        kind = "Microsoft.Dynamics.CRM.quote"
        began = time.monotonic()
        done = api.post(
            emulator.service_root + "quotes/Microsoft.Dynamics.CRM.CreateMultiple",
            json={"Targets": [{"@odata.type": kind, "name": "a"}, {"@odata.type": kind, "name": "b"}]},
        )
        assert done.status_code == 200
        assert time.monotonic() - began >= 0.06  # 2 records x 30 ms were really spent
        refused = api.get(emulator.service_root + "WhoAmI")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "0x80072321"
        assert int(refused.headers["Retry-After"]) >= 1


def test_a_request_is_charged_its_work_not_its_waiting() -> None:
    """Execution time = the serving thread's CPU time + the modelled cost of its writes: time a request
    spends waiting (for the interpreter lock, a database lock, the machine) is not billed to it."""
    from p2c.emulator.limits import ServiceProtection

    protection = ServiceProtection(Limits(execution=100, window=10, cost_ms=10))
    protection.admit("app")
    time.sleep(0.3)  # waiting, as a thread does when the other threads hold the interpreter
    protection.charge_records(4)  # 4 x 10 ms of modelled work
    charged = protection.release("app")
    assert 0.04 <= charged < 0.1, charged

    protection.admit("app")
    sum(i * i for i in range(300_000))  # real CPU work is charged
    busy = protection.release("app")
    assert busy > 0.005, busy


def test_concurrency_limit(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "s.sqlite", limits="concurrency=1,cost_ms=300") as emulator:
        api = api_session(emulator)
        results: list[int] = []

        def create() -> None:
            results.append(api.post(emulator.service_root + "accounts", json={"name": "slow"}).status_code)

        worker = threading.Thread(target=create)
        worker.start()
        time.sleep(0.15)
        busy = api.get(emulator.service_root + "WhoAmI")
        worker.join()
        assert busy.status_code == 429
        assert busy.json()["error"]["code"] == "0x80072326"
        assert results == [204]


def test_faults_refuse_before_writing(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "s.sqlite", faults="429=0.5,503=0.5") as emulator:
        api = api_session(emulator)
        statuses = {
            api.post(emulator.service_root + "accounts", json={"name": "x"}).status_code for _ in range(12)
        }
        assert statuses == {429, 503}
        assert EmulatorState(emulator.state).api_writes("create") == 0


def test_drops_happen_before_and_after_writes(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "s.sqlite", faults="drop=1", seed=7) as emulator:
        api = api_session(emulator)
        dropped = 0
        for number in range(16):
            with pytest.raises(requests.ConnectionError):
                api.post(emulator.service_root + "accounts", json={"name": f"drop {number}"})
            dropped += 1
        applied = EmulatorState(emulator.state).api_writes("create", "account")
        assert dropped == 16
        assert 0 < applied < 16  # some writes were done although the client never got an answer


def test_latency_and_token_lifetime(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "s.sqlite", faults="latency_ms=150,token_lifetime=1") as emulator:
        result = msal_token(emulator)
        assert result["expires_in"] == 1
        session = trusting_session(emulator)
        headers = {"Authorization": f"Bearer {result['access_token']}"}
        began = time.monotonic()
        assert session.get(emulator.service_root + "WhoAmI", headers=headers).status_code == 200
        assert time.monotonic() - began >= 0.15
        time.sleep(1.1)
        assert session.get(emulator.service_root + "WhoAmI", headers=headers).status_code == 401


def test_the_most_records_of_a_run_are_the_rate_over_whole_windows_and_a_burst_into_the_last() -> None:
    # 20 s of execution per 5 s, 5 ms per record, 8 requests of 100 in flight: 800 records/s
    limits = Limits(requests=100, window=5.0, execution=20.0, concurrency=52, cost_ms=5.0, dop=8)
    rate = limits.ceiling_records_per_second(batch_size=100, parallel=8)
    assert rate == 800
    for windows in (1, 2, 5):
        assert limits.most_records(5.0 * windows, batch_size=100, parallel=8) == pytest.approx(
            rate * 5 * windows
        )
    # 1.5 s into the sixth window: 8 in flight charge 12 s of the next 20
    assert limits.most_records(26.5, batch_size=100, parallel=8) == pytest.approx((5 * 20 + 12) * 200)
    # 3 s into it the burst has the whole window's 20 s
    assert limits.most_records(28.0, batch_size=100, parallel=8) == pytest.approx(6 * 20 * 200)
    # single requests: the request count binds (100 per window, one record each)
    assert limits.most_records(26.5, batch_size=1, parallel=8) == 600
    # fewer in flight than the budget needs: they bind in every window
    assert limits.most_records(10.0, batch_size=100, parallel=2) == pytest.approx(2 * 10 * 200)


def test_the_least_time_of_a_job_is_the_inverse_of_the_most_records_of_a_run() -> None:
    limits = Limits(requests=100, window=5.0, execution=20.0, concurrency=52, cost_ms=5.0, dop=8)
    # 20,000 records = 100 s of execution: four whole windows (80 s), then 20 s at 8 s per second
    assert limits.least_seconds(20_000, batch_size=100, parallel=8) == pytest.approx(22.5)
    for records in (1, 999, 4_000, 20_000, 55_555):
        seconds = limits.least_seconds(records, batch_size=100, parallel=8)
        assert limits.most_records(seconds, batch_size=100, parallel=8) == pytest.approx(records)
        assert limits.most_records(seconds * 0.99, batch_size=100, parallel=8) < records
    # one record per request: 100 requests per window bind, not the execution time
    assert limits.least_seconds(450, batch_size=1, parallel=8) == pytest.approx(20.0)
