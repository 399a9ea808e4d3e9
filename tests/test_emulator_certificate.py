"""Certificate sign-in against the emulator's token service: the real msal code path (a signed client
assertion), as an admin signs an application user in with a certificate instead of a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_dataverse_support import app_certificate

from p2c.dataverse import AuthenticationError, ClientOptions, DataverseClient
from p2c.dataverse.auth import forget_msal_apps
from p2c.emulator import running_emulator
from p2c.emulator.options import parse_certificates
from p2c.errors import UsageError

CLIENT_ID = "p2c-cert-app"
FAST = ClientOptions(backoff_base_s=0.01, max_attempts=2)


@pytest.fixture(autouse=True)
def fresh_msal_apps() -> None:
    forget_msal_apps()


def _env(emulator_url: str, authority: str, cert: Path) -> dict[str, str]:
    return {
        "P2C_DATAVERSE_URL": emulator_url,
        "P2C_TENANT_ID": "p2c-emulator",
        "P2C_AUTHORITY": authority,
        "P2C_CLIENT_ID": CLIENT_ID,
        "P2C_CLIENT_CERT": str(cert),
    }


def test_a_registered_certificate_signs_in_and_another_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_pem, cert_pem, _ = app_certificate()
    registered = tmp_path / "app.pem"
    registered.write_bytes(key_pem + cert_pem)
    public_only = tmp_path / "app-public.pem"
    public_only.write_bytes(cert_pem)
    other_key, other_cert, _ = app_certificate()
    other = tmp_path / "other.pem"
    other.write_bytes(other_key + other_cert)

    certificates = parse_certificates([f"{CLIENT_ID}={public_only}"])
    with running_emulator(
        tmp_path / "emu.sqlite",
        client_id=CLIENT_ID,
        client_secret="unused-secret-1",
        certificates=certificates,
    ) as emulator:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_cert))
        env = _env(emulator.base_url, emulator.authority, registered)
        with DataverseClient.from_environment(env=env, options=FAST) as client:
            assert client.whoami().user_id  # signed in by the assertion, no secret anywhere
        forget_msal_apps()
        env = _env(emulator.base_url, emulator.authority, other)
        with (
            DataverseClient.from_environment(env=env, options=FAST) as client,
            pytest.raises(AuthenticationError) as refused,
        ):
            client.whoami()
        assert "invalid_client" in str(refused.value) or "700027" in str(refused.value)


def test_a_client_cert_option_must_name_a_readable_certificate(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="expected CLIENT_ID=path"):
        parse_certificates(["no-equals-sign"])
    with pytest.raises(UsageError, match="cannot read"):
        parse_certificates([f"app={tmp_path / 'missing.pem'}"])
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(UsageError, match="no PEM certificate"):
        parse_certificates([f"app={junk}"])
