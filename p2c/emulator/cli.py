"""Command-line arguments of the emulator, kept apart from the server so `p2c emulator` can reuse them.

    python -m p2c.emulator --port 8443 --state emu.sqlite [--seed-from p2c.duckdb] [--ca-cert ca.pem]
        --client-id ID [--client-id ID2 ...] [--client-cert ID=cert.pem] [--limits SPEC] [--faults SPEC]
        [--seed N] [--tenant T] [--option company_read_only=true] [--verbose]

Secrets are never flags: `P2C_CLIENT_SECRET` for the first --client-id, `P2C_CLIENT_SECRET_2`, ... for the
next ones."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from p2c.emulator.record_state import RecordStatePolicy
from p2c.emulator.server import DEFAULT_TENANT, EmulatorSettings, run_emulator, users_of
from p2c.errors import ExitCode, P2CError, UsageError

SECRET_ENV = "P2C_CLIENT_SECRET"
RESET_HELP = (
    "start over from an empty state with a new organization id (seeded again from --seed-from if given): "
    "a sandbox reset at the same URL"
)


def secrets_for(client_ids: list[str], environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """Pair each client id with its secret from the environment (P2C_CLIENT_SECRET, _2, _3, ...)."""
    pairs = []
    for position, client_id in enumerate(client_ids, start=1):
        name = SECRET_ENV if position == 1 else f"{SECRET_ENV}_{position}"
        secret = environ.get(name)
        if not secret:
            raise UsageError(f"no secret for --client-id {client_id!r}: set the environment variable {name}")
        pairs.append((client_id, secret))
    return pairs


def parse_certificates(items: list[str]) -> dict[str, bytes]:
    """`CLIENT_ID=cert.pem` items -> client id -> the certificate's PEM (only its public part is kept)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certificates: dict[str, bytes] = {}
    for item in items:
        client_id, equals, raw_path = item.partition("=")
        if not equals or not client_id or not raw_path:
            raise UsageError(f"--client-cert {item!r}: expected CLIENT_ID=path/to/cert.pem")
        path = Path(raw_path).expanduser()
        try:
            data = path.read_bytes()
            start = data.index(b"-----BEGIN CERTIFICATE-----")
            certificate = x509.load_pem_x509_certificate(data[start:])
        except OSError as error:
            raise UsageError(f"--client-cert {item!r}: cannot read {path}: {error.strerror}") from None
        except ValueError:
            raise UsageError(f"--client-cert {item!r}: {path} holds no PEM certificate") from None
        certificates[client_id] = certificate.public_bytes(Encoding.PEM)
    return certificates


def settings_from(
    *,
    state: Path,
    client_ids: list[str],
    environ: Mapping[str, str],
    port: int,
    seed_from: Path | None,
    ca_cert: Path | None,
    limits: str | None,
    faults: str | None,
    seed: int | None,
    verbose: bool,
    options: list[str],
    client_certs: list[str],
    tenant: str = DEFAULT_TENANT,
    reset: bool = False,
    record_state: RecordStatePolicy | None = None,
) -> EmulatorSettings:
    """The settings of a run from command-line values (shared by `p2c emulator` and this module)."""
    pairs = secrets_for(client_ids, environ)
    return EmulatorSettings(
        state=state,
        users=users_of(pairs[0][0], pairs[0][1], pairs[1:]),
        port=port,
        seed_from=seed_from,
        ca_cert=ca_cert,
        limits=limits,
        faults=faults,
        tenant=tenant,
        seed=seed,
        verbose=verbose,
        options=parse_options(options),
        certificates=parse_certificates(client_certs),
        reset=reset,
        show_progress=True,
        record_state=record_state or RecordStatePolicy(),
    )


