"""Start the emulator: a werkzeug threaded HTTPS server on 127.0.0.1 with a certificate from a local test CA.

`run_emulator(...)` runs in the foreground until SIGINT/SIGTERM; `running_emulator(...)` runs it on a
background thread for tests and yields where it listens. The CA certificate is written to `ca_cert` so a
client trusts it through the standard `REQUESTS_CA_BUNDLE` (or `verify=`); no client code path is special.

Users (application users, each with its own service-protection budget): `client_id`/`client_secret`, plus
`extra_users` pairs. From the command line: `--client-id` repeated, secrets from `P2C_CLIENT_SECRET` for the
first and `P2C_CLIENT_SECRET_2`, `P2C_CLIENT_SECRET_3`, ... for the next ones (never a flag); a user may also
sign in with a certificate, registered by `--client-cert CLIENT_ID=cert.pem` (its public certificate)."""

from __future__ import annotations

import signal
import socket
import sqlite3
import ssl
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from p2c.emulator.app import EmulatorApp
from p2c.emulator.auth import TokenService
from p2c.emulator.faults import FaultInjector, Faults, parse_faults
from p2c.emulator.limits import Limits, ServiceProtection, parse_limits
from p2c.emulator.record_state import RecordStatePolicy, RecordStateRules, check_policy
from p2c.emulator.schema import Schema, load_schema
from p2c.emulator.seed import SeedReport, check_seed_source, seed_store
from p2c.emulator.seed_progress import seed_progress
from p2c.emulator.store import Store
from p2c.errors import ExitCode, UsageError

DEFAULT_TENANT = "p2c-emulator"
HOST = "127.0.0.1"


class QuietHandler(WSGIRequestHandler):
    """werkzeug's own access log is off: the app logs compactly with --verbose, and never headers.

    HTTP/1.1 keeps connections alive between requests, as the real service does: a client then pays the TLS
    handshake once per connection, not once per request."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def log_error(self, format: str, *args: Any) -> None:
        return None


@dataclass(frozen=True)
class RunningEmulator:
    base_url: str  # https://127.0.0.1:P
    service_root: str  # https://127.0.0.1:P/api/data/v9.2/
    authority: str  # https://127.0.0.1:P/<tenant>
    scope: str  # https://127.0.0.1:P/.default
    ca_cert: Path
    state: Path
    port: int
    users: dict[str, str]
    seed_report: SeedReport | None
    app: EmulatorApp


@dataclass
class _Built:
    server: BaseWSGIServer
    store: Store
    info: RunningEmulator


def users_of(
    client_id: str, client_secret: str, extra_users: Sequence[tuple[str, str]] = ()
) -> dict[str, str]:
    """client id -> secret, checked: every user has both, no client id twice."""
    users: dict[str, str] = {}
    for user, secret in [(client_id, client_secret), *extra_users]:
        if not user or not secret:
            raise UsageError(
                "every emulator user needs a client id and a secret",
                hint="set P2C_CLIENT_SECRET (and P2C_CLIENT_SECRET_2, ... for more --client-id)",
            )
        if user in users:
            raise UsageError(f"client id {user!r} is given twice")
        users[user] = secret
    return users


@dataclass(frozen=True)
class EmulatorSettings:
    """Everything one emulator run is made of (the `p2c emulator` options)."""

    state: Path
    users: dict[str, str]  # client id -> client secret, in the order given
    port: int = 0
    seed_from: Path | None = None
    ca_cert: Path | None = None
    limits: str | None = None
    faults: str | None = None
    tenant: str = DEFAULT_TENANT
    seed: int | None = None
    verbose: bool = False
    options: dict[str, bool] | None = None
    certificates: dict[str, bytes] = field(default_factory=dict)  # client id -> certificate (public PEM)
    reset: bool = False  # start over: an empty state with a new organization id (a sandbox reset)
    show_progress: bool = False  # say on stderr what seeding does while it does it (the command line)
    record_state: RecordStatePolicy = field(default_factory=RecordStatePolicy)  # who writes read-only records


def check_settings(settings: EmulatorSettings) -> None:
    """Refuse a mistake before anything is created: a port out of range, a file in a folder that does not
    exist (a typo must not scatter state files), a --seed-from that `p2c load` did not make."""
    if not 0 <= settings.port <= 65535:
        raise UsageError(f"--port {settings.port}: expected 1 to 65535, or 0 for any free port")
    for option, path in (("--state", settings.state), ("--ca-cert", settings.ca_cert)):
        if path is None:
            continue
        if path.is_dir():
            raise UsageError(f"{option} {path} is a folder: give a file name in it")
        if not path.parent.is_dir():
            raise UsageError(
                f"{option} {path}: the folder {path.parent} does not exist",
                hint="create it first, or correct the path",
            )
    if settings.seed_from is not None:
        check_seed_source(settings.seed_from)
    if settings.port:
        _check_port_free(settings.port)


def _check_port_free(port: int) -> None:
    """werkzeug exits the process by itself on a taken port, after the state and the CA file were written (a
    running emulator's CA overwritten): find out first, with the same bind the server will make."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise UsageError(
                f"--port {port}: {HOST}:{port} is in use ({error.strerror})",
                hint="stop what listens there (another emulator?), or choose another port (0: any free port)",
            ) from None


