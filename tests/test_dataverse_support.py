"""A small scriptable fake of Dataverse and of its identity provider, for the p2c.dataverse tests.

(Only a few tests of the fake itself live here; the other test_dataverse_* modules import it.) It is not
the project's emulator (p2c/emulator): it knows just enough of the Web API to check the client's side of
the contract, and every answer can be scripted per test (`fake.script(...)`): 429 with Retry-After,
5xx, a dropped connection, error bodies. Every request is recorded (`fake.requests`) so tests can look at
the exact method, URL, headers and body the client sent.

Served by werkzeug in a thread; plain HTTP by default, HTTPS with a trustme CA when asked (MSAL accepts
only https authorities, so the sign-in tests use that)."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from p2c.dataverse import ClientOptions, DataverseClient, StaticTokenProvider

API = "/api/data/v9.2/"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "s3cr3t-Value~with.odd_chars"
STATIC_TOKEN = "static-test-token-0123456789"


@dataclass
class Reply:
    """A scripted answer. `drop=True` closes the connection without any response."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # dict/list -> JSON, str/bytes as is
    drop: bool = False
    delay_s: float = 0.0  # wait before answering (for timeouts)


DROP = Reply(drop=True)


def error_reply(status: int, code: str, message: str, **headers: str) -> Reply:
    return Reply(status, dict(headers), {"error": {"code": code, "message": message}})


@dataclass
class Seen:
    method: str
    path: str  # path after /api/data/v9.2/ (or the full path for non-API URLs), percent-decoded
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() when the fake received it
    raw_query: str = ""  # the query string as it came over the wire (still percent-encoded)


class _Dropped(ConnectionResetError):
    """Raised after closing the socket: werkzeug treats a ConnectionError as a dropped client, quietly."""


