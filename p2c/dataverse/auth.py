"""Access tokens for Dataverse, from MSAL: client secret, certificate (PEM or PFX), or device code.

One MSAL application object exists per process per credential (`_APPS`), because the token cache lives
on it: a second object would sign in again instead of reusing the cached token. MSAL looks in its cache
first and only asks the identity provider when the token is missing or within 5 minutes of expiry.

* Scope: `<environment URL>/.default` for applications (client credentials). A person's public client
  asks for `<environment URL>/user_impersonation`, the scope Microsoft documents for public clients.
* Authority: `https://login.microsoftonline.com/<tenant>` unless `P2C_AUTHORITY` says otherwise. MSAL
  calls Microsoft's instance discovery endpoint for hosts it does not know; for such a host (a sovereign
  cloud alias, a local emulator) the client passes `instance_discovery=False`, so MSAL goes straight to
  `<authority>/v2.0/.well-known/openid-configuration` and the token endpoint named there.
* After a 401 the caller asks for `refresh(rejected)`: the rejected token is removed from MSAL's cache
  (client-credential acquisition has no force-refresh) and a new one is fetched.
* MSAL sends through a `TimeoutSession` (see `session.py`), so its TLS checks honour `REQUESTS_CA_BUNDLE`
  exactly as the Dataverse requests do."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlparse

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from p2c.dataverse.credentials import (
    CertificateCredential,
    ClientSecretCredential,
    Credential,
    DeviceCodeCredential,
    Secret,
)
from p2c.dataverse.errors import AuthenticationError, DataverseTransientError
from p2c.dataverse.session import Timeout, new_session
from p2c.errors import UsageError

try:  # MSAL's own list of hosts it knows without discovery; a copy in case the private name moves
    from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS as _MSAL_KNOWN_HOSTS
except ImportError:  # pragma: no cover
    _MSAL_KNOWN_HOSTS = frozenset()
KNOWN_AUTHORITY_HOSTS = frozenset(_MSAL_KNOWN_HOSTS) | {
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
}


def is_certificate_failure(exc: BaseException) -> bool:
    """A TLS error that is about trust (unknown CA, wrong host name), not a dropped handshake."""
    text = str(exc).lower()
    return "certificate verify failed" in text or "hostname" in text or "certificate_verify_failed" in text


class TokenProvider(Protocol):
    """Gives a bearer token for one user, and a new one after Dataverse refused the old one."""

    label: str

    def token(self) -> str: ...

    def refresh(self, rejected: str) -> str: ...

    def secrets(self) -> list[str]:
        """Every secret value this provider holds (for masking text before it is shown)."""
        ...


class StaticTokenProvider:
    """A fixed token (a local emulator, tests). `refresh` asks `renew`, if given, for the next one."""

    def __init__(self, token: str, *, label: str = "user1", renew: Callable[[], str] | None = None) -> None:
        self.label = label
        self._token = Secret(token)
        self._renew = renew
        self._issued: list[Secret] = [self._token]
        self._lock = threading.Lock()

    def token(self) -> str:
        return self._token.reveal()

    def refresh(self, rejected: str) -> str:
        with self._lock:  # many threads may see the same 401: renew once
            if self._renew is not None and self._token.reveal() == rejected:
                self._token = Secret(self._renew())
                self._issued.append(self._token)
            return self._token.reveal()

    def secrets(self) -> list[str]:
        return [s.reveal() for s in self._issued]

    def __repr__(self) -> str:
        return f"StaticTokenProvider(label={self.label!r}, token=***)"


def certificate_thumbprint(cert_pem: bytes) -> str:
    """The SHA-1 thumbprint (hex, upper case) Entra shows for a certificate, from its PEM text."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # the x5t header is SHA-1 by definition


