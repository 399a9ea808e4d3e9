"""The errors the Dataverse client raises, sorted into the project's two kinds (see `p2c.errors`).

`DataverseTransientError` (429, 5xx, timeouts, dropped connections) may succeed if sent again; the client has
already retried it as often as its options allow when it reaches the caller. `DataverseTerminalError` (any
other 4xx, a refused credential) fails the same way every time. Both carry the HTTP status, the Dataverse
error code (`0x80040217`…, often empty), the service's message and the request statistics, so a caller can
report a failure without parsing text. No error ever carries a secret: messages are built from status lines,
URLs and the service's error body, never from headers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from p2c.errors import P2CError, TerminalError, TransientError

if TYPE_CHECKING:
    import requests

    from p2c.dataverse.results import RequestStats


class DataverseError(P2CError):
    """A request Dataverse (or its identity provider) did not complete."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        service_message: str = "",
        request: str = "",
        stats: RequestStats | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.service_message = service_message
        self.request = request
        self.stats = stats


class DataverseTransientError(DataverseError, TransientError):
    """Throttled, a server error, a timeout or a dropped connection, after the client's own retries."""


class DataverseTerminalError(DataverseError, TerminalError):
    """A 4xx other than 429 (or a 401 that a fresh token did not cure): sending it again will not help."""


class AuthenticationError(DataverseTerminalError):
    """No token: the identity provider refused the credential, or Dataverse refused a fresh token."""


class ReferenceNotFound(DataverseTerminalError):
    """A reference record (a company by its code, …) that must exist does not."""


class AmbiguousReference(DataverseTerminalError):
    """A reference lookup matched more than one record, so no single id can be bound."""


class ServiceUnreachable(TransientError):
    """The service did not answer for longer than the client's outage budget: the whole run stops (not one
    row), because every further request would fail the same way. Deliberately no `DataverseError`, so no
    code that fails rows one by one can catch it."""

    def __init__(self, url: str, down_for_s: float, budget_s: float, last_failure: str) -> None:
        super().__init__(
            f"Dataverse at {url} did not answer for {down_for_s:.0f} s "
            f"(the client waits up to {budget_s:.0f} s for an outage to end); "
            f"the last attempt: {last_failure}",
            hint="what was written is recorded: run the same command again when the service answers",
        )
        self.url = url
        self.down_for_s = down_for_s
        self.budget_s = budget_s
        self.last_failure = last_failure


class EnvironmentUnreachable(P2CError):
    """The environment URL leads nowhere at sign-in (nothing listening, unknown host, no TLS): a wrong URL
    or port, told apart from a refused credential."""

    def __init__(self, url: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"cannot reach the Dataverse environment {url}: {reason}",
            hint=hint or "check the environment URL (--env / P2C_DATAVERSE_URL) and its port",
        )
        self.url = url
        self.reason = reason


OUTAGE_STATUSES = frozenset({502, 503, 504})  # a gateway or a service that is down, not a row's problem


def is_retryable_status(status: int) -> bool:
    """429 and every 5xx are worth another try; every other status will come back the same."""
    return status == 429 or status >= 500


def parse_error_body(text: str) -> tuple[str, str]:
    """`{"error": {"code": "0x…", "message": "…"}}` -> (code, message); else ("", the first 500 chars)."""
    try:
        payload: Any = json.loads(text)
    except ValueError:
        return "", text.strip()[:500]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    return "", text.strip()[:500]


def error_for_status(
    status: int,
    body: str,
    *,
    request: str,
    reason: str = "",
    stats: RequestStats | None = None,
) -> DataverseError:
    """The typed error for a failed HTTP response: transient for 429/5xx, terminal for the rest."""
    code, service_message = parse_error_body(body)
    detail = service_message or reason or "no error message"
    code_part = f" {code}" if code else ""
    message = f"{request} failed: HTTP {status}{code_part}: {detail}"
    kind = DataverseTransientError if is_retryable_status(status) else DataverseTerminalError
    return kind(
        message, status=status, code=code, service_message=service_message, request=request, stats=stats
    )


def error_from_response(
    response: requests.Response, *, request: str, stats: RequestStats | None = None
) -> DataverseError:
    return error_for_status(
        response.status_code, response.text, request=request, reason=response.reason or "", stats=stats
    )