class FakeDataverse:
    def __init__(self, *, tls: trustme.CA | None = None) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.entities: dict[str, tuple[str, str]] = {}  # logical -> (entity set, primary id)
        self.relationships: dict[str, list[dict[str, str]]] = {}
        self.keys: dict[str, list[dict[str, Any]]] = {}
        self.update_multiple_tables: set[str] = set()
        self.bad_values: dict[str, str] = {}  # column -> a value the fake refuses with 400
        self.dop_hint: int | None = 8
        self.requests: list[Seen] = []
        self.token_requests: list[dict[str, list[str]]] = []
        self.identity_paths: list[str] = []
        self.valid_tokens: set[str] = {STATIC_TOKEN}
        self.client_secret = CLIENT_SECRET
        self.cert_thumbprint_x5t: str | None = None  # base64url SHA-1 of the app certificate
        self.cert_thumbprint_x5t256: str | None = None  # base64url SHA-256 of it
        self.assertion_headers: list[dict[str, Any]] = []
        self.cert_public_key: Any = None
        self.token_counter = 0
        self.refused_client_ids: set[str] = set()  # client ids whose secret the identity provider refuses
        self.client_secrets: dict[str, str] = {}  # client id -> its own secret (else `client_secret`)
        self._down_until = 0.0
        self._down_reply = Reply(503)
        self._scripts: list[tuple[str, str, list[Reply]]] = []
        self._lock = threading.Lock()
        self.tls = tls
        ssl_context = None
        if tls is not None:
            server_cert = tls.issue_cert("localhost", "127.0.0.1")
            import ssl

            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_cert.configure_cert(ssl_context)
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, ssl_context=ssl_context
        )
        self.server.timeout = 0.5
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- test-facing API ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = "localhost" if self.tls else "127.0.0.1"
        return f"{scheme}://{host}:{self.server.server_port}"

    @property
    def authority(self) -> str:
        return f"{self.url}/{TENANT}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def go_down(self, seconds: float, reply: Reply | None = None) -> None:
        """Answer every API request (not the identity provider) with `reply` (503) for `seconds` from now."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            self._down_reply = reply or Reply(503)

    def script(self, method: str, path_contains: str, *replies: Reply) -> None:
        """Answer the next requests matching (method, substring of the API path) with `replies`, in order."""
        with self._lock:
            self._scripts.append((method.upper(), path_contains, list(replies)))

    def add_table(
        self, logical: str, entity_set: str, primary_id: str, *, update_multiple: bool = False
    ) -> None:
        self.entities[logical] = (entity_set, primary_id)
        self.records.setdefault(entity_set, {})
        if update_multiple:
            self.update_multiple_tables.add(logical)

    def add_record(self, entity_set: str, values: dict[str, Any]) -> str:
        record_id = str(uuid.uuid4())
        primary = next(pid for (es, pid) in self.entities.values() if es == entity_set)
        self.records.setdefault(entity_set, {})[record_id] = {primary: record_id, **values, "_version": 1}
        return record_id

    def seen(self, method: str | None = None, contains: str = "") -> list[Seen]:
        return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    # -- WSGI -----------------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path
        path_only = unquote(urlparse(raw_path).path)
        api_path = path_only[len(API) :] if path_only.startswith(API) else path_only
        query = {k: v[0] for k, v in parse_qs(urlparse(raw_path).query, keep_blank_values=True).items()}
        body = request.get_data()
        raw_query = urlparse(raw_path).query
        seen = Seen(
            request.method, api_path, query, dict(request.headers.items()), body, time.monotonic(), raw_query
        )
        reply: Reply | None = None
        with self._lock:
            if path_only.startswith(f"/{TENANT}/"):
                self.identity_paths.append(path_only)
            else:
                self.requests.append(seen)
            for method, contains, replies in self._scripts:
                if method == request.method and contains in api_path and replies:
                    reply = replies.pop(0)
                    break
            if path_only.startswith(API) and time.monotonic() < self._down_until:
                reply = self._down_reply
        if reply is None:
            reply = self._default(request, seen, path_only)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.drop:
            sock = environ["werkzeug.socket"]
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.close()
            raise _Dropped("dropped on purpose")
        headers = {"Set-Cookie": "ARRAffinity=affine; Path=/; HttpOnly", **reply.headers}
        if self.dop_hint is not None and path_only.startswith(API):
            headers.setdefault("x-ms-dop-hint", str(self.dop_hint))
        payload = reply.body
        if isinstance(payload, dict | list):
            headers.setdefault("Content-Type", "application/json; odata.metadata=minimal")
            payload = json.dumps(payload)
        return Response(payload or b"", status=reply.status, headers=headers)(environ, start_response)

    def _default(self, request: Request, seen: Seen, path_only: str) -> Reply:
        if path_only.startswith(f"/{TENANT}/"):
            return self._identity(request, path_only)
        token = seen.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return error_reply(401, "", "The user is not authenticated")
        path = seen.path
        if path == "WhoAmI":
            return Reply(200, body={"UserId": "u-1", "BusinessUnitId": "bu-1", "OrganizationId": "org-1"})
        if path.startswith("EntityDefinitions("):
            return self._metadata(path)
        if path == "sdkmessagefilters":
            table = seen.query.get("@table", "").strip("'")
            message = seen.query.get("@message", "").strip("'")
            found = message == "UpdateMultiple" and table in self.update_multiple_tables
            return Reply(200, body={"value": [{"sdkmessagefilterid": str(uuid.uuid4())}] if found else []})
        if path == "$batch" and request.method == "POST":
            return self._batch(request, seen)
        match = re.fullmatch(r"(\w+)/Microsoft\.Dynamics\.CRM\.UpdateMultiple", path)
        if match and request.method == "POST":
            return self._update_multiple(match.group(1), json.loads(seen.body))
        match = re.fullmatch(r"(\w+)\(([0-9a-f-]{36})\)", path)
        if match and request.method == "PATCH":
            return self._patch(match.group(1), match.group(2), json.loads(seen.body or b"{}"), seen.headers)
        if match and request.method == "GET":
            record = self.records.get(match.group(1), {}).get(match.group(2))
            if record is None:
                return error_reply(404, "0x80040217", f"Entity With Id = {match.group(2)} Does Not Exist")
            return Reply(200, body=self._shape(record, seen.query.get("$select")))
        match = re.fullmatch(r"(\w+)\((\w+)='((?:[^']|'')*)'\)", path)
        if match and request.method == "GET":  # a single-column alternate key URL
            column, value = match.group(2), match.group(3).replace("''", "'")
            hits = [r for r in self.records.get(match.group(1), {}).values() if r.get(column) == value]
            if not hits:
                return error_reply(404, "0x80060891", "A record with the specified key values does not exist")
            return Reply(200, body=self._shape(hits[0], seen.query.get("$select")))
        if re.fullmatch(r"\w+", path) and request.method == "GET" and path in self.records:
            return self._query(path, seen)
        return error_reply(404, "0x8006088a", f"Resource not found for the segment '{path}'.")

    # -- identity provider ----------------------------------------------------------------------------------

    def _identity(self, request: Request, path: str) -> Reply:
        base = f"{self.url}/{TENANT}"
        if path.endswith("/v2.0/.well-known/openid-configuration"):
            return Reply(
                200,
                body={
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "issuer": f"{base}/v2.0",
                },
            )
        form = parse_qs(request.get_data(as_text=True))
        with self._lock:
            self.token_requests.append(form)
        if path.endswith("/oauth2/v2.0/devicecode"):
            return Reply(
                200,
                body={
                    "device_code": "device-code-1",
                    "user_code": "FAKE-CODE",
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": 60,
                    "interval": 1,
                    "message": "To sign in, open https://microsoft.com/devicelogin and enter FAKE-CODE",
                },
            )
        if path.endswith("/oauth2/v2.0/token"):
            grant = form.get("grant_type", [""])[0]
            refused = form.get("client_id", [""])[0] in self.refused_client_ids
            if grant == "client_credentials" and (refused or not self._client_ok(form)):
                return Reply(
                    401, body={"error": "invalid_client", "error_description": "AADSTS7000215: bad secret"}
                )
            with self._lock:
                self.token_counter += 1
                token = f"fake-access-token-{self.token_counter}-{uuid.uuid4().hex}"
                self.valid_tokens.add(token)
            return Reply(200, body={"token_type": "Bearer", "expires_in": 3600, "access_token": token})
        return Reply(404, body={"error": "not_found"})

    def _client_ok(self, form: dict[str, list[str]]) -> bool:
        if form.get("client_secret", [""])[0]:
            expected = self.client_secrets.get(form.get("client_id", [""])[0], self.client_secret)
            return form["client_secret"][0] == expected
        assertion = form.get("client_assertion", [""])[0]
        if not assertion or self.cert_public_key is None:
            return False
        head_b64, payload_b64, signature_b64 = assertion.split(".")
        header = json.loads(_b64url_decode(head_b64))
        sha1, sha256 = (str(header.get(k, "")).rstrip("=") for k in ("x5t", "x5t#S256"))  # MSAL keeps padding
        if sha1 != self.cert_thumbprint_x5t and sha256 != self.cert_thumbprint_x5t256:
            return False
        # MSAL signs RS256 with a SHA-1 thumbprint and PS256 with a SHA-256 one (its PFX path)
        scheme: Any = (
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
            if header.get("alg") == "PS256"
            else padding.PKCS1v15()
        )
        self.cert_public_key.verify(
            _b64url_decode(signature_b64), f"{head_b64}.{payload_b64}".encode(), scheme, hashes.SHA256()
        )  # raises InvalidSignature (a 500 from the fake) if the assertion was not signed with the app's key
        self.assertion_headers.append(header)
        return True

    # -- metadata -------------------------------------------------------------------------------------------

    def _metadata(self, path: str) -> Reply:
        match = re.fullmatch(r"EntityDefinitions\(LogicalName='(\w+)'\)(?:/(\w+))?", path)
        if not match or match.group(1) not in self.entities:
            return error_reply(404, "0x80040217", "Could not find entity")
        logical, part = match.group(1), match.group(2)
        if part is None:
            entity_set, primary = self.entities[logical]
            return Reply(
                200, body={"LogicalName": logical, "EntitySetName": entity_set, "PrimaryIdAttribute": primary}
            )
        if part == "ManyToOneRelationships":
            return Reply(200, body={"value": self.relationships.get(logical, [])})
        if part == "Keys":
            return Reply(200, body={"value": self.keys.get(logical, [])})
        return error_reply(404, "", "unknown metadata segment")

    # -- writes ---------------------------------------------------------------------------------------------

    def _refusal(self, entity_set: str, record_id: str, values: dict[str, Any]) -> Reply | None:
        if record_id not in self.records.get(entity_set, {}):
            return error_reply(404, "0x80040217", f"{entity_set} With Id = {record_id} Does Not Exist")
        for column, bad in self.bad_values.items():
            if values.get(column) == bad:
                return error_reply(
                    400, "0x80044331", f"A validation error occurred. The value of '{column}' is bad"
                )
        return None

    def _patch(
        self, entity_set: str, record_id: str, values: dict[str, Any], headers: dict[str, str]
    ) -> Reply:
        if entity_set not in self.records:
            return error_reply(404, "0x8006088a", f"Resource not found for the segment '{entity_set}'.")
        if "If-Match" not in headers:  # an upsert: the client must never send one
            return error_reply(400, "", "fake: PATCH without If-Match would be an upsert")
        refusal = self._refusal(entity_set, record_id, values)
        if refusal:
            return refusal
        record = self.records[entity_set][record_id]
        if headers["If-Match"] != "*" and headers["If-Match"] != f'W/"{record["_version"]}"':
            return error_reply(412, "0x80060882", "The version of the existing record doesn't match")
        record.update(values)
        record["_version"] += 1
        return Reply(204, {"OData-EntityId": f"{self.url}{API}{entity_set}({record_id})"})

    def _update_multiple(self, entity_set: str, body: dict[str, Any]) -> Reply:
        logical = next((lg for lg, (es, _) in self.entities.items() if es == entity_set), None)
        if logical not in self.update_multiple_tables:
            return error_reply(400, "0x80040203", f"UpdateMultiple is not enabled on the entity {logical}")
        primary = self.entities[logical][1]
        targets = body["Targets"]
        for target in targets:  # all or nothing, as on a standard table
            if target.get("@odata.type") != f"Microsoft.Dynamics.CRM.{logical}":
                return error_reply(400, "0x80048d19", "missing @odata.type")
            values = {k: v for k, v in target.items() if not k.startswith("@")}
            refusal = self._refusal(entity_set, str(values.get(primary)), values)
            if refusal:
                return refusal
        for target in targets:
            values = {k: v for k, v in target.items() if not k.startswith("@")}
            record = self.records[entity_set][str(values[primary])]
            record.update(values)
            record["_version"] += 1
        return Reply(204)

    def _batch(self, request: Request, seen: Seen) -> Reply:
        content_type = seen.headers.get("Content-Type", "")
        boundary = content_type.split("boundary=")[1].strip('"')
        text = seen.body.decode()
        if "\r\n" not in text or "\n" in text.replace("\r\n", ""):
            return error_reply(400, "0x80048d19", "System.ArgumentException: Stream was not readable.")
        out_boundary = f"batchresponse_{uuid.uuid4()}"
        chunks = []
        for part in text.split(f"--{boundary}")[1:]:
            if part.startswith("--"):
                break
            _mime, _, http = part.partition("\r\n\r\n")
            request_line, _, rest = http.partition("\r\n")
            head, _, body = rest.partition("\r\n\r\n")
            method, url, _ = request_line.split(" ")
            headers = dict(line.split(": ", 1) for line in head.split("\r\n") if line)
            target = url[len(API) :] if url.startswith(API) else url
            reply = self._part_script(method, target) or self._part(method, target, body.strip(), headers)
            payload = json.dumps(reply.body) if reply.body is not None else ""
            extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
            content = "Content-Type: application/json; odata.metadata=minimal\r\n" if payload else ""
            chunks.append(
                f"--{out_boundary}\r\nContent-Type: application/http\r\n"
                "Content-Transfer-Encoding: binary\r\n\r\n"
                f"HTTP/1.1 {reply.status} {_reason(reply.status)}\r\n{content}{extra}"
                "OData-Version: 4.0\r\n\r\n"
                f"{payload}\r\n"
            )
        body = "".join(chunks) + f"--{out_boundary}--\r\n"
        return Reply(200, {"Content-Type": f"multipart/mixed; boundary={out_boundary}"}, body)

    def _part_script(self, method: str, target: str) -> Reply | None:
        with self._lock:
            for m, contains, replies in self._scripts:
                if m == f"BATCH-{method}" and contains in target and replies:
                    return replies.pop(0)
        return None

    def _part(self, method: str, target: str, body: str, headers: dict[str, str]) -> Reply:
        match = re.fullmatch(r"(\w+)\(([0-9a-f-]{36})\)", target)
        if method != "PATCH" or not match:
            return error_reply(400, "", f"fake: unsupported batch part {method} {target}")
        return self._patch(match.group(1), match.group(2), json.loads(body or "{}"), headers)

    # -- reads ----------------------------------------------------------------------------------------------

    @staticmethod
    def _shape(record: dict[str, Any], select: str | None) -> dict[str, Any]:
        columns = select.split(",") if select else [k for k in record if not k.startswith("_")]
        shaped = {c: record.get(c) for c in columns}
        shaped["@odata.etag"] = f'W/"{record["_version"]}"'
        return shaped

    def _query(self, entity_set: str, seen: Seen) -> Reply:
        rows = list(self.records[entity_set].values())
        if "$filter" in seen.query:
            predicate = _compile_filter(seen.query["$filter"])
            rows = [r for r in rows if predicate(r)]
        if "$top" in seen.query:
            rows = rows[: int(seen.query["$top"])]
        skip = int(seen.query.get("$skiptoken", "0"))
        prefer = seen.headers.get("Prefer", "")
        size_match = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        size = int(size_match.group(1)) if size_match else 5000
        page = rows[skip : skip + size]
        body: dict[str, Any] = {"value": [self._shape(r, seen.query.get("$select")) for r in page]}
        if skip + size < len(rows):
            params = {k: v for k, v in seen.query.items() if k != "$skiptoken"}
            from urllib.parse import urlencode

            body["@odata.nextLink"] = (
                f"{self.url}{API}{entity_set}?{urlencode({**params, '$skiptoken': skip + size})}"
            )
        return Reply(200, body=body)


def _reason(status: int) -> str:
    return {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}.get(
        status, "Status"
    )


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_TERM = re.compile(r"^\(?\s*(\w+) eq ('(?:[^']|'')*'|[0-9a-fA-F-]{36}|-?\d+|true|false|null)\s*\)?$")


def _compile_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """`a eq 'x' and b eq 1` or `(id eq g1 or id eq g2)`: the two shapes the client writes."""
    joiner = " or " if " or " in text and " and " not in text else " and "
    terms = []
    for piece in _split_outside_quotes(text.strip().removeprefix("(").removesuffix(")"), joiner):
        match = _TERM.match(piece.strip())
        if not match:
            raise ValueError(f"fake cannot read filter term {piece!r}")
        column, raw = match.groups()
        if raw.startswith("'"):
            value: Any = raw[1:-1].replace("''", "'")
        elif raw in ("true", "false"):
            value = raw == "true"
        elif raw == "null":
            value = None
        elif re.fullmatch(r"-?\d+", raw):
            value = int(raw)
        else:
            value = raw.lower()
        terms.append((column, value))
    if joiner == " or ":
        return lambda r: any(str(r.get(c)).lower() == str(v).lower() for c, v in terms)
    return lambda r: all(r.get(c) == v for c, v in terms)


def _split_outside_quotes(text: str, joiner: str) -> list[str]:
    pieces, current, inside, i = [], "", False, 0
    while i < len(text):
        if text[i] == "'":
            inside = not inside
        if not inside and text.startswith(joiner, i):
            pieces.append(current)
            current, i = "", i + len(joiner)
            continue
        current += text[i]
        i += 1
    pieces.append(current)
    return pieces


# -- fixtures and client helpers ----------------------------------------------------------------------------


FAST = ClientOptions(backoff_base_s=0.01, backoff_cap_s=0.05, max_attempts=4)


def make_client(fake: FakeDataverse, options: ClientOptions = FAST, users: int = 1) -> DataverseClient:
    """A client with static tokens the fake accepts (user n has its own token)."""
    providers = []
    for n in range(1, users + 1):
        token = STATIC_TOKEN if n == 1 else f"{STATIC_TOKEN}-user{n}"
        fake.valid_tokens.add(token)
        providers.append(StaticTokenProvider(token, label=f"user{n}"))
    return DataverseClient(fake.url, providers, options)


@pytest.fixture
def fake() -> Iterator[FakeDataverse]:
    server = FakeDataverse()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_fake(test_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDataverse]:
    """An HTTPS fake whose CA is trusted through REQUESTS_CA_BUNDLE, as a user with a private CA would do."""
    bundle = tmp_path / "ca.pem"
    test_ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server = FakeDataverse(tls=test_ca)
    try:
        yield server
    finally:
        server.stop()


def app_certificate(test_ca: trustme.CA | None = None) -> tuple[bytes, bytes, rsa.RSAPublicKey]:
    """(private key PEM, certificate PEM, public key) of a self-signed RSA app certificate."""
    import datetime

    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p2c-app.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), key.public_key()


# -- tests of the fake itself -------------------------------------------------------------------------------


def test_fake_filter_reads_both_shapes_the_client_writes() -> None:
    rows = [{"name": "O'Brien & Sons", "n": 1}, {"name": "x", "n": 2}]
    assert [r["n"] for r in rows if _compile_filter("name eq 'O''Brien & Sons' and n eq 1")(r)] == [1]
    gid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert _compile_filter(f"(id eq {gid} or id eq {gid.upper()})")({"id": gid})


def test_fake_records_requests_and_scripts_answers(fake: FakeDataverse) -> None:
    import requests

    fake.script("GET", "WhoAmI", Reply(503))
    first = requests.get(
        f"{fake.url}{API}WhoAmI", headers={"Authorization": f"Bearer {STATIC_TOKEN}"}, timeout=5
    )
    second = requests.get(
        f"{fake.url}{API}WhoAmI", headers={"Authorization": f"Bearer {STATIC_TOKEN}"}, timeout=5
    )
    assert (first.status_code, second.status_code) == (503, 200)
    assert [r.path for r in fake.requests] == ["WhoAmI", "WhoAmI"]
