"""How the client behaves on the wire: retries, Retry-After, 401 refresh, headers, cookies, parallelism."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from test_dataverse_support import (
    API,
    DROP,
    FAST,
    STATIC_TOKEN,
    FakeDataverse,
    Reply,
    error_reply,
    make_client,
)
from test_dataverse_support import fake as fake

from p2c.dataverse import (
    AuthenticationError,
    BulkMode,
    ClientOptions,
    DataverseClient,
    RowStatus,
    StaticTokenProvider,
    UpdateRow,
    WriteMethod,
)
from p2c.dataverse.throttle import HARD_MAX_PARALLEL, UserThrottle


@pytest.fixture
def account(fake: FakeDataverse) -> str:
    fake.add_table("account", "accounts", "accountid")
    return fake.add_record("accounts", {"name": "Contoso"})


def test_429_waits_exactly_retry_after_then_succeeds(fake: FakeDataverse, account: str) -> None:
    fake.script("PATCH", "accounts(", Reply(429, {"Retry-After": "1"}, {"error": {"code": "0x80072322"}}))
    result = make_client(fake).update("accounts", account, {"name": "Fabrikam"})
    assert result.status is RowStatus.UPDATED and result.http_status == 204
    assert result.attempts == 2
    assert 0.95 <= result.throttle_wait_s < 1.5
    first, second = fake.seen("PATCH")
    assert 0.95 <= second.at - first.at < 1.5
    assert fake.records["accounts"][account]["name"] == "Fabrikam"


def test_5xx_is_retried_with_backoff(fake: FakeDataverse, account: str) -> None:
    fake.script("PATCH", "accounts(", Reply(503), error_reply(502, "", "Bad gateway"))
    result = make_client(fake).update("accounts", account, {"name": "x"})
    assert result.ok and result.attempts == 3 and result.throttle_wait_s == 0


def test_503s_in_a_row_are_an_outage_waited_out_not_a_failed_row(fake: FakeDataverse, account: str) -> None:
    fake.script("PATCH", "accounts(", *[Reply(503)] * 10)
    result = make_client(fake).update("accounts", account, {"name": "x"})
    assert result.ok and result.attempts == 11  # more than max_attempts: the outage budget decides


def test_dropped_connection_is_retried(fake: FakeDataverse, account: str) -> None:
    fake.script("PATCH", "accounts(", DROP, DROP)
    result = make_client(fake).update("accounts", account, {"name": "after drops"})
    assert result.ok and result.attempts == 3
    assert fake.records["accounts"][account]["name"] == "after drops"


def test_read_timeout_is_retried(fake: FakeDataverse, account: str) -> None:
    options = ClientOptions(read_timeout_s=0.2, backoff_base_s=0.01, max_attempts=3)
    fake.script("PATCH", "accounts(", Reply(204, delay_s=0.6))
    result = make_client(fake, options).update("accounts", account, {"name": "x"})
    assert result.ok and result.attempts == 2


def test_400_is_not_retried_and_carries_the_dataverse_error(fake: FakeDataverse, account: str) -> None:
    fake.script("PATCH", "accounts(", error_reply(400, "0x80044331", "A validation error occurred."))
    result = make_client(fake).update("accounts", account, {"name": "x"})
    assert result.status is RowStatus.FAILED and not result.retryable
    assert (result.http_status, result.error_code, result.attempts) == (400, "0x80044331", 1)
    assert "A validation error occurred." in result.message
    assert result.method is WriteMethod.SINGLE and result.user == "user1"
    assert result.started_at <= result.finished_at
    assert len(fake.seen("PATCH")) == 1


def test_missing_record_is_a_404_never_a_create(fake: FakeDataverse, account: str) -> None:
    missing = "0f8fad5b-d9cb-469f-a165-70867728950e"
    result = make_client(fake).update("accounts", missing, {"name": "x"})
    assert (result.status, result.http_status, result.error_code) == (RowStatus.FAILED, 404, "0x80040217")
    assert missing not in fake.records["accounts"]
    (patch,) = fake.seen("PATCH")
    assert patch.headers["If-Match"] == "*"


def test_401_refreshes_the_token_once(fake: FakeDataverse, account: str) -> None:
    fake.valid_tokens.add("second-token")
    renewals: list[str] = []

    def renew() -> str:
        renewals.append("renewed")
        return "second-token"

    provider = StaticTokenProvider("expired-token", renew=renew)
    client = DataverseClient(fake.url, [provider], FAST)
    result = client.update("accounts", account, {"name": "x"})
    assert result.ok and renewals == ["renewed"]  # refreshed at sign-in, the first request with a token
    first, second = fake.seen("GET", "WhoAmI")
    assert first.headers["Authorization"] == "Bearer expired-token"
    assert second.headers["Authorization"] == "Bearer second-token"
    (patch,) = fake.seen("PATCH")
    assert patch.headers["Authorization"] == "Bearer second-token"


def test_a_second_401_fails_without_more_retries(fake: FakeDataverse, account: str) -> None:
    provider = StaticTokenProvider("bad-token", renew=lambda: "still-bad")
    client = DataverseClient(fake.url, [provider], FAST)
    with pytest.raises(AuthenticationError) as caught:
        client.whoami()
    assert caught.value.status == 401 and not caught.value.retryable
    assert caught.value.stats is not None and caught.value.stats.attempts == 2
    with pytest.raises(AuthenticationError):  # signed in it is not: no row is sent
        client.update("accounts", account, {"name": "x"})
    assert fake.seen("PATCH") == []


def test_a_401_mid_run_after_a_fresh_token_fails_that_row(fake: FakeDataverse, account: str) -> None:
    client = make_client(fake)
    client.sign_in()
    fake.script("PATCH", "accounts(", *[error_reply(401, "", "The user is not authenticated")] * 2)
    result = client.update("accounts", account, {"name": "x"})
    assert result.status is RowStatus.FAILED and result.http_status == 401 and result.attempts == 2


def test_standard_headers_and_no_affinity_cookie(fake: FakeDataverse, account: str) -> None:
    client = make_client(fake)
    client.whoami()
    client.update("accounts", account, {"name": "x"})
    get, patch = fake.seen("GET", "WhoAmI")[-1], fake.seen("PATCH")[0]
    for seen in (get, patch):
        assert seen.headers["Odata-Maxversion"] == "4.0" and seen.headers["Odata-Version"] == "4.0"
        assert seen.headers["Accept"] == "application/json"
        assert "Cookie" not in seen.headers  # the fake set ARRAffinity on the first answer
        assert not any(h.lower().startswith("mscrm.") for h in seen.headers)
    assert patch.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "Content-Type" not in get.headers


def test_migration_headers_are_opt_in(fake: FakeDataverse, account: str) -> None:
    options = ClientOptions(bypass_business_logic="CustomSync,CustomAsync", suppress_flows=True)
    make_client(fake, options).update("accounts", account, {"name": "x"})
    (patch,) = fake.seen("PATCH")
    assert patch.headers["Mscrm.Bypassbusinesslogicexecution"] == "CustomSync,CustomAsync"
    assert patch.headers["Mscrm.Suppresscallbackregistrationexpanderjob"] == "true"
    assert "Mscrm.Suppressduplicatedetection" not in patch.headers


def test_dop_hint_sets_parallelism_within_the_cap(fake: FakeDataverse) -> None:
    fake.dop_hint = 3
    client = make_client(fake, ClientOptions(max_parallel_per_user=16))
    assert client.learn_parallelism() == {"user1": 3}
    fake.dop_hint = 500
    client.whoami()
    assert client.pool.channels[0].throttle.limit == 16
    throttle = UserThrottle(max_parallel=999, initial_parallel=4)
    throttle.observe_dop_hint("500")
    assert throttle.limit == HARD_MAX_PARALLEL < 52


def test_parallel_requests_never_exceed_the_dop_hint(fake: FakeDataverse) -> None:
    fake.add_table("account", "accounts", "accountid")
    ids = [fake.add_record("accounts", {"name": str(n)}) for n in range(12)]
    fake.dop_hint = 3
    active, peak, lock = [0], [0], threading.Lock()
    original = fake._patch

    def counting_patch(*args: object, **kwargs: object) -> Reply:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    fake._patch = counting_patch  # type: ignore[method-assign]
    client = make_client(fake)
    results = client.update_many("account", [UpdateRow(i, {"name": "p"}) for i in ids], mode=BulkMode.SINGLE)
    assert all(r.ok for r in results)
    assert peak[0] == 3


def test_a_throttled_user_waits_alone_while_the_other_keeps_working(fake: FakeDataverse) -> None:
    fake.add_table("account", "accounts", "accountid")
    ids = [fake.add_record("accounts", {"name": str(n)}) for n in range(8)]
    fake.dop_hint = 1
    client = make_client(fake, users=2)
    client.learn_parallelism()
    # the first PATCH (whoever sends it) is throttled for one second
    fake.script("PATCH", "accounts(", Reply(429, {"Retry-After": "1"}))
    start = time.monotonic()
    results = client.update_many("account", [UpdateRow(i, {"name": "p"}) for i in ids], mode=BulkMode.SINGLE)
    assert all(r.ok for r in results)
    throttled = [r for r in results if r.throttle_wait_s > 0]
    assert len(throttled) == 1 and throttled[0].attempts == 2
    other_user = "user2" if throttled[0].user == "user1" else "user1"
    patches = fake.seen("PATCH")
    token_of_other = STATIC_TOKEN if other_user == "user1" else f"{STATIC_TOKEN}-user2"
    during_hold = [
        p for p in patches if p.at - start < 0.9 and p.headers["Authorization"].endswith(token_of_other)
    ]
    assert len(during_hold) >= 5  # the other user did the rest of the work while the first one waited
    assert sum(1 for r in results if r.user == other_user) >= 6


def test_request_to_another_host_is_refused(fake: FakeDataverse) -> None:
    client = make_client(fake)
    with pytest.raises(Exception, match="another host"):
        list(client.iter_pages("https://evil.example/api/data/v9.2/accounts"))
    assert [r.path for r in fake.requests] == ["", "WhoAmI"]  # signing in, at the environment only


def test_paths_are_under_the_api_root(fake: FakeDataverse) -> None:
    client = make_client(fake)
    client.whoami()
    assert [r.path for r in fake.requests] == ["", "WhoAmI", "WhoAmI"]  # the API root, then WhoAmI
    assert client.pool.channels[0].url("WhoAmI") == f"{fake.url}{API}WhoAmI"


def test_netrc_credentials_never_replace_the_bearer_token(
    fake: FakeDataverse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    make_client(fake).whoami()
    probe, *signed = fake.requests
    assert "Authorization" not in probe.headers  # the unauthenticated reachability check: no netrc either
    assert {r.headers["Authorization"] for r in signed} == {f"Bearer {STATIC_TOKEN}"}


def test_the_client_reports_throttled_clock_time_apart_from_request_seconds(fake: FakeDataverse) -> None:
    fake.add_table("account", "accounts", "accountid")
    ids = [fake.add_record("accounts", {"name": str(n)}) for n in range(4)]
    client = make_client(fake)
    client.learn_parallelism()
    fake.script("PATCH", "accounts(", *[Reply(429, {"Retry-After": "1"})] * 4)
    began = time.monotonic()
    rows = [UpdateRow(i, {"name": "p"}) for i in ids]
    results = client.update_many("account", rows, mode=BulkMode.SINGLE)
    took = time.monotonic() - began
    assert all(r.ok for r in results)
    clock, request_s = client.throttled_clock_s(), client.throttled_request_seconds()
    assert request_s == pytest.approx(sum(r.throttle_wait_s for r in results), abs=0.01)  # the sum, named so
    assert 0.9 <= clock <= took  # on the clock: never more than the run took...
    assert request_s >= clock + 1.5  # ...while the parallel waits overlapped (the sum of them is larger)