def _open_store(settings: EmulatorSettings) -> Store:
    """The state file, reset when asked; refuses to seed a state that already holds an environment."""
    try:
        store = Store(settings.state)
    except sqlite3.DatabaseError as error:
        raise UsageError(
            f"--state {settings.state} is not an emulator state file ({error})",
            hint="give a new file name, or the state file an earlier `p2c emulator` wrote",
        ) from None
    try:
        if settings.reset:
            store.reset()
        elif settings.seed_from is not None and not store.created:
            held = store.record_count()
            if held or store.seeded_from() is not None:
                raise UsageError(
                    f"state {settings.state} already holds {held:,} records "
                    f"(organization {store.organization_id}): --seed-from seeds a new state only",
                    hint="use --reset to start over from --seed-from, or drop --seed-from to keep it",
                )
    except BaseException:
        store.close()
        raise
    return store


def _build(settings: EmulatorSettings) -> _Built:
    users = settings.users
    unknown_certs = sorted(set(settings.certificates) - set(users))
    if unknown_certs:
        raise UsageError(f"a certificate is given for {', '.join(unknown_certs)}, which is not a --client-id")
    check_policy(settings.record_state, users)
    parsed_limits = parse_limits(settings.limits)
    parsed_faults = parse_faults(settings.faults)
    schema = load_schema()
    unknown = set(settings.options or {}) - set(schema.options)
    if unknown:
        raise UsageError(
            f"unknown emulator option(s): {', '.join(sorted(unknown))}",
            hint=f"known: {', '.join(sorted(schema.options))}",
        )
    chosen = {**schema.options, **(settings.options or {})}
    check_settings(settings)
    store = _open_store(settings)
    try:
        return _serve(settings, store, schema, chosen, parsed_limits, parsed_faults)
    except BaseException:  # a failed seed, a port in use: the state file is closed, not left open
        store.close()
        raise


