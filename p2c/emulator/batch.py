"""OData `$batch` bodies (multipart/mixed), read and written as the Web API does
(`dataverse-web-api.md` §3.2).

A batch holds single requests and change sets; a change set holds requests with optional `Content-ID`s.
Line endings must be CRLF: a bare LF is refused with 0x80048d19 "... Stream was not readable.", as the
service does. Responses are `--batchresponse_<id>` parts, change sets as `changesetresponse_<id>`."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus

from p2c.emulator.api_errors import ApiError

MAX_REQUESTS = 1000


@dataclass
class BatchRequest:
    method: str
    url: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    requests: list[BatchRequest] = field(default_factory=list)


@dataclass
class PartResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    content_id: str | None = None


def _boundary(content_type: str) -> str:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ApiError(400, "0x80048d19", "The batch request must have a multipart/mixed boundary.")
    return match.group(1)


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line.strip():
            continue
        name, colon, value = line.decode("utf-8").partition(":")
        if not colon:
            raise ApiError(
                400, "0x80048d19", f"The batch part header '{line.decode('utf-8', 'replace')}' is malformed."
            )
        headers[name.strip().lower()] = value.strip()
    return headers


def _parts(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode("utf-8")
    pieces = body.split(delimiter)
    if len(pieces) < 2 or not pieces[-1].startswith(b"--"):
        raise ApiError(
            400, "0x80048d19", f"The batch body does not end with the closing delimiter --{boundary}--."
        )
    parts = []
    for piece in pieces[1:-1]:
        if not piece.startswith(b"\r\n"):
            raise ApiError(400, "0x80048d19", "A batch delimiter must be followed by CRLF.")
        parts.append(piece[2:])
    return parts


def _split_head(part: bytes) -> tuple[bytes, bytes]:
    head, separator, rest = part.partition(b"\r\n\r\n")
    if not separator:
        if part.strip() == b"":
            return b"", b""
        head, rest = part, b""
    return head, rest


def _http_request(part: bytes, mime_headers: dict[str, str]) -> BatchRequest:
    _, content = _split_head(part)
    request_head, body = _split_head(content)
    lines = request_head.split(b"\r\n")
    words = lines[0].decode("utf-8").split(" ")
    # METHOD URL HTTP/1.1; a URL with unencoded spaces is accepted by joining the middle words.
    request_line = [words[0], " ".join(words[1:-1]), words[-1]] if len(words) >= 3 else words
    if len(request_line) != 3 or not request_line[2].startswith("HTTP/"):
        raise ApiError(
            400, "0x80048d19", f"The batch request line '{lines[0].decode('utf-8', 'replace')}' is malformed."
        )
    headers = _headers(b"\r\n".join(lines[1:]))
    if body.endswith(b"\r\n"):
        body = body[:-2]
    content_id = mime_headers.get("content-id") or headers.get("content-id")
    return BatchRequest(request_line[0].upper(), request_line[1], headers, body.strip(), content_id)


def parse_batch(content_type: str, body: bytes) -> list[BatchRequest | ChangeSet]:
    if re.search(rb"(?<!\r)\n", body):
        raise ApiError(
            400,
            "0x80048d19",
            "Error identified in Payload provided by the user for Entity :''  ---->  InnerException : "
            "System.ArgumentException: Stream was not readable.",
        )
    items: list[BatchRequest | ChangeSet] = []
    count = 0
    for part in _parts(body, _boundary(content_type)):
        head, _ = _split_head(part)
        mime = _headers(head)
        kind = mime.get("content-type", "")
        if kind.startswith("multipart/mixed"):
            change_set = ChangeSet()
            _, inner = _split_head(part)
            for inner_part in _parts(inner, _boundary(kind)):
                inner_mime = _headers(_split_head(inner_part)[0])
                request = _http_request(inner_part, inner_mime)
                if request.method == "GET":
                    raise ApiError(400, "0x80048d19", "GET requests are not allowed inside a change set.")
                change_set.requests.append(request)
            count += len(change_set.requests)
            items.append(change_set)
        elif kind.startswith("application/http"):
            items.append(_http_request(part, mime))
            count += 1
        else:
            raise ApiError(400, "0x80048d19", f"A batch part has the unsupported Content-Type '{kind}'.")
    if count > MAX_REQUESTS:
        raise ApiError(
            400, "0x80048d19", f"The batch holds {count} requests; at most {MAX_REQUESTS} are allowed."
        )
    return items


def _render_part(response: PartResponse) -> bytes:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if response.content_id:
        lines.append(f"Content-ID: {response.content_id}")
    reason = HTTPStatus(response.status).phrase
    lines += ["", f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    lines += ["", ""]
    return "\r\n".join(lines).encode("utf-8") + response.body + b"\r\n"


def render_batch(items: list[PartResponse | list[PartResponse]]) -> tuple[str, bytes]:
    """(Content-Type, body) of the batch response."""
    boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[bytes] = []
    for item in items:
        chunks.append(f"--{boundary}\r\n".encode())
        if isinstance(item, list):
            inner = f"changesetresponse_{uuid.uuid4()}"
            chunks.append(f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode())
            for response in item:
                chunks.append(f"--{inner}\r\n".encode() + _render_part(response))
            chunks.append(f"--{inner}--\r\n".encode())
        else:
            chunks.append(_render_part(item))
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(chunks)