def _certificate_client_credential(credential: CertificateCredential) -> tuple[dict[str, Any], str]:
    """MSAL's `client_credential` dict for a certificate file, and its thumbprint (for messages)."""
    path: Path = credential.cert_path
    password = credential.password.reveal() if credential.password else None
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        try:
            cert_start = data.index(b"-----BEGIN CERTIFICATE-----")
        except ValueError:
            raise UsageError(f"{path} holds no certificate (-----BEGIN CERTIFICATE-----)") from None
        cert_pem = data[cert_start : data.index(b"-----END CERTIFICATE-----", cert_start) + 25]
        try:  # load the key now so a wrong password is reported as one, not as an MSAL crash
            serialization.load_pem_private_key(data, password.encode() if password else None)
        except (ValueError, TypeError):
            raise UsageError(
                f"{path}: the private key cannot be read (missing, or wrong P2C_CLIENT_CERT_PASSWORD)"
            ) from None
        thumbprint = certificate_thumbprint(cert_pem)
        client_credential: dict[str, Any] = {"private_key": data.decode(), "thumbprint": thumbprint}
        if password:
            client_credential["passphrase"] = password
        return client_credential, thumbprint
    try:  # PFX / PKCS#12: MSAL (>= 1.29) reads the file itself; read it here to fail early and clearly
        _key, cert, _chain = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except (ValueError, TypeError):
        raise UsageError(f"{path}: not a readable PFX file (or wrong P2C_CLIENT_CERT_PASSWORD)") from None
    if cert is None:
        raise UsageError(f"{path}: the PFX file holds no certificate")
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
    client_credential = {"private_key_pfx_path": str(path)}
    if password:
        client_credential["passphrase"] = password
    return client_credential, thumbprint


_EXPIRY_MARGIN_S = 300.0  # as MSAL does: a token within 5 minutes of its expiry is fetched again
_APPS: dict[tuple[str, ...], Any] = {}
_APPS_LOCK = threading.Lock()


def _app_key(credential: Credential) -> tuple[str, ...]:
    if isinstance(credential, CertificateCredential):
        return ("cert", credential.authority, credential.client_id, str(credential.cert_path))
    if isinstance(credential, ClientSecretCredential):
        # the secret's hash keeps two secrets for one app apart without storing the value in the key
        return ("secret", credential.authority, credential.client_id, str(hash(credential.secret)))
    return ("device", credential.authority, credential.client_id)


def _build_app(credential: Credential, timeout: Timeout) -> Any:
    authority = credential.authority
    host = urlparse(authority).hostname or ""
    options: dict[str, Any] = {
        "authority": authority,
        "http_client": new_session(timeout, pool_size=4),
        # None keeps MSAL's default for Microsoft's own hosts; False stops it asking Microsoft about others
        "instance_discovery": None if host in KNOWN_AUTHORITY_HOSTS else False,
    }
    if isinstance(credential, DeviceCodeCredential):
        return msal.PublicClientApplication(credential.client_id, **options)
    if isinstance(credential, ClientSecretCredential):
        secret: Any = credential.secret.reveal()
    else:
        secret, _thumbprint = _certificate_client_credential(credential)
    return msal.ConfidentialClientApplication(credential.client_id, client_credential=secret, **options)


def msal_app(credential: Credential, timeout: Timeout = (10.0, 30.0)) -> Any:
    """The process-wide MSAL application for `credential` (created on first use)."""
    key = _app_key(credential)
    with _APPS_LOCK:
        app = _APPS.get(key)
        if app is None:
            try:
                app = _build_app(credential, timeout)
            except ValueError as exc:  # MSAL reports an unreachable or malformed authority this way
                raise AuthenticationError(
                    f"{credential.label}: cannot use authority {credential.authority}: {exc}",
                    hint="check P2C_TENANT_ID / P2C_AUTHORITY",
                ) from None
            _APPS[key] = app
        return app


def forget_msal_apps() -> None:
    """Drop every cached MSAL application (and so its tokens); for tests and credential rotation."""
    with _APPS_LOCK:
        _APPS.clear()


