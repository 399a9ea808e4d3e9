"""What one Web API request answers, before it becomes an HTTP response (top level) or a `$batch` part."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from p2c.emulator.api_errors import ApiError
from p2c.emulator.batch import PartResponse


@dataclass
class ApiResult:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, document: Any, headers: Mapping[str, str] | None = None) -> ApiResult:
        return cls(
            status,
            {"Content-Type": "application/json; odata.metadata=minimal", **(headers or {})},
            json.dumps(document).encode("utf-8"),
        )

    @classmethod
    def error(cls, error: ApiError) -> ApiResult:
        return cls.json(error.status, error.body(), error.headers)


def batch_part(result: ApiResult, content_id: str | None) -> PartResponse:
    """The answer of a request inside a `$batch`, as its response part."""
    headers = {"OData-Version": "4.0", "REQ_ID": str(uuid.uuid4()), **result.headers}
    return PartResponse(result.status, headers, result.body, content_id)
