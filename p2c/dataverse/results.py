"""Typed results the client hands back: per request, per written row, per lookup, per metadata item.

Every write the uploader asks for ends as exactly one `RowResult` (updated or failed, never silently dropped),
with the numbers the uploader shows: how many HTTP sends carried the row and how long it waited on service
protection. Times are UTC `datetime`s so results can be stored and compared across runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass
class RequestStats:
    """What one logical request cost: sends (1 + retries), seconds waiting on 429 Retry-After, on backoff."""

    user: str = ""
    attempts: int = 0
    throttle_wait_s: float = 0.0
    backoff_wait_s: float = 0.0

    def add(self, other: RequestStats) -> None:
        self.attempts += other.attempts
        self.throttle_wait_s += other.throttle_wait_s
        self.backoff_wait_s += other.backoff_wait_s
        self.user = other.user or self.user


class RowStatus(StrEnum):
    UPDATED = "updated"
    FAILED = "failed"


class WriteMethod(StrEnum):
    """How the row travelled: one bulk UpdateMultiple, one part of a $batch, or its own PATCH."""

    UPDATE_MULTIPLE = "UpdateMultiple"
    BATCH = "$batch"
    SINGLE = "PATCH"
    NOT_SENT = "not sent"


@dataclass
class RowResult:
    """The outcome of updating one existing record by its id."""

    record_id: str
    status: RowStatus
    http_status: int | None
    error_code: str
    message: str
    attempts: int
    throttle_wait_s: float
    started_at: datetime
    finished_at: datetime
    method: WriteMethod
    user: str = ""
    retryable: bool = False  # a failed row that may succeed on a later run (throttled/5xx after all retries)

    @property
    def ok(self) -> bool:
        return self.status is RowStatus.UPDATED


@dataclass(frozen=True)
class UpdateRow:
    """One record to update: its id (the GUID the export carried), the columns to set, and the precondition.

    `if_match` is `"*"` (the record must exist; the update never creates one) or an ETag such as `W/"123"`
    (the record must also be unchanged since it was read)."""

    record_id: str
    values: dict[str, Any]
    if_match: str = "*"
    # the application users (labels) allowed to send it, e.g. only an admin for a record in a read-only
    # state (upload/record_state.py); None: any user
    users: frozenset[str] | None = None


@dataclass(frozen=True)
class Record:
    """One record read by id: its columns as Dataverse returned them and its ETag (for `If-Match`)."""

    record_id: str
    values: dict[str, Any]
    etag: str | None


class ResolutionStatus(StrEnum):
    FOUND = "found"
    NONE = "none"
    SEVERAL = "several"


@dataclass(frozen=True)
class Resolution:
    """Which record a set of column values names: exactly one id, none, or several (at most two shown)."""

    status: ResolutionStatus
    record_id: str | None = None
    candidates: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return self.status is ResolutionStatus.FOUND


@dataclass(frozen=True)
class EntityInfo:
    """How one table is addressed in the Web API."""

    logical_name: str
    entity_set_name: str
    primary_id_attribute: str


@dataclass(frozen=True)
class LookupRelation:
    """One many-to-one relationship: lookup column, the navigation property that binds it, its target."""

    referencing_attribute: str
    navigation_property: str
    referenced_entity: str
    referenced_attribute: str


@dataclass(frozen=True)
class EntityKey:
    """One alternate key (EntityKeyMetadata)."""

    schema_name: str
    logical_name: str
    key_attributes: tuple[str, ...]
    index_status: str = ""


@dataclass(frozen=True)
class WhoAmI:
    user_id: str
    business_unit_id: str
    organization_id: str
    user: str = field(default="", compare=False)  # which configured application user answered
