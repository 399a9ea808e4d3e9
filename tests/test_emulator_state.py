"""The state file: survives a restart, is seeded only when new; the command line and clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from emulator_fixtures import api_session, build_tiny_duckdb

from p2c.emulator import EmulatorState, running_emulator
from p2c.emulator.options import secrets_for
from p2c.errors import DatabaseUnavailable, UsageError

REPO = Path(__file__).resolve().parents[1]


def test_state_survives_restart(tmp_path: Path) -> None:
    db = build_tiny_duckdb(tmp_path / "tiny.duckdb")
    state_file = tmp_path / "state.sqlite"
    with running_emulator(state_file, seed_from=db) as emulator:
        api = api_session(emulator)
        created = api.post(emulator.service_root + "accounts", json={"name": "Kept"}).headers[
            "OData-EntityId"
        ]
        token = api.headers["Authorization"]
    state = EmulatorState(state_file)
    seeded = state.writes("create", client_id="seed")
    assert seeded > 0
    with running_emulator(state_file) as emulator:
        api = api_session(emulator)
        record = created.rsplit("/", 1)[1]
        assert api.get(emulator.service_root + record).json()["name"] == "Kept"
        # A token issued before the restart is still valid until it expires, as with the real service.
        api.headers["Authorization"] = token
        assert api.get(emulator.service_root + "WhoAmI").status_code == 200
    assert EmulatorState(state_file).writes("create", client_id="seed") == seeded  # not seeded twice


def test_seed_from_a_missing_database_is_a_user_error(tmp_path: Path) -> None:
    with (
        pytest.raises(DatabaseUnavailable),
        running_emulator(tmp_path / "s.sqlite", seed_from=tmp_path / "no.duckdb"),
    ):
        pass


def test_secrets_come_from_the_environment() -> None:
    environ = {"P2C_CLIENT_SECRET": "one", "P2C_CLIENT_SECRET_2": "two"}
    assert secrets_for(["a", "b"], environ) == [("a", "one"), ("b", "two")]
    with pytest.raises(UsageError):
        secrets_for(["a", "b", "c"], environ)


def test_command_line_runs_until_sigterm(tmp_path: Path) -> None:
    environ = {**os.environ, "P2C_CLIENT_SECRET": "s3cret-value"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "p2c.emulator",
            "--port",
            "0",
            "--state",
            str(tmp_path / "s.sqlite"),
            "--ca-cert",
            str(tmp_path / "ca.pem"),
            "--client-id",
            "cli-app",
            "--limits",
            "requests=100",
        ],
        cwd=REPO,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "Dataverse emulator at https://127.0.0.1:" in banner
        assert (tmp_path / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "s3cret-value" not in banner + out + err


def test_bad_limits_on_the_command_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "p2c.emulator",
            "--state",
            str(tmp_path / "s.sqlite"),
            "--client-id",
            "x",
            "--limits",
            "speed=9",
        ],
        cwd=REPO,
        env={**os.environ, "P2C_CLIENT_SECRET": "s"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--limits" in result.stderr


def test_documented_options(tmp_path: Path) -> None:
    db = build_tiny_duckdb(tmp_path / "tiny.duckdb")
    options = {"p2c_account_number_index": True, "company_read_only": True}
    with running_emulator(tmp_path / "s.sqlite", seed_from=db, options=options) as emulator:
        api = api_session(emulator)
        clash = api.post(
            emulator.service_root + "accounts", json={"name": "x", "accountnumber": "ACC-01001-MNRXAN"}
        )
        assert clash.status_code == 412
        assert clash.json()["error"]["code"] == "0x80060892"
        account = emulator.service_root + "accounts(c21f7b6b-679d-495e-af9b-7d9bf576499a)"
        usmf = {"msdyn_company@odata.bind": "/cdm_companies(cdm_companycode='USMF')"}
        gbsi = {"msdyn_company@odata.bind": "/cdm_companies(cdm_companycode='GBSI')"}
        assert api.patch(account, json=usmf, headers={"If-Match": "*"}).status_code == 204
        assert (
            api.patch(account, json=usmf, headers={"If-Match": "*"}).status_code == 204
        )  # same value is fine
        assert api.patch(account, json=gbsi, headers={"If-Match": "*"}).status_code == 400
    with pytest.raises(UsageError):
        running_emulator(tmp_path / "t.sqlite", options={"no_such_option": True}).__enter__()
