"""Sign-in through the real MSAL code path against the fake's identity endpoints, over verified TLS.

MSAL accepts only https authorities, so these tests use the HTTPS fake with a trustme CA that is trusted
through REQUESTS_CA_BUNDLE, as a user with a private CA would configure it."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from test_dataverse_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    STATIC_TOKEN,
    TENANT,
    FakeDataverse,
    Reply,
    app_certificate,
    error_reply,
)
from test_dataverse_support import test_ca as test_ca
from test_dataverse_support import tls_fake as tls_fake

from p2c.dataverse import (
    AuthenticationError,
    CertificateCredential,
    ClientOptions,
    ClientSecretCredential,
    DataverseClient,
    MsalTokenProvider,
    RowStatus,
    Secret,
    StaticTokenProvider,
    UpdateRow,
    credentials_from_env,
)
from p2c.dataverse.auth import certificate_thumbprint, forget_msal_apps, msal_app
from p2c.dataverse.client import normalize_environment_url
from p2c.dataverse.errors import EnvironmentUnreachable
from p2c.errors import UsageError

FAST = ClientOptions(backoff_base_s=0.01, max_attempts=3)


@pytest.fixture(autouse=True)
def fresh_msal_apps() -> None:
    forget_msal_apps()


def secret_env(fake: FakeDataverse, **extra: str) -> dict[str, str]:
    return {
        "P2C_DATAVERSE_URL": fake.url,
        "P2C_TENANT_ID": TENANT,
        "P2C_AUTHORITY": fake.authority,
        "P2C_CLIENT_ID": CLIENT_ID,
        "P2C_CLIENT_SECRET": CLIENT_SECRET,
        **extra,
    }


def test_client_secret_sign_in_runs_msal_against_the_authority(tls_fake: FakeDataverse) -> None:
    client = DataverseClient.from_environment(env=secret_env(tls_fake), options=FAST)
    assert client.whoami().user_id == "u-1"
    client.whoami()
    # no instance discovery at login.microsoftonline.com: MSAL went to the authority's own OpenID document
    assert tls_fake.identity_paths[0] == f"/{TENANT}/v2.0/.well-known/openid-configuration"
    assert tls_fake.identity_paths.count(f"/{TENANT}/oauth2/v2.0/token") == 1  # the second call hit the cache
    (token_request,) = tls_fake.token_requests
    assert token_request["grant_type"] == ["client_credentials"]
    assert token_request["scope"] == [f"{tls_fake.url}/.default"]
    assert token_request["client_secret"] == [CLIENT_SECRET]
    assert (
        tls_fake.seen("GET", "WhoAmI")[0].headers["Authorization"].startswith("Bearer fake-access-token-1-")
    )


def test_a_401_drops_the_cached_token_and_fetches_a_new_one(tls_fake: FakeDataverse) -> None:
    client = DataverseClient.from_environment(env=secret_env(tls_fake), options=FAST)
    tls_fake.script("GET", "WhoAmI", error_reply(401, "", "token expired"))
    client.whoami()
    first, second, _whoami = tls_fake.seen("GET", "WhoAmI")  # the 401 came at sign-in
    assert first.headers["Authorization"] != second.headers["Authorization"]
    assert tls_fake.token_counter == 2


def test_one_msal_app_per_credential_per_process(tls_fake: FakeDataverse) -> None:
    (credential,) = credentials_from_env(secret_env(tls_fake))
    a = MsalTokenProvider(credential, tls_fake.url)
    b = MsalTokenProvider(credential, tls_fake.url)
    assert a.token() == b.token()
    assert msal_app(credential) is msal_app(credential)
    assert tls_fake.token_counter == 1


def test_refused_secret_is_an_authentication_error_without_the_secret(tls_fake: FakeDataverse) -> None:
    tls_fake.client_secret = "the-right-one"
    client = DataverseClient.from_environment(env=secret_env(tls_fake), options=FAST)
    with pytest.raises(AuthenticationError) as caught:
        client.whoami()
    text = str(caught.value) + repr(caught.value)
    assert "invalid_client" in text and CLIENT_SECRET not in text
    assert not caught.value.retryable


@pytest.mark.parametrize("form", ["pem", "pem-encrypted", "pfx"])
def test_certificate_sign_in_signs_an_assertion_with_the_app_key(
    tls_fake: FakeDataverse, test_ca: trustme.CA, tmp_path: Path, form: str
) -> None:
    key_pem, cert_pem, public_key = app_certificate(test_ca)
    tls_fake.cert_public_key = public_key
    der = serialization.load_pem_private_key(key_pem, None)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    sha1 = cert.fingerprint(hashes.SHA1())
    tls_fake.cert_thumbprint_x5t = base64.urlsafe_b64encode(sha1).decode().rstrip("=")
    sha256 = cert.fingerprint(hashes.SHA256())
    tls_fake.cert_thumbprint_x5t256 = base64.urlsafe_b64encode(sha256).decode().rstrip("=")
    assert certificate_thumbprint(cert_pem) == sha1.hex().upper()
    password = "pfx-pass-Word1"
    path = tmp_path / f"app.{form}"
    if form == "pem":
        path.write_bytes(key_pem + cert_pem)
    elif form == "pem-encrypted":
        encrypted = der.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
        path.write_bytes(encrypted + cert_pem)
    else:
        path.write_bytes(
            pkcs12.serialize_key_and_certificates(
                b"app",
                der,
                cert,
                None,
                serialization.BestAvailableEncryption(password.encode()),  # type: ignore[arg-type]
            )
        )
    env = secret_env(tls_fake, P2C_CLIENT_CERT=str(path))
    del env["P2C_CLIENT_SECRET"]
    if form != "pem":
        env["P2C_CLIENT_CERT_PASSWORD"] = password
    client = DataverseClient.from_environment(env=env, options=FAST)
    assert client.whoami().user_id == "u-1"
    (token_request,) = tls_fake.token_requests
    assert token_request["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    (header,) = tls_fake.assertion_headers  # the fake checked the signature against the certificate's key
    assert header["alg"] in ("RS256", "PS256")
    assert password not in repr(client.pool.channels[0].tokens)
    if form != "pem":
        assert password not in client.mask(f"text with {password} in it")


def test_wrong_certificate_password_is_a_usage_error(test_ca: trustme.CA, tmp_path: Path) -> None:
    key_pem, cert_pem, _ = app_certificate(test_ca)
    der = serialization.load_pem_private_key(key_pem, None)
    path = tmp_path / "app.pem"
    path.write_bytes(
        der.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"right"),
        )
        + cert_pem
    )
    credential = CertificateCredential(
        TENANT, CLIENT_ID, path, Secret("Inc0rrect-Pw"), "https://localhost:1/t"
    )
    with pytest.raises(UsageError, match="private key cannot be read") as caught:
        msal_app(credential)
    assert "Inc0rrect-Pw" not in str(caught.value) + repr(credential)


def test_device_code_prints_the_message_on_the_prompt_stream(tls_fake: FakeDataverse) -> None:
    prompt = io.StringIO()
    env = {"P2C_TENANT_ID": TENANT, "P2C_CLIENT_ID": CLIENT_ID, "P2C_AUTHORITY": tls_fake.authority}
    client = DataverseClient.from_environment(
        tls_fake.url, env=env, device_code=True, prompt=prompt, options=FAST
    )
    assert client.whoami().user_id == "u-1"
    assert "enter FAKE-CODE" in prompt.getvalue()
    device_request, token_request = tls_fake.token_requests
    assert device_request["scope"][0].split()[0] == f"{tls_fake.url}/user_impersonation"
    assert token_request["grant_type"] == ["urn:ietf:params:oauth:grant-type:device_code"]


def test_an_unknown_ca_fails_verification_and_is_not_retried(
    tls_fake: FakeDataverse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    client = DataverseClient(tls_fake.url, [StaticTokenProvider(STATIC_TOKEN)], FAST)
    with pytest.raises(EnvironmentUnreachable, match="not trusted") as caught:
        client.whoami()  # found when the client first reaches the environment, before any credential
    assert "REQUESTS_CA_BUNDLE" in str(caught.value)
    msal_client = DataverseClient.from_environment(env=secret_env(tls_fake), options=FAST)
    with pytest.raises(EnvironmentUnreachable, match="not trusted"):
        msal_client.whoami()
    assert tls_fake.requests == [] and tls_fake.identity_paths == []


def test_https_with_the_ca_bundle_works_for_plain_requests_too(tls_fake: FakeDataverse) -> None:
    client = DataverseClient(tls_fake.url, [StaticTokenProvider(STATIC_TOKEN)], FAST)
    assert client.whoami().organization_id == "org-1"


# -- configuration ------------------------------------------------------------------------------------------


def test_several_users_from_the_environment(tmp_path: Path) -> None:
    cert = tmp_path / "u3.pem"
    cert.write_text("placeholder")
    env = {
        "P2C_TENANT_ID": TENANT,
        "P2C_CLIENT_ID": "id-1",
        "P2C_CLIENT_SECRET": "secret-1",
        "P2C_CLIENT_ID_2": "id-2",
        "P2C_CLIENT_SECRET_2": "secret-2",
        "P2C_TENANT_ID_2": "other-tenant",
        "P2C_CLIENT_ID_3": "id-3",
        "P2C_CLIENT_CERT_3": str(cert),
        "P2C_CLIENT_CERT_PASSWORD_3": "pw-3",
    }
    users = credentials_from_env(env)
    assert [u.label for u in users] == ["user1", "user2", "user3"]
    assert [u.client_id for u in users] == ["id-1", "id-2", "id-3"]
    assert users[1].authority == "https://login.microsoftonline.com/other-tenant"
    assert isinstance(users[2], CertificateCredential) and users[2].password == Secret("pw-3")
    for user in users:
        assert not any(s in repr(user) + str(user) for s in ("secret-1", "secret-2", "pw-3"))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "P2C_CLIENT_ID is not set"),
        ({"P2C_TENANT_ID": "t", "P2C_CLIENT_ID": "a"}, "neither"),
        (
            {"P2C_TENANT_ID": "t", "P2C_CLIENT_ID": "a", "P2C_CLIENT_SECRET": "s", "P2C_CLIENT_CERT": "/x"},
            "both",
        ),
        (
            {"P2C_TENANT_ID": "t", "P2C_CLIENT_ID": "a", "P2C_CLIENT_SECRET": "s", "P2C_CLIENT_ID_3": "c"},
            "_2 is not",
        ),
        ({"P2C_CLIENT_ID": "a", "P2C_CLIENT_SECRET": "s"}, "P2C_TENANT_ID"),
        (
            {
                "P2C_TENANT_ID": "t",
                "P2C_CLIENT_ID": "a",
                "P2C_CLIENT_SECRET": "s",
                "P2C_AUTHORITY": "http://x/t",
            },
            "https",
        ),
    ],
)
def test_bad_credential_configuration_is_a_usage_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        credentials_from_env(env)


def test_environment_url_rules() -> None:
    assert normalize_environment_url("https://org.crm4.dynamics.com/") == "https://org.crm4.dynamics.com"
    assert (
        normalize_environment_url("http://127.0.0.1:8080", allow_loopback_http=True)
        == "http://127.0.0.1:8080"
    )
    with pytest.raises(UsageError, match="https"):  # what a user passes: https only
        normalize_environment_url("http://127.0.0.1:8080")
    for bad in ("http://org.crm.dynamics.com", "https://org.crm.dynamics.com/api/data/v9.2", "org"):
        with pytest.raises(UsageError):
            normalize_environment_url(bad)


# -- secrets never leak -------------------------------------------------------------------------------------


def test_secrets_never_appear_in_reprs_errors_results_or_logs(
    tls_fake: FakeDataverse, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tls_fake.add_table("account", "accounts", "accountid")
    record = tls_fake.add_record("accounts", {"name": "n"})
    env = secret_env(tls_fake, P2C_CLIENT_ID_2="second-app", P2C_CLIENT_SECRET_2="second-secret-value")
    tls_fake.client_secrets["second-app"] = "second-secret-value"
    client = DataverseClient.from_environment(env=env, options=FAST)
    tls_fake.script("PATCH", "accounts(", error_reply(400, "0x80044331", "bad value"), Reply(503), Reply(503))
    tls_fake.script("PATCH", "accounts(", Reply(503), Reply(503), Reply(503))
    results = client.update_many("account", [UpdateRow(record, {"name": "x"})] * 1, mode=None)
    failure = client.update("accounts", record, {"name": "y"})
    errors: list[BaseException] = []
    try:
        client.update_many("nosuchtable", [UpdateRow(record, {})])
    except UsageError as exc:
        errors.append(exc)
    tls_fake.client_secret = "changed"
    forget_msal_apps()
    refused = DataverseClient.from_environment(env=env, options=FAST)
    try:
        refused.whoami()
    except AuthenticationError as exc:
        errors.append(exc)
    secrets = [CLIENT_SECRET, "second-secret-value", *client.secrets()]
    assert any(s.startswith("fake-access-token-") for s in client.secrets())  # the tokens are in the scan
    texts = [repr(client), str(client), caplog.text, *map(repr, results), repr(failure), *map(str, errors)]
    texts += [repr(e) for e in errors] + [repr(c.tokens) for c in client.pool.channels]
    texts += [repr(c) for c in credentials_from_env(env)]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert failure.status is RowStatus.FAILED
    assert isinstance(credentials_from_env(env)[0], ClientSecretCredential)


def test_secret_wrapper_masks_everything_but_reveal() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r} {secret:>10} {[secret]}"
    assert secret.reveal() == "hunter2"
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(secret)
