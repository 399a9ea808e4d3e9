"""The emulator's settings from the values of its command-line options (`--client-id`, `--client-cert`,
`--option`, `--admin`, ...), checked, each refusal a `UsageError` naming the option.

The one parser of those options is the `p2c emulator` typer command in `p2c/cli.py` (`python -m
p2c.emulator` runs the same command); it declares them and calls `settings_from` then `run_emulator`.
Secrets are never flags: `P2C_CLIENT_SECRET` for the first --client-id, `P2C_CLIENT_SECRET_2`, ... for the
next ones."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from p2c.emulator.record_state import RecordStatePolicy
from p2c.emulator.server import DEFAULT_TENANT, EmulatorSettings, users_of
from p2c.errors import UsageError

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
    """The settings of a run from the values of the `p2c emulator` options."""
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