class MsalTokenProvider:
    """Tokens for one credential from its process-wide MSAL application."""

    def __init__(
        self,
        credential: Credential,
        environment_url: str,
        *,
        timeout: Timeout = (10.0, 30.0),
        prompt: TextIO | None = None,
    ) -> None:
        self.credential = credential
        self.label = credential.label
        resource = environment_url.rstrip("/")
        public = isinstance(credential, DeviceCodeCredential)
        self.scopes = [f"{resource}/user_impersonation" if public else f"{resource}/.default"]
        self._timeout = timeout
        self._prompt = prompt
        self._lock = threading.Lock()
        self._app: Any = None
        # a person's token until shortly before it expires: a token service that sends no id_token leaves
        # MSAL no account to look up silently, and a second device code prompt mid-run would be absurd
        self._person: tuple[Secret, float] | None = None

    def __repr__(self) -> str:
        return f"MsalTokenProvider({self.credential!r}, scopes={self.scopes!r})"

    def secrets(self) -> list[str]:
        found: list[str] = []
        if isinstance(self.credential, ClientSecretCredential):
            found.append(self.credential.secret.reveal())
        if isinstance(self.credential, CertificateCredential) and self.credential.password:
            found.append(self.credential.password.reveal())
        if self._person is not None:
            found.append(self._person[0].reveal())
        if self._app is not None:
            for item in self._app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN):
                found.append(str(item.get("secret", "")))
        return [s for s in found if s]

    def _application(self) -> Any:
        if self._app is None:  # creating it asks the authority for its OpenID configuration
            self._app = msal_app(self.credential, self._timeout)
        return self._app

    def token(self) -> str:
        with self._lock:
            return self._acquire()

    def refresh(self, rejected: str) -> str:
        with self._lock:
            app = self._application()
            cache = app.token_cache
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                if item.get("secret") == rejected:
                    cache.remove_at(item)
            if self._person is not None and self._person[0].reveal() == rejected:
                self._person = None
            return self._acquire()

    def _acquire(self) -> str:
        try:
            app = self._application()
            if isinstance(self.credential, DeviceCodeCredential):
                result = self._acquire_for_person(app)
            else:
                result = app.acquire_token_for_client(scopes=self.scopes)
        except ValueError as exc:
            raise AuthenticationError(f"{self.label}: sign-in failed: {self._mask(str(exc))}") from None
        except requests.exceptions.SSLError as exc:
            if is_certificate_failure(exc):
                raise AuthenticationError(
                    f"{self.label}: the identity provider's TLS certificate is not trusted",
                    hint=f"authority {self.credential.authority}; a private CA goes in REQUESTS_CA_BUNDLE",
                ) from None
            raise DataverseTransientError(f"{self.label}: TLS to the identity provider failed") from None
        except OSError as exc:  # requests' ConnectionError/Timeout are OSErrors: the IdP is unreachable
            raise DataverseTransientError(
                f"{self.label}: the identity provider is unreachable: {type(exc).__name__}",
                hint=f"authority {self.credential.authority}",
            ) from None
        if not result or "access_token" not in result:
            result = result or {}
            lines = str(result.get("error_description", "")).splitlines()
            raise AuthenticationError(
                f"{self.label}: the identity provider refused client {self.credential.client_id}: "
                f"{result.get('error', 'no token')}: {self._mask(lines[0] if lines else '')}",
                hint="check the tenant, client id and secret or certificate, and that the app is enabled",
            )
        return str(result["access_token"])

    def _acquire_for_person(self, app: Any) -> dict[str, Any] | None:
        if self._person is not None and self._person[1] > time.monotonic():
            return {"access_token": self._person[0].reveal()}
        result = self._person_flow(app)
        if result and "access_token" in result:
            lifetime = float(result.get("expires_in") or 0) - _EXPIRY_MARGIN_S
            self._person = (Secret(str(result["access_token"])), time.monotonic() + lifetime)
        return result

    def _person_flow(self, app: Any) -> dict[str, Any] | None:
        accounts = app.get_accounts()
        if accounts:
            result = app.acquire_token_silent(self.scopes, account=accounts[0])
            if result and "access_token" in result:
                return dict(result)
        flow = app.initiate_device_flow(scopes=self.scopes)
        if "user_code" not in flow:
            return dict(flow)
        print(flow["message"], file=self._prompt or sys.stderr, flush=True)
        return dict(app.acquire_token_by_device_flow(flow))

    def _mask(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text
