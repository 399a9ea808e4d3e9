"""Each emulated environment has an identity of its own: the organization id WhoAmI answers is chosen when
the state file is created, kept across restarts, and new after `--reset` (a sandbox reset at the same URL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from emulator_fixtures import api_session, build_tiny_duckdb

from p2c.emulator import EmulatorState, RunningEmulator, running_emulator

REPO = Path(__file__).resolve().parents[1]
FOURTH_COFFEE = "1b514ffd-bfec-4c6b-874c-403e17a7bd54"


def organization_id(emulator: RunningEmulator) -> str:
    api = api_session(emulator)
    response = api.get(emulator.service_root + "WhoAmI")
    assert response.status_code == 200, response.text
    value = str(response.json()["OrganizationId"])
    assert str(uuid.UUID(value)) == value  # a GUID, lower case, as Dataverse answers it
    return value


def test_each_new_state_file_has_an_organization_id_of_its_own(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "one.sqlite") as emulator:
        first = organization_id(emulator)
    with running_emulator(tmp_path / "two.sqlite") as emulator:
        second = organization_id(emulator)
    assert first != second
    assert EmulatorState(tmp_path / "one.sqlite").organization_id() == first


def test_the_organization_id_is_the_same_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with running_emulator(state) as emulator:
        before = organization_id(emulator)
    with running_emulator(state) as emulator:
        assert organization_id(emulator) == before


def test_reset_starts_over_with_a_new_organization_and_reseeds(tmp_path: Path) -> None:
    db = build_tiny_duckdb(tmp_path / "tiny.duckdb")
    state = tmp_path / "state.sqlite"
    with running_emulator(state, seed_from=db) as emulator:
        before = organization_id(emulator)
        api = api_session(emulator)
        made = api.post(emulator.service_root + "accounts", json={"name": "Made after the seed"})
        assert made.status_code == 204
        renamed = api.patch(
            emulator.service_root + f"accounts({FOURTH_COFFEE})",
            json={"name": "Renamed"},
            headers={"If-Match": "*"},
        )
        assert renamed.status_code == 204
    seeded = EmulatorState(state).seed_report()
    assert seeded is not None

    with running_emulator(state, seed_from=db, reset=True) as emulator:
        after = organization_id(emulator)
    assert after != before
    reset = EmulatorState(state)
    assert not [r for r in reset.rows("account") if r.get("name") == "Made after the seed"]
    assert (reset.row("account", FOURTH_COFFEE) or {}).get("name") == "Fourth Coffee"
    assert reset.api_writes("create") == 0 and reset.api_writes("update") == 0
    assert reset.seed_report() == seeded


def test_reset_without_seed_from_leaves_an_empty_environment(tmp_path: Path) -> None:
    db = build_tiny_duckdb(tmp_path / "tiny.duckdb")
    state = tmp_path / "state.sqlite"
    with running_emulator(state, seed_from=db) as emulator:
        before = organization_id(emulator)
    with running_emulator(state, reset=True) as emulator:
        assert organization_id(emulator) != before
        api = api_session(emulator)  # a token from before is not needed: signing in again works
        assert api.get(emulator.service_root + "accounts").json()["value"] == []
    assert EmulatorState(state).seed_report() is None


def test_reset_on_the_command_line_reseeds_a_state_that_holds_records(tmp_path: Path) -> None:
    db = build_tiny_duckdb(tmp_path / "tiny.duckdb")
    state = tmp_path / "state.sqlite"
    with running_emulator(state, seed_from=db) as emulator:
        before = organization_id(emulator)
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "p2c.cli", "emulator", "--client-id", "app1", "--port", "0"),
            *("--state", str(state), "--seed-from", str(db), "--reset"),
        ],
        cwd=REPO,
        env={**os.environ, "P2C_CLIENT_SECRET": "s3cret-value"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert "Dataverse emulator at https://127.0.0.1:" in banner, err
    after = EmulatorState(state).organization_id()
    assert after is not None and after != before
    assert "seeded account: 4 records" in err
