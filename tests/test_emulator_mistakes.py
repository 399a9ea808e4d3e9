"""Mistakes on the `p2c emulator` command line, through the real CLI in a subprocess: each exits 2 with one
message naming what is wrong, no traceback, and nothing created or changed on disk. An emulator that starts
anyway would run until stopped: the helper stops it and the test fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from emulator_fixtures import build_tiny_duckdb

from p2c.emulator import EmulatorState, running_emulator
from p2c.errors import ExitCode, UsageError

REPO = Path(__file__).resolve().parents[1]


def emulator_cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run `p2c emulator ARGS`; a run still serving after `timeout` seconds is stopped and fails the test."""
    process = subprocess.Popen(
        [sys.executable, "-m", "p2c.cli", "emulator", "--client-id", "app1", *args],
        cwd=REPO,
        env={**os.environ, "P2C_CLIENT_SECRET": "s3cret-value", "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
        pytest.fail(f"the emulator started instead of refusing: {out}{err}")
    finally:
        process.kill()
    assert "Traceback" not in out + err, err
    assert "s3cret-value" not in out + err
    return process.returncode, out, err


def one_message(err: str) -> str:
    """The error as one line (rich may wrap a long message)."""
    return " ".join(err.split())


@pytest.mark.parametrize("port", ["70000", "65536", "-1"])
def test_a_port_outside_0_to_65535_is_refused(tmp_path: Path, port: str) -> None:
    code, _, err = emulator_cli("--state", str(tmp_path / "s.sqlite"), "--port", port, timeout=30)
    assert code == ExitCode.CANNOT_RUN
    assert "--port" in err and "65535" in err
    assert not (tmp_path / "s.sqlite").exists()


def test_a_port_outside_the_range_is_refused_by_the_library_too(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="65535"), running_emulator(tmp_path / "s.sqlite", port=70000):
        pass
    assert not (tmp_path / "s.sqlite").exists()


def test_state_in_a_missing_folder_is_refused_and_no_folder_is_made(tmp_path: Path) -> None:
    state = tmp_path / "typo" / "deeper" / "s.sqlite"
    code, _, err = emulator_cli("--state", str(state), "--port", "0", timeout=30)
    assert code == ExitCode.CANNOT_RUN
    message = one_message(err)
    assert f"--state {state}" in message and f"{state.parent} does not exist" in message
    assert not (tmp_path / "typo").exists()


def test_ca_cert_in_a_missing_folder_is_refused_and_no_state_is_made(tmp_path: Path) -> None:
    ca = tmp_path / "typo" / "ca.pem"
    code, _, err = emulator_cli(
        "--state", str(tmp_path / "s.sqlite"), "--ca-cert", str(ca), "--port", "0", timeout=30
    )
    assert code == ExitCode.CANNOT_RUN
    assert f"{ca.parent} does not exist" in one_message(err)
    assert not (tmp_path / "typo").exists()
    assert not (tmp_path / "s.sqlite").exists()


def test_seed_from_a_csv_file_names_the_file_and_what_was_expected(tmp_path: Path) -> None:
    csv_file = tmp_path / "some.csv"
    csv_file.write_text("a,b\n1,2\n", encoding="utf-8")
    state = tmp_path / "s.sqlite"
    code, _, err = emulator_cli("--state", str(state), "--seed-from", str(csv_file), "--port", "0")
    assert code == ExitCode.CANNOT_RUN
    message = one_message(err)
    assert f"--seed-from {csv_file}" in message
    assert "is not a DuckDB database" in message and "p2c load" in message
    assert "Catalog Error" not in message
    assert not state.exists()  # nothing half-made to trip over on the next run


def test_seed_from_a_missing_file_names_it_and_makes_no_state(tmp_path: Path) -> None:
    state = tmp_path / "s.sqlite"
    code, _, err = emulator_cli(
        "--state", str(state), "--seed-from", str(tmp_path / "nope.duckdb"), "--port", "0"
    )
    assert code == ExitCode.CANNOT_RUN
    assert f"--seed-from {tmp_path / 'nope.duckdb'}" in one_message(err)
    assert not state.exists()


def test_seed_from_a_duckdb_that_p2c_load_did_not_make_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    connection = duckdb.connect(str(other))
    connection.execute("CREATE TABLE main.things (x INTEGER)")
    connection.close()
    state = tmp_path / "s.sqlite"
    code, _, err = emulator_cli("--state", str(state), "--seed-from", str(other), "--port", "0")
    assert code == ExitCode.CANNOT_RUN
    message = one_message(err)
    assert f"--seed-from {other}" in message and "p2c load" in message and "raw." in message
    assert not state.exists()


def test_seed_from_on_a_state_that_holds_records_is_refused(tmp_path: Path) -> None:
    db = build_tiny_duckdb(tmp_path / "tiny.duckdb")
    state = tmp_path / "s.sqlite"
    with running_emulator(state, seed_from=db):
        pass
    kept = EmulatorState(state)
    report = kept.seed_report()
    assert report is not None
    records, organization = sum(report["records"].values()), kept.organization_id()
    before = state.read_bytes()
    code, _, err = emulator_cli("--state", str(state), "--seed-from", str(db), "--port", "0")
    assert code == ExitCode.CANNOT_RUN
    message = one_message(err)
    assert f"state {state} already holds {records} records (organization {organization})" in message
    assert "--reset" in message and "drop --seed-from" in message
    assert state.read_bytes() == before


def test_seed_from_on_a_state_that_holds_records_is_refused_by_the_library_too(tmp_path: Path) -> None:
    db = build_tiny_duckdb(tmp_path / "tiny.duckdb")
    state = tmp_path / "s.sqlite"
    with running_emulator(state, seed_from=db):
        pass
    with pytest.raises(UsageError, match="already holds"), running_emulator(state, seed_from=db):
        pass


def test_a_port_in_use_is_refused_before_any_file_is_written(tmp_path: Path) -> None:
    """A second emulator on a running one's port must not overwrite that one's CA file (its clients would
    stop trusting it) nor leave a state file behind."""
    ca = tmp_path / "ca.pem"
    with running_emulator(
        tmp_path / "running.sqlite", client_id="app1", client_secret="s3cret-value", ca_cert=ca
    ) as info:
        before = ca.read_bytes()
        code, _, err = emulator_cli(
            "--port", str(info.port), "--state", str(tmp_path / "second.sqlite"), "--ca-cert", str(ca)
        )
        assert code == ExitCode.CANNOT_RUN, err
        assert f"--port {info.port}" in one_message(err) and "in use" in err
        assert ca.read_bytes() == before
    assert not (tmp_path / "second.sqlite").exists()


def test_a_state_file_that_is_not_an_emulator_state_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "plan.json"
    state.write_text('{"format": "p2c-plan/1"}', encoding="utf-8")
    code, _, err = emulator_cli("--port", "0", "--state", str(state))
    assert code == ExitCode.CANNOT_RUN, err
    assert "is not an emulator state file" in one_message(err)
    assert state.read_text(encoding="utf-8") == '{"format": "p2c-plan/1"}'
