"""Dataverse Web API client for initializing migrated records: updates by record id, nothing else.

Public surface (see `client.py` for an example):
* `DataverseClient` (`from_environment`, `update`, `update_many`, `get`, `query`, `get_many`, `resolve_id`,
  `get_by_key`, `whoami`, `metadata`, `references`), `ClientOptions`, `BulkMode`;
* `UpdateRow`, `RowResult`, `RowStatus`, `WriteMethod`, `Resolution`, `Record`, `EntityInfo`, …;
* `bind` for `@odata.bind` values; the errors in `errors.py` (`ServiceUnreachable`: an outage past budget);
* `ClientEvents` for `client.events` (a progress display);
* credentials (`credentials_from_env`, `device_code_credential`) and token providers.

Under the client, `transport.py` sends every request (and holds the read-only guard); `metadata.py`,
`references.py` and `bulk.py` send through it, never through the client (docs/requests.md)."""

from p2c.dataverse.auth import MsalTokenProvider, StaticTokenProvider, TokenProvider
from p2c.dataverse.client import DataverseClient
from p2c.dataverse.credentials import (
    CertificateCredential,
    ClientSecretCredential,
    DeviceCodeCredential,
    Secret,
    credentials_from_env,
    device_code_credential,
)
from p2c.dataverse.errors import (
    AmbiguousReference,
    AuthenticationError,
    DataverseError,
    DataverseTerminalError,
    DataverseTransientError,
    EnvironmentUnreachable,
    ReferenceNotFound,
    ServiceUnreachable,
)
from p2c.dataverse.events import NO_EVENTS, ClientEvents
from p2c.dataverse.odata import bind
from p2c.dataverse.options import BulkMode, ClientOptions
from p2c.dataverse.results import (
    EntityInfo,
    EntityKey,
    LookupRelation,
    Record,
    RequestStats,
    Resolution,
    ResolutionStatus,
    RowResult,
    RowStatus,
    UpdateRow,
    WhoAmI,
    WriteMethod,
)

__all__ = [
    "NO_EVENTS",
    "AmbiguousReference",
    "AuthenticationError",
    "BulkMode",
    "CertificateCredential",
    "ClientEvents",
    "ClientOptions",
    "ClientSecretCredential",
    "DataverseClient",
    "DataverseError",
    "DataverseTerminalError",
    "DataverseTransientError",
    "DeviceCodeCredential",
    "EntityInfo",
    "EntityKey",
    "EnvironmentUnreachable",
    "LookupRelation",
    "MsalTokenProvider",
    "Record",
    "ReferenceNotFound",
    "RequestStats",
    "Resolution",
    "ResolutionStatus",
    "RowResult",
    "RowStatus",
    "Secret",
    "ServiceUnreachable",
    "StaticTokenProvider",
    "TokenProvider",
    "UpdateRow",
    "WhoAmI",
    "WriteMethod",
    "bind",
    "credentials_from_env",
    "device_code_credential",
]
