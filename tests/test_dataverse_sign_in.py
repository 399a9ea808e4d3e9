"""Signing in: every application user before the first request, and an unreachable environment told apart
from a refused credential (issue 19, items 2 and 3)."""

from __future__ import annotations

import socket

import pytest
from test_dataverse_auth import FAST, secret_env
from test_dataverse_support import CLIENT_SECRET, FakeDataverse, make_client
from test_dataverse_support import fake as fake
from test_dataverse_support import test_ca as test_ca
from test_dataverse_support import tls_fake as tls_fake

from p2c.dataverse import AuthenticationError, DataverseClient, UpdateRow
from p2c.dataverse.auth import forget_msal_apps
from p2c.dataverse.errors import EnvironmentUnreachable
from p2c.errors import UsageError


@pytest.fixture(autouse=True)
def _fresh_msal_apps() -> None:
    forget_msal_apps()  # one MSAL app per credential per process: a test must not see another's token


def three_users(fake: FakeDataverse) -> dict[str, str]:
    for n in (2, 3):
        fake.client_secrets[f"app-{n}"] = f"secret-of-app-{n}"
    return secret_env(
        fake,
        P2C_CLIENT_ID_2="app-2",
        P2C_CLIENT_SECRET_2="secret-of-app-2",
        P2C_CLIENT_ID_3="app-3",
        P2C_CLIENT_SECRET_3="secret-of-app-3",
    )


def test_a_wrong_secret_of_user_2_stops_the_client_before_anything_is_written(
    tls_fake: FakeDataverse,
) -> None:
    tls_fake.add_table("account", "accounts", "accountid")
    record = tls_fake.add_record("accounts", {"name": "before"})
    env = three_users(tls_fake)
    tls_fake.client_secrets["app-2"] = "the-secret-entra-knows"  # P2C_CLIENT_SECRET_2 is wrong
    client = DataverseClient.from_environment(env=env, options=FAST)
    with pytest.raises(AuthenticationError) as caught:
        client.update("accounts", record, {"name": "after"})
    message = str(caught.value)
    assert "P2C_CLIENT_ID_2" in message and "AADSTS7000215" in message
    assert "P2C_CLIENT_ID_3" not in message and "P2C_CLIENT_ID " not in message
    for secret in ("secret-of-app-2", "secret-of-app-3", CLIENT_SECRET):
        assert secret not in message and secret not in repr(caught.value)
    assert tls_fake.seen("PATCH") == [] and tls_fake.records["accounts"][record]["name"] == "before"
    with pytest.raises(AuthenticationError):  # the same answer again, without asking anyone again
        client.update_many("account", [UpdateRow(record, {"name": "after"})])
    assert tls_fake.seen("PATCH") == []


def test_every_user_signs_in_once_with_a_token_and_one_whoami(tls_fake: FakeDataverse) -> None:
    client = DataverseClient.from_environment(env=three_users(tls_fake), options=FAST)
    client.sign_in()
    client.sign_in()
    client.whoami()
    clients = {form["client_id"][0] for form in tls_fake.token_requests}
    assert clients == {"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "app-2", "app-3"}
    assert len(tls_fake.token_requests) == 3
    who = [
        r for r in tls_fake.seen("GET", "WhoAmI") if r.headers.get("Authorization", "").startswith("Bearer")
    ]
    assert len({r.headers["Authorization"] for r in who}) == 3  # one per user...
    assert len(who) == 4  # ...then the caller's own WhoAmI


def test_sign_in_happens_before_the_first_read_too(fake: FakeDataverse) -> None:
    fake.add_table("account", "accounts", "accountid")
    client = make_client(fake, users=2)
    list(client.query("accounts"))
    paths = [r.path for r in fake.requests]
    assert paths.index("accounts") > max(i for i, p in enumerate(paths) if p == "WhoAmI")
    assert {r.headers.get("Authorization") for r in fake.seen("GET", "WhoAmI")} >= {
        f"Bearer {c.tokens.token()}" for c in client.pool.channels
    }


def test_dataverse_refusing_a_token_names_the_users_variable(fake: FakeDataverse) -> None:
    client = make_client(fake, users=2)
    fake.valid_tokens.discard(client.pool.channels[1].tokens.token())
    with pytest.raises(AuthenticationError) as caught:
        client.sign_in()
    assert "P2C_CLIENT_ID_2" in str(caught.value) and "401" in str(caught.value)


def test_plain_http_environment_is_refused_up_front() -> None:
    env = {"P2C_TENANT_ID": "t", "P2C_CLIENT_ID": "c", "P2C_CLIENT_SECRET": "s"}
    for url in ("http://contoso.crm4.dynamics.com", "http://127.0.0.1:8443"):
        with pytest.raises(UsageError, match="https"):
            DataverseClient.from_environment(url, env=env)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nothing_listening_is_an_unreachable_environment_not_a_credential_problem(
    tls_fake: FakeDataverse,
) -> None:
    url = f"https://localhost:{_free_port()}"
    client = DataverseClient.from_environment(url, env=secret_env(tls_fake), options=FAST)
    with pytest.raises(EnvironmentUnreachable) as caught:
        client.sign_in()
    assert url in str(caught.value) and "refused" in str(caught.value)
    assert not isinstance(caught.value, AuthenticationError)
    assert tls_fake.token_requests == []  # no credential was tried against an environment that is not there


def test_an_unknown_host_is_an_unreachable_environment(tls_fake: FakeDataverse) -> None:
    url = "https://no-such-environment.invalid"
    client = DataverseClient.from_environment(url, env=secret_env(tls_fake), options=FAST)
    with pytest.raises(EnvironmentUnreachable) as caught:
        client.sign_in()
    assert url in str(caught.value) and "resolve" in str(caught.value)


def test_https_to_a_plain_http_port_is_a_tls_failure_of_the_environment(
    tls_fake: FakeDataverse, fake: FakeDataverse
) -> None:
    url = fake.url.replace("http://", "https://")  # the plain-HTTP fake: no TLS handshake possible
    client = DataverseClient.from_environment(url, env=secret_env(tls_fake), options=FAST)
    with pytest.raises(EnvironmentUnreachable) as caught:
        client.sign_in()
    assert url in str(caught.value) and "TLS" in str(caught.value)