def _serve(
    settings: EmulatorSettings,
    store: Store,
    schema: Schema,
    chosen: dict[str, bool],
    parsed_limits: Limits,
    parsed_faults: Faults,
) -> _Built:
    """Seed the state when asked, then make the server (not started yet)."""
    users = settings.users
    state = settings.state
    seed_report = None
    if settings.seed_from is not None and store.record_count() == 0:
        with seed_progress(settings.show_progress) as progress:
            seed_report = seed_store(store, schema, settings.seed_from, chosen, progress)

    authority = CertificateAuthority()
    ca_path = settings.ca_cert or state.with_name(state.name + ".ca.pem")

    tokens = TokenService(store, users, settings.tenant, parsed_faults.token_lifetime, settings.certificates)
    app = EmulatorApp(
        store,
        schema,
        tokens,
        ServiceProtection(parsed_limits),
        FaultInjector(parsed_faults, settings.seed),
        chosen,
        settings.verbose,
        RecordStateRules(settings.record_state, tuple(users)),
    )
    server = make_server(
        HOST,
        settings.port,
        app,
        threaded=True,
        request_handler=QuietHandler,
        ssl_context=authority.server_context(),
    )
    # written once the server holds its port: a start that fails leaves a running emulator's CA file alone
    authority.write_ca(ca_path)
    base_url = f"https://{HOST}:{server.server_port}"
    app.base_url = base_url
    tokens.base_url = base_url
    info = RunningEmulator(
        base_url=base_url,
        service_root=f"{base_url}/api/data/v9.2/",
        authority=f"{base_url}/{settings.tenant}",
        scope=f"{base_url}/.default",
        ca_cert=ca_path,
        state=state,
        port=server.server_port,
        users=users,
        seed_report=seed_report,
        app=app,
    )
    return _Built(server, store, info)


class CertificateAuthority:
    """A local test CA (trustme) and a server certificate for 127.0.0.1 and localhost."""

    def __init__(self) -> None:
        self._ca = trustme.CA()
        self._certificate = self._ca.issue_cert(HOST, "localhost")

    def write_ca(self, path: Path) -> None:
        self._ca.cert_pem.write_to_path(str(path))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._certificate.configure_cert(context)
        return context


def run_emulator(settings: EmulatorSettings) -> ExitCode:
    """Serve in the foreground until SIGINT or SIGTERM, then shut down cleanly."""
    built = _build(settings)
    info = built.info
    stop = threading.Event()
    received: list[int] = []

    def on_signal(number: int, _frame: object) -> None:
        received.append(number)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    serving = threading.Thread(target=built.server.serve_forever, name="p2c-emulator", daemon=True)
    serving.start()
    print(
        f"Dataverse emulator at {info.service_root}\n  authority {info.authority}  scope {info.scope}\n"
        f"  CA certificate {info.ca_cert} (export REQUESTS_CA_BUNDLE={info.ca_cert})\n"
        f"  state {info.state}  users {', '.join(info.users)}"
        + (f"\n  seeded: {info.seed_report.records}" if info.seed_report else ""),
        flush=True,
    )
    try:
        stop.wait()
    finally:
        built.server.shutdown()
        built.server.server_close()
        serving.join(timeout=10)
        built.store.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
        print("Dataverse emulator stopped.", file=sys.stderr, flush=True)
    return ExitCode.INTERRUPTED if signal.SIGINT in received else ExitCode.OK


@contextmanager
def running_emulator(
    state: Path,
    *,
    seed_from: Path | None = None,
    ca_cert: Path | None = None,
    client_id: str = "p2c-test-client",
    client_secret: str = "p2c-test-secret",
    limits: str | None = None,
    faults: str | None = None,
    tenant: str = DEFAULT_TENANT,
    port: int = 0,
    extra_users: Sequence[tuple[str, str]] = (),
    seed: int | None = 0,
    verbose: bool = False,
    options: dict[str, bool] | None = None,
    certificates: dict[str, bytes] | None = None,
    reset: bool = False,
    record_state: RecordStatePolicy | None = None,
) -> Iterator[RunningEmulator]:
    """The emulator on a background thread (port 0 = a free port); stopped when the block ends."""
    built = _build(
        EmulatorSettings(
            state=state,
            users=users_of(client_id, client_secret, extra_users),
            port=port,
            seed_from=seed_from,
            ca_cert=ca_cert,
            limits=limits,
            faults=faults,
            tenant=tenant,
            seed=seed,
            verbose=verbose,
            options=options,
            certificates=dict(certificates or {}),
            reset=reset,
            record_state=record_state or RecordStatePolicy(),
        )
    )
    thread = threading.Thread(target=built.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield built.info
    finally:
        built.server.shutdown()
        built.server.server_close()
        thread.join(timeout=10)
        built.store.close()
