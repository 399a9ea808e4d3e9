"""Command-line arguments of the emulator, kept apart from the server so `p2c emulator` can reuse them.

    python -m p2c.emulator --port 8443 --state emu.sqlite [--seed-from p2c.duckdb] [--ca-cert ca.pem]
        --client-id ID [--client-id ID2 ...] [--limits SPEC] [--faults SPEC] [--seed N] [--tenant T]
        [--option company_read_only=true] [--verbose]

Secrets are never flags: `P2C_CLIENT_SECRET` for the first --client-id, `P2C_CLIENT_SECRET_2`, ... for the
next ones."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from p2c.emulator.server import DEFAULT_TENANT, run_emulator
from p2c.errors import ExitCode, P2CError, UsageError

SECRET_ENV = "P2C_CLIENT_SECRET"


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
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--state", type=Path, required=True, help="SQLite state file (created if missing)")
    parser.add_argument(
        "--seed-from", type=Path, help="DuckDB file from `p2c load`; seeds a new state file only"
    )
    parser.add_argument("--ca-cert", type=Path, help="where to write the local CA certificate (PEM)")
    parser.add_argument("--client-id", action="append", required=True, help="application user (repeatable)")
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
    return parser


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        users = secrets_for(args.client_id, os.environ if environ is None else environ)
        return int(
            run_emulator(
                args.port,
                args.seed_from,
                args.state,
                args.ca_cert,
                users[0][0],
                users[0][1],
                args.limits,
                args.faults,
                args.tenant,
                extra_users=users[1:],
                seed=args.seed,
                verbose=args.verbose,
                options=parse_options(args.option),
            )
        )
    except P2CError as error:
        print(f"p2c emulator: {error}", file=sys.stderr)
        return int(error.exit_code)
    except OSError as error:  # e.g. the port is taken
        print(f"p2c emulator: {error}", file=sys.stderr)
        return int(ExitCode.CANNOT_RUN)
