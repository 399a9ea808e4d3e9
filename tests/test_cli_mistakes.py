"""The mistakes real users make, through the real CLI: each is one clear message on stderr, the right exit
code, no traceback, and the database (or its absence) exactly as it was."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from p2c.cli import app
from p2c.errors import ExitCode

P2C = [sys.executable, "-m", "p2c.cli"]


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "accounts.csv"
    path.write_text("Account Number;Account Name\nA1;One\nA2;Two\n", encoding="utf-8")
    return path


@pytest.fixture
def landed_db(tmp_path: Path) -> Path:
    db = tmp_path / "landed.duckdb"
    code, _, stderr = _run("load", str(_export(tmp_path / "in")), "--db", str(db))
    assert code == 0, stderr
    return db


@pytest.mark.parametrize(
    "command", [["build"], ["lineage", "pack", "--out", "PACK"], ["rejects"], ["load", "IN"]]
)
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("not-duckdb", "is not a DuckDB database"),
        ("zero-bytes", "is empty (0 bytes)"),
        ("directory", "is a folder, not a DuckDB file"),
    ],
)
def test_a_db_that_is_not_a_database_is_refused_and_left_alone(
    tmp_path: Path, command: list[str], kind: str, expected: str
) -> None:
    db = tmp_path / "bad.duckdb"
    if kind == "not-duckdb":
        db.write_text("account number;name\nA1;One\n" * 50)
    elif kind == "zero-bytes":
        db.write_bytes(b"")
    else:
        db.mkdir()
    before = _digest(db) if db.is_file() else None
    args = [str(tmp_path / "PACK") if a == "PACK" else a for a in command]
    args = [str(_export(tmp_path / "in")) if a == "IN" else a for a in args]
    code, stdout, stderr = _run(*args, "--db", str(db))
    assert code == ExitCode.CANNOT_RUN
    assert expected in " ".join(stderr.split())
    assert stdout == ""
    if before is not None:
        assert _digest(db) == before
    assert not (tmp_path / "bad.duckdb.wal").exists()
    assert not (tmp_path / "PACK").exists()


def test_build_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "missing.duckdb"
    code, _, stderr = _run("build", "--db", str(db))
    assert code == ExitCode.CANNOT_RUN
    assert f"no database at {db}" in stderr
    assert list(tmp_path.iterdir()) == []


def test_lineage_pack_and_trace_of_a_missing_database_create_nothing(tmp_path: Path) -> None:
    db = tmp_path / "missing.duckdb"
    code, _, stderr = _run("lineage", "pack", "--db", str(db), "--out", str(tmp_path / "pack"))
    assert code == ExitCode.CANNOT_RUN and "no database at" in stderr
    code, _, stderr = _run("lineage", "trace", "account", "USMF", "A1", "--db", str(db))
    assert code == ExitCode.CANNOT_RUN and "no database at" in stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--entity", "acount"], "unknown --entity 'acount' (did you mean account?)"),
        (["--encoding", "utf-9"], "unknown --encoding 'utf-9'"),
    ],
)
def test_usage_errors_of_load_are_found_before_the_database_is_created(
    tmp_path: Path, option: list[str], expected: str
) -> None:
    db = tmp_path / "new.duckdb"
    code, _, stderr = _run("load", str(_export(tmp_path / "in")), "--db", str(db), *option)
    assert code == ExitCode.CANNOT_RUN
    assert expected in stderr
    assert not db.exists()


def test_load_of_a_path_that_does_not_exist_creates_no_database(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    code, _, stderr = _run("load", str(tmp_path / "no-such-folder"), "--db", str(db))
    assert code == ExitCode.CANNOT_RUN
    assert "no such file or folder" in stderr
    assert not db.exists()


def test_usage_error_leaves_an_existing_database_unchanged(landed_db: Path, tmp_path: Path) -> None:
    before = _digest(landed_db)
    code, _, _ = _run("load", str(tmp_path / "in"), "--db", str(landed_db), "--entity", "acount")
    assert code == ExitCode.CANNOT_RUN
    assert _digest(landed_db) == before


@pytest.mark.parametrize("entity", [None, "account"])
def test_a_pdf_is_refused_even_with_entity(tmp_path: Path, entity: str | None) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nstream\n\x8f\x9a\xff\xfe" * 20
    )
    db = tmp_path / "pdf.duckdb"
    code, _, stderr = _run("load", str(pdf), "--db", str(db), *(["--entity", entity] if entity else []))
    assert code == ExitCode.FAILED_ROWS
    assert "PDF" in stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from raw.account").fetchone() == (0,)
        assert con.execute("select count(*) from raw._files").fetchone() == (0,)


def test_sample_onto_a_file_or_into_a_read_only_folder(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, _, stderr = _run("sample", str(target))
    assert code == ExitCode.CANNOT_RUN and "is a file, not a folder" in stderr
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        code, _, stderr = _run("sample", str(read_only / "out"))
        assert code == ExitCode.CANNOT_RUN and "read-only" in stderr
        assert not (read_only / "out").exists()
    finally:
        read_only.chmod(0o755)


def test_lineage_pack_into_a_read_only_folder(landed_db: Path, tmp_path: Path) -> None:
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        code, _, stderr = _run("lineage", "pack", "--db", str(landed_db), "--out", str(read_only / "pack"))
        assert code == ExitCode.CANNOT_RUN and "read-only" in stderr
    finally:
        read_only.chmod(0o755)


def test_a_database_in_a_read_only_folder_is_refused_for_writing(landed_db: Path) -> None:
    before = _digest(landed_db)
    folder = landed_db.parent
    folder.chmod(0o555)
    try:
        code, _, stderr = _run("build", "--db", str(landed_db))
    finally:
        folder.chmod(0o755)
    assert code == ExitCode.CANNOT_RUN and "read-only" in stderr
    assert _digest(landed_db) == before


def test_rejects_of_a_landed_database_before_any_build(landed_db: Path) -> None:
    code, stdout, _ = _run("rejects", "--db", str(landed_db), "--format", "json")
    assert code == ExitCode.OK
    assert json.loads(stdout) == []


def _hold_lock(db: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    return holder


def test_a_second_load_while_another_holds_the_database(landed_db: Path, tmp_path: Path) -> None:
    holder = _hold_lock(landed_db)
    try:
        second = subprocess.run(
            [*P2C, "load", str(tmp_path / "in"), "--db", str(landed_db)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert second.returncode == ExitCode.CANNOT_RUN
    assert f"process {holder.pid}" in second.stderr and "has it open" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    assert second.stdout == ""


def test_load_json_is_the_only_thing_on_stdout(tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    code, stdout, _ = _run("load", str(_export(tmp_path / "in")), "--db", str(db), "--format", "json")
    assert code == ExitCode.OK
    document = json.loads(stdout)
    assert document["database"] == str(db.resolve())
    [file] = document["files"]
    assert (file["entity"], file["rows_landed"], file["status"]) == ("account", 2, "landed")


def test_load_csv_and_piped_table_keep_every_value_whole(tmp_path: Path) -> None:
    folder = tmp_path / ("a-folder-with-a-really-long-name-" * 4)
    path = _export(folder)
    db = tmp_path / "c.duckdb"
    code, stdout, _ = _run("load", str(path), "--db", str(db), "--format", "csv")
    assert code == ExitCode.OK
    header, row = stdout.splitlines()[:2]
    assert header.startswith("file,sheet,entity")
    assert row.startswith(str(path.resolve()) + ",")
    code, stdout, _ = _run("load", str(path), "--db", str(db))  # unchanged now; plain table when piped
    assert str(path.resolve()) in stdout
    assert "…" not in stdout


def test_sigint_during_load_rolls_back_the_file_and_exits_130(tmp_path: Path) -> None:
    """The file in progress is rolled back; the files landed before it stay; running again completes the
    work without landing a row twice. The big file has a ragged row, so the (slower) exact parser reads it."""
    folder = tmp_path / "in"
    _export(folder)  # accounts.csv: small, lands first
    big = folder / "zz-contacts.csv"
    rows = 1_500_000
    with big.open("w", encoding="utf-8") as handle:
        handle.write("Contact Number;First Name;Last Name\n")
        handle.write("C-ragged;only two\n")
        handle.writelines(f"C{n};First {n};Last {n}\n" for n in range(rows))
    db = tmp_path / "sigint.duckdb"
    process = subprocess.Popen(
        [*P2C, "load", str(folder), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not db.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.5)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the big file landed before the signal arrived (fast machine)")
    assert time.monotonic() - started < 10  # promptly, not after the remaining work
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert "interrupted" in stderr and "rolled back" in stderr and "zz-contacts.csv" in stderr
    assert "Traceback" not in stderr + stdout
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from raw.contact").fetchone() == (0,)
        assert con.execute("select count(*) from raw.account").fetchone() == (2,)
        assert con.execute("select count(*) from raw._loads where status = 'failed'").fetchone() == (0,)
    again = subprocess.run([*P2C, "load", str(folder), "--db", str(db)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from raw.contact").fetchone() == (rows,)
        assert con.execute("select count(*) from raw.account").fetchone() == (2,)


def test_errors_go_to_stderr_and_version_exists() -> None:
    code, stdout, _ = _run("--version")
    assert code == 0 and stdout.startswith("p2c ")
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [*P2C, "rejects", "--db", "/nonexistent/x.duckdb"], capture_output=True, text=True, env=env
    )
    assert result.returncode == ExitCode.CANNOT_RUN
    assert result.stdout == "" and "no database at" in result.stderr


@pytest.mark.parametrize(
    "args", [["upload", "--help"], ["lineage", "trace", "--help"], ["upload", "--retry-for", "x"]]
)
def test_piped_help_and_usage_errors_are_plain_text_with_nothing_cut(args: list[str]) -> None:
    """Piped `--help` (into a file or a pager): no box characters, no option cut to a box's width."""
    shown = subprocess.run([*P2C, *args], capture_output=True, text=True, timeout=60, check=False)
    text = shown.stdout + shown.stderr
    assert not set("╭╮╰╯│─━") & set(text), text
    assert "…" not in text, text
    if "--help" in args:
        assert shown.returncode == 0 and "Usage: " in shown.stdout
    else:
        assert shown.returncode == 2 and "'--retry-for'" in shown.stderr


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({"P2C_CLIENT_SECRET_2": "half-a-user-secret"}, "P2C_CLIENT_ID_2"),
        ({"P2C_CLIENT_CERT_3": "/nowhere/cert.pem", "P2C_CLIENT_ID_2": "id-2", "P2C_CLIENT_SECRET_2": "s2"},
         "P2C_CLIENT_ID_3"),
    ],
)  # fmt: skip
def test_a_numbered_user_with_one_half_missing_is_a_usage_error(
    present: dict[str, str], missing: str
) -> None:
    from p2c.dataverse.credentials import credentials_from_env
    from p2c.errors import UsageError

    env = {"P2C_TENANT_ID": "t", "P2C_CLIENT_ID": "id-1", "P2C_CLIENT_SECRET": "s1", **present}
    with pytest.raises(UsageError) as refused:
        credentials_from_env(env)
    assert missing in refused.value.message
    assert "half-a-user-secret" not in refused.value.message


