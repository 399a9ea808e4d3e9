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
