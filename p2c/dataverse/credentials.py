"""Who the client signs in as: one or more application users (or one person, by device code).

Service protection limits are counted per user, so a bulk load can spread its requests over several
application users. They are configured only through the environment (never a command-line value, which
would end up in shell history and process listings):

    P2C_TENANT_ID                      Entra tenant (GUID or domain) of every user unless overridden
    P2C_AUTHORITY                      optional full authority URL (https only), default
                                       https://login.microsoftonline.com/<tenant>
    P2C_CLIENT_ID                      user 1: the app registration's application (client) id
    P2C_CLIENT_SECRET                  user 1: its client secret, or instead
    P2C_CLIENT_CERT                    user 1: a certificate file, PEM (key + certificate) or PFX/PKCS#12
    P2C_CLIENT_CERT_PASSWORD           user 1: the certificate's password, if it has one
    P2C_CLIENT_ID_2, P2C_CLIENT_SECRET_2 | P2C_CLIENT_CERT_2 [+ P2C_CLIENT_CERT_PASSWORD_2],
    P2C_TENANT_ID_2, P2C_AUTHORITY_2   user 2 (tenant and authority default to user 1's); then _3, _4, … up
                                       to _64; numbering may not skip (a _3 without a _2 is an error).

Each user needs an application user in the Dataverse environment with a suitable security role.
A person without an app secret signs in with the device code flow (`device_code_credential`).

Secrets are held in `Secret`, whose str() and repr() never show the value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from p2c.errors import UsageError

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
MAX_USERS = 64
MASK = "***"


class Secret:
    """A string that must not be printed: str(), repr(), f-strings show `***`; `reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the secret to disk or a pipe: refuse, like a file handle.
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class ClientSecretCredential:
    """An application user signing in with its client secret."""

    tenant_id: str
    client_id: str
    secret: Secret = field(repr=False)
    authority: str = ""
    label: str = "user1"

    def __repr__(self) -> str:
        return (
            f"ClientSecretCredential(label={self.label!r}, tenant_id={self.tenant_id!r}, "
            f"client_id={self.client_id!r}, secret={MASK})"
        )


@dataclass(frozen=True)
class CertificateCredential:
    """An application user signing in with a certificate (PEM with key and certificate, or PFX)."""

    tenant_id: str
    client_id: str
    cert_path: Path
    password: Secret | None = field(default=None, repr=False)
    authority: str = ""
    label: str = "user1"

    def __repr__(self) -> str:
        password = MASK if self.password else None
        return (
            f"CertificateCredential(label={self.label!r}, tenant_id={self.tenant_id!r}, "
            f"client_id={self.client_id!r}, cert_path={str(self.cert_path)!r}, password={password})"
        )


@dataclass(frozen=True)
class DeviceCodeCredential:
    """A person signing in interactively with a device code (a public client app registration)."""

    tenant_id: str
    client_id: str
    authority: str = ""
    label: str = "user1"


Credential = ClientSecretCredential | CertificateCredential | DeviceCodeCredential


def authority_url(tenant_id: str, override: str = "") -> str:
    """The authority MSAL signs in against: the override as given, else the public cloud with the tenant."""
    url = (override or f"{DEFAULT_AUTHORITY_HOST}/{tenant_id}").rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname or parsed.path in ("", "/"):
        raise UsageError(
            f"authority {url!r} is not an https URL with a tenant path",
            hint="set P2C_AUTHORITY to e.g. https://login.microsoftonline.com/<tenant id> (https only)",
        )
    return url


def client_id_variable(label: str) -> str:
    """The environment variable that configures the user labelled `label`: user1 -> P2C_CLIENT_ID,
    user2 -> P2C_CLIENT_ID_2 (how a person finds which of several credentials failed)."""
    number = label.removeprefix("user")
    if not number.isdigit():
        return label
    return f"P2C_CLIENT_ID{_suffix(int(number))}"


def _suffix(index: int) -> str:
    return "" if index == 1 else f"_{index}"


def _one_from_env(env: Mapping[str, str], index: int, tenant: str, authority: str) -> Credential:
    sfx = _suffix(index)
    client_id = env.get(f"P2C_CLIENT_ID{sfx}", "").strip()
    secret = env.get(f"P2C_CLIENT_SECRET{sfx}", "")
    cert = env.get(f"P2C_CLIENT_CERT{sfx}", "").strip()
    password = env.get(f"P2C_CLIENT_CERT_PASSWORD{sfx}", "")
    label = f"user{index}"
    if secret and cert:
        raise UsageError(
            f"both P2C_CLIENT_SECRET{sfx} and P2C_CLIENT_CERT{sfx} are set",
            hint="set one way of signing in per application user",
        )
    if secret:
        return ClientSecretCredential(tenant, client_id, Secret(secret), authority, label)
    if cert:
        path = Path(cert).expanduser()
        if not path.is_file():
            raise UsageError(f"P2C_CLIENT_CERT{sfx} names {str(path)!r}, which is not a file")
        return CertificateCredential(
            tenant, client_id, path, Secret(password) if password else None, authority, label
        )
    raise UsageError(
        f"P2C_CLIENT_ID{sfx} is set but neither P2C_CLIENT_SECRET{sfx} nor P2C_CLIENT_CERT{sfx}",
        hint="put the client secret or a certificate path in the environment (never on the command line)",
    )


def credentials_from_env(env: Mapping[str, str] | None = None) -> list[Credential]:
    """Every application user the environment configures (user 1 first); UsageError if none."""
    env = os.environ if env is None else env
    base_tenant = env.get("P2C_TENANT_ID", "").strip()
    base_authority_override = env.get("P2C_AUTHORITY", "").strip()
    if not env.get("P2C_CLIENT_ID", "").strip():
        raise UsageError(
            "no Dataverse credentials: P2C_CLIENT_ID is not set",
            hint="set P2C_TENANT_ID, P2C_CLIENT_ID and P2C_CLIENT_SECRET (or P2C_CLIENT_CERT) in the env",
        )
    credentials: list[Credential] = []
    missing_at: int | None = None
    for index in range(1, MAX_USERS + 1):
        sfx = _suffix(index)
        if not env.get(f"P2C_CLIENT_ID{sfx}", "").strip():
            # a secret or certificate without its client id is a user half configured, not no user
            halves = [
                f"P2C_CLIENT_{kind}{sfx}" for kind in ("SECRET", "CERT") if env.get(f"P2C_CLIENT_{kind}{sfx}")
            ]
            if halves:
                raise UsageError(
                    f"{halves[0]} is set but P2C_CLIENT_ID{sfx} is not",
                    hint=f"set both P2C_CLIENT_ID{sfx} and {halves[0]} for that application user, or neither",
                )
            missing_at = missing_at or index
            continue
        if missing_at is not None:
            raise UsageError(f"P2C_CLIENT_ID{sfx} is set but P2C_CLIENT_ID{_suffix(missing_at)} is not")
        tenant = env.get(f"P2C_TENANT_ID{sfx}", "").strip() or base_tenant
        override = env.get(f"P2C_AUTHORITY{sfx}", "").strip() or base_authority_override
        if not tenant and not override:
            raise UsageError(f"P2C_TENANT_ID is not set (needed for P2C_CLIENT_ID{sfx})")
        credentials.append(_one_from_env(env, index, tenant, authority_url(tenant, override)))
    return credentials


def device_code_credential(env: Mapping[str, str] | None = None) -> DeviceCodeCredential:
    """A person's sign-in: P2C_TENANT_ID and P2C_CLIENT_ID of a public client registration (no secret)."""
    env = os.environ if env is None else env
    tenant = env.get("P2C_TENANT_ID", "").strip()
    client_id = env.get("P2C_CLIENT_ID", "").strip()
    override = env.get("P2C_AUTHORITY", "").strip()
    if not client_id or not (tenant or override):
        raise UsageError("device code sign-in needs P2C_TENANT_ID and P2C_CLIENT_ID (a public client app)")
    return DeviceCodeCredential(tenant, client_id, authority_url(tenant, override))