def policy_from(
    *,
    admins: list[str],
    integration_users: list[str],
    sop_integration: bool,
    read_only_error: str,
    locked_fields: bool,
    inactive_read_only: bool,
) -> RecordStatePolicy:
    """The read-only-record options (`--admin`, `--integration-user`, ...) as one policy."""
    if read_only_error not in ("platform", "plugin"):
        raise UsageError(f"--read-only-error {read_only_error!r}: expected platform or plugin")
    return RecordStatePolicy(
        admins=frozenset(admins),
        integration_users=frozenset(integration_users),
        sop_integration=sop_integration,
        plugin_error=read_only_error == "plugin",
        locked_fields=locked_fields,
        inactive_read_only=inactive_read_only,
    )


def parse_options(items: list[str]) -> dict[str, bool]:
    options = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or value.lower() not in ("true", "false"):
            raise UsageError(f"--option {item!r}: expected NAME=true or NAME=false")
        options[name] = value.lower() == "true"
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m p2c.emulator", description="Local Dataverse Web API emulator."
    )
    parser.add_argument("--port", type=int, default=8443, help="1 to 65535, or 0 for any free port")
    parser.add_argument(
        "--state", type=Path, required=True, help="SQLite state file (created if missing; folder must exist)"
    )
    parser.add_argument(
        "--seed-from", type=Path, help="DuckDB file from `p2c load`; seeds a new (or --reset) state file only"
    )
    parser.add_argument("--reset", action="store_true", help=RESET_HELP)
    parser.add_argument("--ca-cert", type=Path, help="where to write the local CA certificate (PEM)")
    parser.add_argument("--client-id", action="append", required=True, help="application user (repeatable)")
    parser.add_argument(
        "--client-cert",
        action="append",
        default=[],
        help="CLIENT_ID=cert.pem: that user may also sign in with this certificate (repeatable)",
    )
    parser.add_argument(
        "--limits", help="requests=600,window=10,execution=120,concurrency=52,cost_ms=5,dop=8"
    )
    parser.add_argument("--faults", help="429=0.10,503=0.05,drop=0.02,latency_ms=20,token_lifetime=30")
    parser.add_argument("--seed", type=int, help="random seed for the injected faults")
    parser.add_argument("--tenant", default=DEFAULT_TENANT)
    parser.add_argument(
        "--option", action="append", default=[], help="schema option, e.g. company_read_only=true"
    )
    parser.add_argument("--verbose", action="store_true", help="log method, path, status and ms to stderr")
    parser.add_argument(
        "--admin",
        action="append",
        default=[],
        help="CLIENT_ID holding System Administrator (writes read-only records, may send bypass headers)",
    )
    parser.add_argument(
        "--integration-user", action="append", default=[], help="CLIENT_ID, isintegrationuser"
    )
    parser.add_argument("--sop-integration", action="store_true", help="issopintegrationenabled")
    parser.add_argument(
        "--read-only-error", default="platform", help="platform (0x8004022E) or plugin (0x80040265)"
    )
    parser.add_argument("--locked-fields", action="store_true", help="an admin's update skips locked fields")
    parser.add_argument("--inactive-read-only", action="store_true", help="inactive accounts/contacts refuse")
    return parser


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(
            state=args.state,
            client_ids=args.client_id,
            environ=os.environ if environ is None else environ,
            port=args.port,
            seed_from=args.seed_from,
            ca_cert=args.ca_cert,
            limits=args.limits,
            faults=args.faults,
            seed=args.seed,
            verbose=args.verbose,
            options=args.option,
            client_certs=args.client_cert,
            tenant=args.tenant,
            reset=args.reset,
            record_state=policy_from(
                admins=args.admin,
                integration_users=args.integration_user,
                sop_integration=args.sop_integration,
                read_only_error=args.read_only_error,
                locked_fields=args.locked_fields,
                inactive_read_only=args.inactive_read_only,
            ),
        )
        return int(run_emulator(settings))
    except P2CError as error:
        print(f"p2c emulator: {error}", file=sys.stderr)
        return int(error.exit_code)
    except OSError as error:  # e.g. the port is taken
        print(f"p2c emulator: {error}", file=sys.stderr)
        return int(ExitCode.CANNOT_RUN)
