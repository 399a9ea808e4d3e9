"""OData `$batch` bodies for Dataverse: build a request of independent PATCHes, parse the response.

The request is one multipart/mixed body without change sets (a change set is all-or-nothing; we want each
row to stand alone) sent with `Prefer: odata.continue-on-error`, so the service runs every part and
reports each part's own status. Lines end in CRLF: with bare LF Dataverse answers 400 "Stream was not
readable". Responses come back in request order; without continue-on-error (or if the service stops
early) fewer parts come back than were sent, and the rest were not processed."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from p2c.dataverse.odata import to_json

CRLF = "\r\n"


@dataclass(frozen=True)
class BatchOperation:
    """One request inside a batch: method, URL (server-relative or absolute), headers, JSON body."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class BatchPartResponse:
    """One embedded HTTP response from a `$batch` answer."""

    status: int
    reason: str
    headers: dict[str, str]
    body: str


def new_boundary() -> str:
    return f"batch_{uuid.uuid4()}"


def build_batch_body(operations: Sequence[BatchOperation], boundary: str) -> bytes:
    """The multipart/mixed request body (CRLF line ends, UTF-8 JSON bodies)."""
    lines: list[str] = []
    for number, op in enumerate(operations, start=1):
        lines += [
            f"--{boundary}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            f"Content-ID: {number}",
            "",
            f"{op.method} {op.url} HTTP/1.1",
        ]
        if op.body is not None:
            lines.append("Content-Type: application/json; type=entry")
        lines += [f"{name}: {value}" for name, value in op.headers.items()]
        lines.append("")
        lines.append(to_json(op.body).decode("utf-8") if op.body is not None else "")
    lines.append(f"--{boundary}--")
    lines.append("")
    return CRLF.join(lines).encode("utf-8")


def batch_content_type(boundary: str) -> str:
    return f'multipart/mixed; boundary="{boundary}"'


def boundary_of(content_type: str) -> str | None:
    """The `boundary` parameter of a multipart Content-Type header (quoted or not)."""
    for piece in content_type.split(";")[1:]:
        name, _, value = piece.strip().partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"') or None
    return None


def _split_head(block: str) -> tuple[dict[str, str], str]:
    """Headers (lower-cased names) and the rest of a MIME or HTTP block; tolerant of bare LF."""
    text = block.replace("\r\n", "\n")
    head, _, rest = text.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _parts(body: str, boundary: str) -> list[str]:
    delimiter = f"--{boundary}"
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:  # chunks[0] is the preamble
        if chunk.startswith("--"):
            break  # the close delimiter
        parts.append(chunk.lstrip("\r\n") if chunk.startswith(("\r\n", "\n")) else chunk)
    return parts


def _http_response(text: str) -> BatchPartResponse:
    text = text.replace("\r\n", "\n").lstrip("\n")
    status_line, _, rest = text.partition("\n")
    pieces = status_line.split(" ", 2)
    if len(pieces) < 2 or not pieces[0].startswith("HTTP/") or not pieces[1].isdigit():
        raise ValueError(f"not an HTTP status line in a $batch response: {status_line[:80]!r}")
    headers, body = _split_head(rest)
    return BatchPartResponse(int(pieces[1]), pieces[2] if len(pieces) > 2 else "", headers, body.strip())


def parse_batch_response(body: str, content_type: str) -> list[BatchPartResponse]:
    """Every embedded response in order; change set responses are flattened in place."""
    boundary = boundary_of(content_type)
    if not boundary:
        raise ValueError(f"$batch response is not multipart: Content-Type {content_type!r}")
    responses: list[BatchPartResponse] = []
    for part in _parts(body, boundary):
        headers, rest = _split_head(part)
        part_type = headers.get("content-type", "")
        if part_type.lower().startswith("multipart/"):
            responses.extend(parse_batch_response(rest, part_type))
        else:
            responses.append(_http_response(rest))
    return responses
