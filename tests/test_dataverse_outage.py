"""A service that stops answering for a while: waited out within a time budget, one shared state across the
client's threads, reported through the events, and one clean error when the budget runs out (issue 19,
item 1). Against the scriptable fake (503s) and the emulator stopped and started again on its port."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from emulator_fixtures import ACCOUNTS, build_tiny_duckdb
from test_dataverse_support import STATIC_TOKEN, FakeDataverse, Reply, error_reply, make_client
from test_dataverse_support import fake as fake

from p2c.dataverse import BulkMode, ClientOptions, DataverseClient, RowStatus, UpdateRow
from p2c.dataverse.errors import ServiceUnreachable
from p2c.dataverse.events import ClientEvents
from p2c.emulator import RunningEmulator, running_emulator
from p2c.errors import TransientError

QUICK = ClientOptions(backoff_base_s=0.05, backoff_cap_s=0.25, max_attempts=3, outage_budget_s=20.0)


class Recorder(ClientEvents):
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self._lock = threading.Lock()

    def _add(self, name: str, *args: object) -> None:
        with self._lock:
            self.calls.append((name, args))

    def answered(self, entity_set: str, rows: int, ok: bool) -> None:
        self._add("answered", entity_set, rows, ok)

    def throttled(self, user: str, seconds: float) -> None:
        self._add("throttled", user, seconds)

    def retrying(self, what: str, attempt: int, reason: str) -> None:
        self._add("retrying", what, attempt, reason)

    def unreachable(self, down_for_s: float, budget_s: float) -> None:
        self._add("unreachable", down_for_s, budget_s)

    def reachable(self) -> None:
        self._add("reachable")

    def names(self) -> list[str]:
        with self._lock:
            return [name for name, _ in self.calls]


@pytest.fixture
def accounts(fake: FakeDataverse) -> list[str]:
    fake.add_table("account", "accounts", "accountid")
    return [fake.add_record("accounts", {"name": f"n{i}"}) for i in range(8)]


def test_a_short_outage_is_waited_out_by_one_thread_while_the_others_wait(
    fake: FakeDataverse, accounts: list[str]
) -> None:
    client = make_client(fake, QUICK)
    client.events = events = Recorder()
    client.metadata.entity("account")  # signed in, metadata read: the outage hits the writes
    fake.go_down(1.5)
    began = time.monotonic()
    results = client.update_many(
        "account", [UpdateRow(a, {"name": "x"}) for a in accounts], mode=BulkMode.SINGLE
    )
    assert [r.status for r in results] == [RowStatus.UPDATED] * len(accounts)
    assert time.monotonic() - began >= 1.4
    assert all(fake.records["accounts"][a]["name"] == "x" for a in accounts)
    # each request went out once into the outage; from then on only one of them probed until it answered
    sends = Counter(r.path for r in fake.seen("PATCH"))
    probes = [path for path, n in sends.items() if n > 2]
    assert len(probes) == 1, sends
    assert "unreachable" in events.names() and events.names().count("reachable") == 1
    assert events.names().index("unreachable") < events.names().index("reachable")
    assert any(name == "retrying" for name in events.names())


def test_an_outage_past_the_budget_raises_one_clean_error_and_sends_nothing_more(
    fake: FakeDataverse, accounts: list[str]
) -> None:
    options = ClientOptions(backoff_base_s=0.05, backoff_cap_s=0.25, max_attempts=3, outage_budget_s=1.0)
    client = make_client(fake, options)
    client.metadata.entity("account")
    fake.go_down(600)
    began = time.monotonic()
    with pytest.raises(ServiceUnreachable) as caught:
        client.update_many("account", [UpdateRow(a, {"name": "x"}) for a in accounts], mode=BulkMode.SINGLE)
    took = time.monotonic() - began
    assert 1.0 <= took < 3.0
    error = caught.value
    assert isinstance(error, TransientError) and error.retryable
    message = str(error)
    assert fake.url in message and "HTTP 503" in message and "1 s" in message
    assert STATIC_TOKEN not in message and not message.endswith(("…", "..."))
    sent = len(fake.requests)
    with pytest.raises(ServiceUnreachable):  # the client has given up: no more sends, the same error
        client.update("accounts", accounts[0], {"name": "y"})
    time.sleep(0.3)
    assert len(fake.requests) == sent


def test_a_500_with_a_dataverse_error_stays_a_failure_of_its_row(
    fake: FakeDataverse, accounts: list[str]
) -> None:
    fake.script("PATCH", "accounts(", *[error_reply(500, "0x80040216", "An unexpected error occurred.")] * 10)
    result = make_client(fake, QUICK).update("accounts", accounts[0], {"name": "x"})
    assert result.status is RowStatus.FAILED and result.retryable
    assert result.http_status == 500 and result.attempts == QUICK.max_attempts
    assert "An unexpected error occurred." in result.message


def test_a_503_now_and_then_is_retried_without_failing_the_row(
    fake: FakeDataverse, accounts: list[str]
) -> None:
    fake.script("PATCH", "accounts(", Reply(503), Reply(504), Reply(502), Reply(503), Reply(503))
    result = make_client(fake, QUICK).update("accounts", accounts[0], {"name": "x"})
    assert result.ok and result.attempts == 6


# -- the emulator stopped and started again on the same port ------------------------------------------------


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return build_tiny_duckdb(tmp_path / "tiny.duckdb")


def _client(emulator: RunningEmulator, options: ClientOptions) -> DataverseClient:
    client_id, secret = next(iter(emulator.users.items()))
    env = {"P2C_AUTHORITY": emulator.authority, "P2C_CLIENT_ID": client_id, "P2C_CLIENT_SECRET": secret}
    return DataverseClient.from_environment(emulator.base_url, env=env, options=options)


ACCOUNT_IDS = [a[0] for a in ACCOUNTS if a[0]]


def test_the_service_gone_for_8_s_mid_upload_ends_with_every_row_updated(
    tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, ca = tmp_path / "state.sqlite", tmp_path / "ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    options = ClientOptions(backoff_base_s=0.2, backoff_cap_s=1.0, outage_budget_s=60.0)
    rounds, done, progress = 40, threading.Event(), threading.Semaphore(0)
    results: list[RowStatus] = []
    failure: list[BaseException] = []
    events = Recorder()

    def upload(client: DataverseClient) -> None:
        try:
            for n in range(rounds):
                rows = [UpdateRow(i, {"name": f"round {n}"}) for i in ACCOUNT_IDS]
                results.extend(r.status for r in client.update_many("account", rows))
                progress.release()
        except BaseException as exc:  # reported by the assertion below
            failure.append(exc)
        finally:
            done.set()

    with running_emulator(state, seed_from=tiny, ca_cert=ca) as first:
        client = _client(first, options)
        client.events = events
        worker = threading.Thread(target=upload, args=(client,))
        worker.start()
        for _ in range(5):
            assert progress.acquire(timeout=30)
    stopped_at = time.monotonic()  # the emulator is stopped: nothing listens on its port
    time.sleep(8)
    assert not done.is_set()
    with running_emulator(state, ca_cert=ca, port=first.port):
        assert done.wait(timeout=60)
        assert not failure, failure
        took = time.monotonic() - stopped_at
        assert results == [RowStatus.UPDATED] * rounds * len(ACCOUNT_IDS)
        records = [client.get("accounts", i, ["name"]) for i in ACCOUNT_IDS]
        names = {r.values["name"] for r in records if r is not None}
        assert names == {f"round {rounds - 1}"}
    worker.join()
    client.close()
    assert took >= 8
    assert "unreachable" in events.names() and "reachable" in events.names()


def test_the_service_gone_past_the_budget_raises_one_clean_error(
    tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = tmp_path / "ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    options = ClientOptions(backoff_base_s=0.1, backoff_cap_s=0.5, outage_budget_s=2.0)
    with running_emulator(tmp_path / "state.sqlite", seed_from=tiny, ca_cert=ca) as emulator:
        client = _client(emulator, options)
        client.sign_in()
    began = time.monotonic()
    with pytest.raises(ServiceUnreachable) as caught:
        client.update_many("account", [UpdateRow(i, {"name": "never"}) for i in ACCOUNT_IDS])
    assert 2.0 <= time.monotonic() - began < 5.0
    message = str(caught.value)
    assert emulator.base_url in message and "refused" in message
    assert not any(s in message for s in client.secrets())
