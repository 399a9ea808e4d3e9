"""A token service shaped like Microsoft Entra ID, so the real msal code path runs against the emulator.

Authority `https://127.0.0.1:P/<tenant>`; msal reads `<authority>/v2.0/.well-known/openid-configuration`
(and, unless `instance_discovery=False`, `https://127.0.0.1:P/common/discovery/instance` first) and then
posts to `<authority>/oauth2/v2.0/token` or `<authority>/oauth2/v2.0/devicecode`.

* Client credentials with a client secret: the configured (client id, secret) pairs are accepted; a wrong
  secret gets `invalid_client` / AADSTS7000215 (HTTP 401) and an unknown client id `unauthorized_client` /
  AADSTS700016 (HTTP 400), as Entra answers them.
* Client credentials with a certificate: a user registered with a certificate (its public PEM) may send a
  signed client assertion instead (`client_assertion_type` jwt-bearer, RS256 or PS256, header `x5t` or
  `x5t#S256` naming the certificate, `aud` = the token endpoint, `iss` = `sub` = the client id, not
  expired), checked with PyJWT as Entra checks it; anything else is `invalid_client` / AADSTS700027.
* Device code (people): any configured client id may start a flow; the first poll answers
  `authorization_pending`, the next one is approved automatically (there is no person to sign in).
* Scope must be `<service URL>/.default` (confidential) or `<service URL>/user_impersonation` / `.default`
  (device code), where the service URL is `https://127.0.0.1:P` or `https://localhost:P`.
Tokens are opaque random strings; only their SHA-256 is kept (in the state file, so they survive a restart)
and they expire after `token_lifetime` seconds."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from p2c.emulator.store import Store


@dataclass(frozen=True)
class OAuthAnswer:
    status: int
    body: dict[str, Any]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenService:
    def __init__(
        self,
        store: Store,
        users: dict[str, str],
        tenant: str,
        token_lifetime: int,
        certificates: Mapping[str, bytes] | None = None,
    ) -> None:
        self.store = store
        self.users = dict(users)
        # client id -> its registered certificate (public PEM), as uploaded to an app registration
        self.certificates = {
            client_id: x509.load_pem_x509_certificate(pem) for client_id, pem in (certificates or {}).items()
        }
        self.tenant = tenant
        self.token_lifetime = token_lifetime
        self.base_url = ""  # set once the port is known
        self._device_flows: dict[str, dict[str, Any]] = {}
        self._valid: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    # --- discovery -------------------------------------------------------------------------------------
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant}"

    def openid_configuration(self) -> dict[str, Any]:
        authority = self.authority()
        return {
            "issuer": f"{authority}/v2.0",
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "client_secret_basic",
                "private_key_jwt",
            ],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "grant_types_supported": ["client_credentials", "urn:ietf:params:oauth:grant-type:device_code"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "emulator.local",
        }

    def instance_discovery(self) -> dict[str, Any]:
        host = self.base_url.split("://", 1)[1]
        return {
            "tenant_discovery_endpoint": f"{self.authority()}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    # --- tokens ----------------------------------------------------------------------------------------
    def _error(self, status: int, error: str, code: int, description: str) -> OAuthAnswer:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        return OAuthAnswer(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: "
                f"{correlation} Timestamp: {stamp}",
                "error_codes": [code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"{self.authority()}/error?code={code}",
            },
        )

    def _scope_error(self, scope: str, *, confidential: bool) -> OAuthAnswer | None:
        resources = {self.base_url, self.base_url.replace("127.0.0.1", "localhost")}
        suffixes = ("/.default",) if confidential else ("/.default", "/user_impersonation")
        for item in scope.split():
            if item in ("openid", "profile", "offline_access"):
                continue
            resource, suffix = item.rstrip("/"), ""
            for candidate in suffixes:
                if item.endswith(candidate):
                    resource, suffix = item[: -len(candidate)].rstrip("/"), candidate
            if not suffix and confidential:
                return self._error(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {item} is not valid. Client credential flows must "
                    "have a scope "
                    "value with /.default suffixed to the resource identifier (application ID URI).",
                )
            if resource not in resources:
                return self._error(
                    400,
                    "invalid_resource",
                    500011,
                    f"The resource principal named {resource} was not found in the tenant named "
                    f"{self.tenant}.",
                )
            return None
        return self._error(
            400, "invalid_scope", 1002012, "The request has no scope for the Dataverse service."
        )

    def _issue(self, client_id: str) -> OAuthAnswer:
        token = secrets.token_urlsafe(48)
        expires_at = time.time() + self.token_lifetime
        with self.store.transaction() as txn:
            txn.save_token(token_hash(token), client_id, expires_at)
        with self._lock:
            self._valid[token_hash(token)] = (client_id, expires_at)
        return OAuthAnswer(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            },
        )

    def token(self, tenant: str, form: dict[str, str]) -> OAuthAnswer:
        if tenant != self.tenant:
            return self._error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        grant = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        if grant == "client_credentials":
            if client_id not in self.users:
                return self._error(
                    400,
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{client_id}' was not found in the directory "
                    f"'{self.tenant}'.",
                )
            if "client_assertion" in form:
                problem = self._assertion_problem(client_id, form)
                if problem:
                    return self._error(401, "invalid_client", 700027, f"Client assertion failed: {problem}")
                refused = self._scope_error(form.get("scope", ""), confidential=True)
                return refused or self._issue(client_id)
            if not secrets.compare_digest(form.get("client_secret", ""), self.users[client_id]):
                return self._error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is "
                    "the client "
                    f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
                )
            refused = self._scope_error(form.get("scope", ""), confidential=True)
            return refused or self._issue(client_id)
        if grant in ("urn:ietf:params:oauth:grant-type:device_code", "device_code"):
            with self._lock:
                flow = self._device_flows.get(form.get("device_code", ""))
                if flow is None or flow["client_id"] != client_id:
                    return self._error(400, "invalid_grant", 70000, "The provided device code is not valid.")
                if time.time() > flow["expires_at"]:
                    return self._error(400, "expired_token", 70020, "The device code has expired.")
                flow["polls"] += 1
                pending = flow["polls"] < 2
            if pending:
                return self._error(
                    400,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )
            with self._lock:
                self._device_flows.pop(form.get("device_code", ""), None)
            return self._issue(client_id)
        return self._error(
            400, "unsupported_grant_type", 70003, f"The grant type '{grant}' is not supported."
        )

    def _assertion_problem(self, client_id: str, form: Mapping[str, str]) -> str:
        """Why a certificate assertion is refused, or '' when it is valid for `client_id`."""
        certificate = self.certificates.get(client_id)
        if certificate is None:
            return f"no certificate is registered for application '{client_id}'."
        if form.get("client_assertion_type") != JWT_BEARER:
            return f"client_assertion_type must be {JWT_BEARER}."
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as error:
            return f"the assertion is not a JWT ({error})."
        thumbprints = {
            "x5t": _b64url(certificate.fingerprint(hashes.SHA1())),
            "x5t#S256": _b64url(certificate.fingerprint(hashes.SHA256())),
        }
        # base64url with or without its padding (msal keeps the `=`)
        if not any(str(header.get(name, "")).rstrip("=") == value for name, value in thumbprints.items()):
            return "the key (x5t) is not the certificate registered for the application."
        try:
            claims = jwt.decode(
                assertion,
                certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=f"{self.authority()}/oauth2/v2.0/token",
                issuer=client_id,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.PyJWTError as error:
            return f"the assertion is not valid ({error})."
        if claims.get("sub") != client_id:
            return "the assertion's subject is not the client id."
        return ""

    def device_code(self, tenant: str, form: dict[str, str]) -> OAuthAnswer:
        if tenant != self.tenant:
            return self._error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        client_id = form.get("client_id", "")
        if client_id not in self.users:
            return self._error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{self.tenant}'.",
            )
        refused = self._scope_error(form.get("scope", ""), confidential=False)
        if refused:
            return refused
        device_code = secrets.token_urlsafe(32)
        user_code = secrets.token_hex(4).upper()
        with self._lock:
            self._device_flows[device_code] = {
                "client_id": client_id,
                "polls": 0,
                "expires_at": time.time() + 900,
            }
        verification = f"{self.base_url}/devicelogin"
        return OAuthAnswer(
            200,
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification,
                "expires_in": 900,
                "interval": 1,
                "message": f"To sign in, use a web browser to open the page {verification} and enter "
                "the code "
                f"{user_code} to authenticate. (Emulator: approved automatically after the first poll.)",
            },
        )

    def client_of(self, authorization: str | None) -> str | None:
        """The client id a valid, unexpired bearer token was issued to, else None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = token_hash(authorization[len("Bearer ") :].strip())
        with self._lock:
            known = self._valid.get(digest)
        if known is None:
            with self.store.reading() as txn:
                known = txn.token(digest)
            if known is None:
                return None
            with self._lock:
                self._valid[digest] = known
        client_id, expires_at = known
        return client_id if time.time() < expires_at else None
