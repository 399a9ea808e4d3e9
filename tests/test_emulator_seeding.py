"""Seeding a state file: it says what it is doing while it works, and its time grows with the number of
records, not with their square (lookups resolved by a scan of the target table made 12,758 records take
over a minute)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from emulator_fixtures import build_tiny_duckdb
from rich.console import Console

from p2c.emulator import EmulatorState
from p2c.emulator.schema import load_schema
from p2c.emulator.seed import seed_store
from p2c.emulator.seed_progress import BarProgress, seed_progress
from p2c.emulator.store import Store

REPO = Path(__file__).resolve().parents[1]


def many_accounts_and_contacts(path: Path, count: int) -> Path:
    """`count` accounts and `count` contacts, each contact naming its account by number (a lookup to
    resolve per contact), shaped like `p2c load` output."""
    connection = duckdb.connect(str(path))
    try:
        connection.execute("CREATE SCHEMA raw")
        connection.execute(
            "CREATE TABLE raw.account AS SELECT lower(uuid()::VARCHAR) AS accountid, "
            "printf('ACC-%06d', i) AS accountnumber, printf('Account %d', i) AS name, "
            "'USMF' AS _company, 'accounts.csv' AS _source_file, i AS _source_row FROM range(?) t(i)",
            [count],
        )
        connection.execute(
            "CREATE TABLE raw.contact AS SELECT lower(uuid()::VARCHAR) AS contactid, "
            "'First' AS firstname, printf('Last %d', i) AS lastname, printf('Account %d', i) AS "
            "parentcustomerid, printf('ACC-%06d', i) AS parentcustomerid__accountnumber, "
            "'USMF' AS _company, 'contacts.csv' AS _source_file, i AS _source_row FROM range(?) t(i)",
            [count],
        )
    finally:
        connection.close()
    return path


def test_seeding_time_grows_linearly_with_the_records(tmp_path: Path) -> None:
    db = many_accounts_and_contacts(tmp_path / "many.duckdb", 6000)
    store = Store(tmp_path / "s.sqlite")
    schema = load_schema()
    started = time.perf_counter()
    try:
        report = seed_store(store, schema, db, dict(schema.options))
    finally:
        store.close()
    elapsed = time.perf_counter() - started
    assert report.records["account"] == report.records["contact"] == 6000
    assert report.unresolved_lookups == {}
    # A scan per lookup takes 6,000 x 6,000 comparisons (about a minute); an index, well under a second.
    assert elapsed < 15, f"seeding 12,000 records took {elapsed:.1f} s"
    contact = EmulatorState(tmp_path / "s.sqlite").rows("contact")[1234]
    account = EmulatorState(tmp_path / "s.sqlite").row("account", contact["_parentcustomerid_value"])
    assert account is not None and account["accountnumber"] == "ACC-001234"


def test_seeding_reports_each_table_on_stderr_when_not_a_terminal(tmp_path: Path) -> None:
    db = build_tiny_duckdb(tmp_path / "tiny.duckdb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "p2c.cli",
            "emulator",
            "--client-id",
            "app1",
            "--port",
            "0",
            "--state",
            str(tmp_path / "s.sqlite"),
            "--seed-from",
            str(db),
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
        assert "Dataverse emulator at https://127.0.0.1:" in banner
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert re.search(r"^seeded account: 4 records", err, re.MULTILINE), err
    assert re.search(r"^seeded salesorderdetail: 2 records", err, re.MULTILINE), err
    assert re.search(r"^read \d+ rows from .*tiny\.duckdb", err, re.MULTILINE), err
    assert "\x1b[" not in err  # no terminal codes in a log


def test_seeding_on_a_terminal_shows_a_progress_bar_per_table(tmp_path: Path) -> None:
    db = build_tiny_duckdb(tmp_path / "tiny.duckdb")
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    store = Store(tmp_path / "s.sqlite")
    schema = load_schema()
    try:
        with seed_progress(True, console) as progress:
            assert isinstance(progress, BarProgress)
            seed_store(store, schema, db, dict(schema.options), progress)
    finally:
        store.close()
    shown = screen.getvalue()
    assert "seeded account: 4 records" in shown and "seeded salesorderdetail: 2 records" in shown
    assert "\x1b[" in shown  # drawn for a terminal


def test_seeding_keeps_each_exported_status_reason_and_defaults_a_missing_one(tmp_path: Path) -> None:
    """Status reasons as an export shows them (labels in the user's language) are stored as the status of
    the record's state; "In Progress" is a Draft quote's status 1 and an Active quote's status 2; a row
    without one, or a table exported without the column, gets its state's default status; a row with a
    status reason but no state is in the state that status belongs to."""
    db = tmp_path / "states.duckdb"
    quotes = [  # (statecode label, statuscode label, expected state, expected status)
        ("Draft", "In Progress", 0, 1),
        ("Active", "In Progress", 1, 2),
        ("Aktiv", "Öppen", 1, 3),
        ("Closed", "Revised", 3, 7),
        ("Stängd", "Förlorad", 3, 5),
        ("Won", None, 2, 4),
        (None, "Lost", 3, 5),  # no state exported: the one state this status reason belongs to
        (None, None, 0, 1),
    ]
    orders = [
        ("Fulfilled", "Partial", 3, 100002),
        ("Active", "Pending", 0, 2),
        ("Invoiced", "Invoiced", 4, 100003),
    ]
    connection = duckdb.connect(str(db))
    try:
        connection.execute("CREATE SCHEMA raw")
        connection.execute(
            "CREATE TABLE raw.quote (quoteid VARCHAR, quotenumber VARCHAR, statecode VARCHAR, "
            "statuscode VARCHAR, _company VARCHAR, _source_file VARCHAR, _source_row INTEGER)"
        )
        for index, (state, status, _, _) in enumerate(quotes):
            connection.execute(
                "INSERT INTO raw.quote VALUES (?, ?, ?, ?, 'USMF', 'quotes.csv', ?)",
                [f"00000000-0000-0000-0000-{index:012d}", f"Q-{index}", state, status, index + 1],
            )
        connection.execute(
            "CREATE TABLE raw.salesorder (salesorderid VARCHAR, ordernumber VARCHAR, statecode VARCHAR, "
            "statuscode VARCHAR, _company VARCHAR, _source_file VARCHAR, _source_row INTEGER)"
        )
        for index, (state, status, _, _) in enumerate(orders):
            connection.execute(
                "INSERT INTO raw.salesorder VALUES (?, ?, ?, ?, 'USMF', 'orders.csv', ?)",
                [f"00000000-0000-0000-0001-{index:012d}", f"O-{index}", state, status, index + 1],
            )
        connection.execute(  # an account export without the Status Reason column
            "CREATE TABLE raw.account AS SELECT '00000000-0000-0000-0002-000000000000' AS accountid, "
            "'ACC-1' AS accountnumber, 'Inactive' AS statecode, 'USMF' AS _company, "
            "'accounts.csv' AS _source_file, 1 AS _source_row"
        )
    finally:
        connection.close()
    store = Store(tmp_path / "s.sqlite")
    try:
        seed_store(store, load_schema(), db, dict(load_schema().options))
    finally:
        store.close()
    state = EmulatorState(tmp_path / "s.sqlite")
    for table, rows, prefix in (("quote", quotes, "0000"), ("salesorder", orders, "0001")):
        for index, (_, _, code, status) in enumerate(rows):
            row = state.row(table, f"00000000-0000-0000-{prefix}-{index:012d}")
            assert row is not None and (row["statecode"], row["statuscode"]) == (code, status), (
                table,
                index,
                row,
            )
    account = state.row("account", "00000000-0000-0000-0002-000000000000")
    assert account is not None and (account["statecode"], account["statuscode"]) == (1, 2)