def test_plan_without_an_environment_url_names_the_option_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("P2C_DATAVERSE_URL", raising=False)
    code, _, err = _run("plan", "--db", str(tmp_path / "x.duckdb"), "--out", str(tmp_path / "p.json"))
    assert code == ExitCode.CANNOT_RUN
    assert "--env" in err and "P2C_DATAVERSE_URL" in err and "pass it" not in err


@pytest.mark.parametrize(
    "command", [["plan", "--out", "PLAN"], ["upload"], ["upload", "--dry-run"], ["results"]]
)
def test_a_loaded_database_that_was_never_built_says_to_build_it(
    landed_db: Path, tmp_path: Path, command: list[str]
) -> None:
    args = [str(tmp_path / "plan.json") if a == "PLAN" else a for a in command]
    if command != ["results"]:
        args += ["--env", "https://contoso.crm4.dynamics.com"]
    code, _, err = _run(*args, "--db", str(landed_db))
    assert code == ExitCode.CANNOT_RUN, err
    message = " ".join(err.split())
    assert "has no build to upload" in message and "p2c build" in message
    assert "dbt compile" not in message


@pytest.mark.parametrize("parallel", ["0", "60"])
def test_parallel_out_of_range_names_the_option(landed_db: Path, parallel: str) -> None:
    code, _, err = _run(
        "upload", "--db", str(landed_db), "--env", "https://contoso.crm4.dynamics.com", "--parallel", parallel
    )
    assert code == ExitCode.CANNOT_RUN, err
    assert f"--parallel {parallel}" in " ".join(err.split())
