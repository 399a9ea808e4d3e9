"""Reliability of `p2c upload` against the local Dataverse emulator, with the real commands as subprocesses.

One build per session (`p2c sample` -> `p2c load` x3 -> `p2c build`, default seed and scale: conftest's
sample_build, shared read-only); every test works on its own copy of the built DuckDB file and its
`<db>.target/` folder, against its own emulator (in a thread of this process, seeded from the build, state in
the test's folder).

* Faults: 10% 429s, 5% 503s, 2% dropped connections, tokens that live a few seconds, 20 ms of latency. The
  upload is killed once with SIGKILL after some results were committed, then the same command is run again
  until it exits 0 (a row that failed after all its retries is `failed` and retryable, and is retried by the
  next run). Then: every target row has its initialized values in the emulator, the API created nothing,
  `p2c results` reconciles with difference 0 and failed 0, `upload.results` accounts for every row.
* Bad rows planted in the dualwrite tables (an invalid choice value, a company the environment does not have,
  a record id Dataverse does not have) fail alone with the real error code while every other row loads.
* No secret (the client secret, any bearer token the emulator issued) appears in any output, plan file,
  `upload.results` / `upload.runs` row or other file the commands wrote.

Bearer tokens are kept by the emulator only as SHA-256 hashes: the scan hashes every token-shaped string it
finds and compares it with the emulator's `tokens` table (the scanner is checked to find a planted one)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import SAMPLE_BUILD_STEPS, SampleBuild

from p2c.contract.dataverse import COMPANY_COLUMN, TableContract
from p2c.emulator.record_state import RecordStatePolicy
from p2c.emulator.server import RunningEmulator, running_emulator
from p2c.emulator.state import EmulatorState
from p2c.upload.live import read_status
from p2c.upload.session import contracts_of

CLIENT_ID = "p2c-reliability-app"
# a distinctive value, so a scan that finds it cannot be a coincidence
CLIENT_SECRET = "rel-" + uuid.uuid4().hex + "-s3cret"
FAULTS = "429=0.10,503=0.05,drop=0.02,latency_ms=20,token_lifetime=3"
KILL_AFTER_WRITES = 120  # records the emulator updated before the SIGKILL (the first table has 82 rows)
# the killed run writes record by record, a few at a time, so that the kill finds writes in flight that have
# landed in the emulator but whose answers the run has not recorded yet (a bulk request lands all at once)
KILLED_RUN_WRITES = ("--bulk", "single", "--parallel", "4")
MAX_RESUMES = 4
COMMAND_TIMEOUT_S = 120
TOKEN_SHAPED = re.compile(r"[A-Za-z0-9_-]{64,}")  # secrets.token_urlsafe(48): 64 characters
# reference tables the initialized lookups point at: entity set -> (logical name, key attribute)
REFERENCE_TABLES = {
    "cdm_companies": ("cdm_company", "cdm_companycode"),
    "msdyn_customergroups": ("msdyn_customergroup", "msdyn_groupid"),
}


# --- the build (once per session: conftest's sample_build), the commands as child processes ---------------


def _base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("P2C_", "DBT_", "REQUESTS_CA"))}
    env["DBT_LOG_PATH"] = str(tmp / "dbt-logs")  # dbt's log goes to the test folder, not the project
    env["NO_COLOR"] = "1"
    return env


def _p2c(*args: str, env: dict[str, str], cwd: Path, out: Path, timeout: float = COMMAND_TIMEOUT_S) -> int:
    """Run `p2c ...` as a child process; stdout and stderr to `<out>.stdout` / `<out>.stderr`."""
    with (
        out.with_suffix(".stdout").open("wb") as stdout,
        out.with_suffix(".stderr").open("wb") as stderr,
    ):
        done = subprocess.run(
            [sys.executable, "-m", "p2c.cli", *args],
            env=env,
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            timeout=timeout,
            check=False,
        )
    return done.returncode


@pytest.fixture(scope="module")
def built(sample_build: SampleBuild) -> Path:
    """The session's shared build, read-only: every workspace copies it (_copy_build) before writing."""
    db = sample_build.db
    assert list(sample_build.steps) == list(SAMPLE_BUILD_STEPS)
    for name, step in sample_build.steps.items():
        assert step.exit_code == 0, f"p2c {name} exited {step.exit_code}: {step.output[-2000:]}"
    assert db.with_name(db.name + ".target").is_dir()
    return db


@dataclass
class Workspace:
    """One test's copy of the build, its emulator and the environment the client runs with."""

    root: Path
    db: Path
    emulator: RunningEmulator
    env: dict[str, str]
    outputs: list[Path] = field(default_factory=list)

    def p2c(self, name: str, *args: str) -> int:
        out = self.root / name
        self.outputs += [out.with_suffix(".stdout"), out.with_suffix(".stderr")]
        return _p2c(*args, env=self.env, cwd=self.root, out=out)

    def upload_args(self) -> list[str]:
        return ["upload", "--env", self.emulator.base_url, "--db", str(self.db)]

    def results_json(self) -> dict[str, Any]:
        code = self.p2c("results-json", "results", "--db", str(self.db), "--format", "json")
        assert code in (0, 1), (self.root / "results-json.stderr").read_text()
        document: dict[str, Any] = json.loads((self.root / "results-json.stdout").read_text())
        return document

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


def _copy_build(built: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "work.duckdb"
    shutil.copyfile(built, db)
    shutil.copytree(built.with_name(built.name + ".target"), db.with_name(db.name + ".target"))
    return db


@contextmanager
def workspace(built: Path, folder: Path, *, faults: str | None = None) -> Iterator[Workspace]:
    db = _copy_build(built, folder)
    with running_emulator(
        folder / "emulator.sqlite",
        seed_from=built,  # the pristine build: what the procedure leaves in Dataverse before step 8
        ca_cert=folder / "ca.pem",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        faults=faults,
        seed=None,
        record_state=RecordStatePolicy(admins=frozenset({CLIENT_ID})),  # read-only records: test_record_state
    ) as emulator:
        env = _base_env(folder)
        env.update(
            {
                "REQUESTS_CA_BUNDLE": str(emulator.ca_cert),
                "P2C_TENANT_ID": "p2c-emulator",
                "P2C_AUTHORITY": emulator.authority,
                "P2C_CLIENT_ID": CLIENT_ID,
                "P2C_CLIENT_SECRET": CLIENT_SECRET,
            }
        )
        yield Workspace(folder, db, emulator, env)


# --- what the emulator holds against what the dualwrite tables say ----------------------------------------


def _expected_plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _same(stored: Any, expected: Any) -> bool:
    expected = _expected_plain(expected)
    if expected is None or stored is None:
        return stored is None and expected is None
    if isinstance(expected, bool) or isinstance(stored, bool):
        return stored is expected
    if isinstance(expected, int | float) and isinstance(stored, int | float):
        return float(stored) == float(expected)
    if isinstance(expected, str) and len(expected) == 10 and expected[4] == "-":  # a date
        return str(stored)[:10] == expected
    return bool(stored == expected)


def _lookup_attribute(column: str) -> str:
    """The Dataverse lookup attribute of a model column (`customerid_account` -> `customerid`)."""
    for suffix in ("_account", "_contact"):
        if column.endswith(suffix):
            return column.removesuffix(suffix)
    return column


def initialization_problems(
    db: Path,
    state: EmulatorState,
    contracts: dict[str, TableContract],
    skip: frozenset[tuple[str, str]] = frozenset(),
) -> list[str]:
    """Every difference between a dualwrite row's initialized values and its record in the emulator
    (rows in `skip`, as (table, record id), are left out). Empty when every row is initialized."""
    problems: list[str] = []
    companies = {r["cdm_companycode"]: r["id"] for r in state.rows("cdm_company")}
    by_set = {c.entity_set: c for c in contracts.values()}
    con = duckdb.connect(str(db), read_only=True)
    try:
        for contract in contracts.values():
            stored = {r["id"]: r for r in state.rows(contract.table)}
            relation = contract.relation.sql_name
            names = [d[0] for d in con.execute(f"select * from {relation} limit 0").description]
            for values in con.execute(f"select * from {relation}").fetchall():
                row = dict(zip(names, values, strict=True))
                record_id = row[contract.record_id_column]
                assert record_id, f"{contract.table}: the sample's rows all carry their record id"
                record_id = str(record_id).lower()
                if (contract.table, record_id) in skip:
                    continue
                record = stored.get(record_id)
                where = f"{contract.table} {record_id}"
                if record is None:
                    problems.append(f"{where}: not in the emulator")
                    continue
                company_id = companies.get(row.get(COMPANY_COLUMN) or "")
                for column in contract.initialize:
                    value = row.get(column)
                    lookup = contract.lookups.get(column)
                    if lookup is None:
                        if not _same(record.get(column), value):
                            problems.append(
                                f"{where}: {column} is {record.get(column)!r}, expected {value!r}"
                            )
                        continue
                    if value is None:
                        continue  # a lookup without a value is left as it is
                    got = record.get(f"_{_lookup_attribute(column)}_value")
                    expected = _expected_lookup(con, state, by_set, lookup, value, company_id)
                    if expected is None or got != expected:
                        problems.append(f"{where}: {column} = {value!r} bound to {got}, expected {expected}")
    finally:
        con.close()
    return problems


def _expected_lookup(
    con: duckdb.DuckDBPyConnection,
    state: EmulatorState,
    by_set: dict[str, TableContract],
    lookup: Any,
    value: Any,
    company_id: str | None,
) -> str | None:
    """The record id a lookup value must be bound to, found independently of the uploader."""
    with_company = COMPANY_COLUMN in lookup.target_key[1:]
    target = by_set.get(lookup.target_entity_set)
    if target is not None:  # a migrated record: the record id of the target row in the same company
        sql = (
            f"select {target.record_id_column} from {target.relation.sql_name} "
            f"where {lookup.target_key[0]} = ?"
        )
        params = [value]
        if with_company:
            code = next((c for c, i in _companies(state).items() if i == company_id), None)
            sql += f" and {COMPANY_COLUMN} = ?"
            params.append(code)
        found = con.execute(sql, params).fetchall()
        return str(found[0][0]).lower() if len(found) == 1 and found[0][0] else None
    logical, key = REFERENCE_TABLES[lookup.target_entity_set]
    matches = [
        r["id"]
        for r in state.rows(logical)
        if r.get(key) == value and (not with_company or r.get(f"_{COMPANY_COLUMN}_value") == company_id)
    ]
    return matches[0] if len(matches) == 1 else None


def _companies(state: EmulatorState) -> dict[str, str]:
    return {r["cdm_companycode"]: r["id"] for r in state.rows("cdm_company")}


def target_rows(db: Path, contracts: dict[str, TableContract]) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            name: int(con.execute(f"select count(*) from {c.relation.sql_name}").fetchall()[0][0])
            for name, c in contracts.items()
        }


def api_operations(state_file: Path) -> dict[str, int]:
    """Writes the emulator logged for API clients (not the seed), by operation."""
    con = sqlite3.connect(f"file:{state_file}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "select operation, count(*) from writes where client_id <> 'seed' group by operation"
        ).fetchall()
    finally:
        con.close()
    return {str(op): int(n) for op, n in rows}


# --- secrets ----------------------------------------------------------------------------------------------


def issued_token_hashes(state: EmulatorState) -> set[str]:
    return {str(h) for (h,) in state._query("SELECT token_sha256 FROM tokens")}


def secret_findings(texts: dict[str, str], token_hashes: set[str]) -> list[str]:
    """Where the client secret or an issued bearer token appears in `texts` (name -> text)."""
    found = []
    for name, text in texts.items():
        if CLIENT_SECRET in text:
            found.append(f"{name}: the client secret")
        for match in TOKEN_SHAPED.finditer(text):
            run = match.group(0)
            for start in range(len(run) - 63):
                if hashlib.sha256(run[start : start + 64].encode()).hexdigest() in token_hashes:
                    found.append(f"{name}: a bearer token issued by the emulator")
                    break
    return found


def written_texts(space: Workspace) -> dict[str, str]:
    """Every output and file the commands produced (not the databases), and the upload tables as text."""
    texts: dict[str, str] = {}
    for path in sorted(space.root.rglob("*")):
        if not path.is_file() or path.suffix in (".duckdb", ".sqlite", ".wal") or "-wal" in path.name:
            continue
        if path.name.endswith(("-shm", ".pem")) or ".target" in str(path.relative_to(space.root)):
            continue
        texts[str(path.relative_to(space.root))] = path.read_text(encoding="utf-8", errors="replace")
    with duckdb.connect(str(space.db), read_only=True) as con:
        for table in ("upload.results", "upload.runs"):
            rows = con.execute(f"select * from {table}").fetchall()
            texts[table] = "\n".join(" | ".join(map(str, row)) for row in rows)
    return texts


# --- the faulted, killed and resumed upload ---------------------------------------------------------------


@dataclass
class ResumedRun:
    space: Workspace
    contracts: dict[str, TableContract]
    results_at_kill: int
    exit_codes: list[int]
    runs: int
    report: dict[str, Any]
    texts: dict[str, str]
    token_hashes: set[str]
    operations: dict[str, int]
    problems: list[str]
    problems_before: list[str]
    seeded: dict[str, int]
    counts_after: dict[str, int]
    killed_run: str = ""
    killed_status_before_rerun: str = ""  # as `p2c results` showed it before any new upload ran
    intents_at_kill: int = 0
    written_by_killed: set[tuple[str, str]] = field(default_factory=set)  # (table, record id)


def _api_writes_so_far(state_file: Path) -> set[tuple[str, str]]:
    con = sqlite3.connect(f"file:{state_file}?mode=ro", uri=True)
    try:
        rows = con.execute("select entity, id from writes where client_id <> 'seed'").fetchall()
    finally:
        con.close()
    return {(str(entity), str(record_id).lower()) for entity, record_id in rows}


def _recorded_so_far(db: Path) -> int:
    """Rows whose outcome the running upload has committed (its status file, rewritten per chunk)."""
    document = read_status(db)
    return sum(int(t["gone_through"]) for t in document["tables"].values()) if document else 0


def _wait_for_writes(
    state_file: Path,
    at_least: int,
    process: subprocess.Popen[bytes],
    timeout: float,
    *,
    recorded_in: Path | None = None,
) -> int:
    """Until the emulator has applied `at_least` writes (and, given `recorded_in`, the upload has committed
    some outcomes to that database: the tables' writes overlap, so the first outcomes may come after more
    writes than the first table has)."""
    deadline = time.monotonic() + timeout
    written = 0
    while time.monotonic() < deadline and process.poll() is None:
        written = api_operations(state_file).get("update", 0)
        if written >= at_least and (recorded_in is None or _recorded_so_far(recorded_in) > 0):
            return written
        time.sleep(0.05)
    return written


@pytest.fixture(scope="module")
def resumed(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResumedRun]:
    folder = tmp_path_factory.mktemp("resumed")
    with workspace(built, folder, faults=FAULTS) as space:
        contracts = contracts_of(space.db)
        totals = target_rows(space.db, contracts)
        state = EmulatorState(space.emulator.state)
        seeded = {name: state.count(name) for name in contracts}
        problems_before = initialization_problems(space.db, state, contracts)
        # the first run, killed with SIGKILL once the emulator has applied some writes
        out = folder / "upload-killed"
        space.outputs += [out.with_suffix(".stdout"), out.with_suffix(".stderr")]
        with out.with_suffix(".stdout").open("wb") as stdout, out.with_suffix(".stderr").open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "p2c.cli", *space.upload_args(), *KILLED_RUN_WRITES],
                env=space.env,
                cwd=folder,
                stdout=stdout,
                stderr=stderr,
            )
            try:
                written = _wait_for_writes(
                    space.emulator.state, KILL_AFTER_WRITES, process, 90, recorded_in=space.db
                )
                still_running = process.poll() is None
                process.send_signal(signal.SIGKILL)
            finally:
                process.wait(timeout=30)
        assert still_running, f"the upload ended (exit {process.returncode}) before it could be killed"
        assert written >= KILL_AFTER_WRITES, f"only {written} records written before the kill deadline"
        assert process.returncode == -signal.SIGKILL
        [(results_at_kill,)] = space.query("select count(*) from upload.results")
        [(intents_at_kill,)] = space.query("select count(*) from upload.intents")
        [(killed_run,)] = space.query("select run_id from upload.runs where command = 'upload'")
        written_by_killed = _api_writes_so_far(space.emulator.state)
        before_rerun = space.results_json()
        killed_status = next(r["status"] for r in before_rerun["runs"] if r["run_id"] == killed_run)
        # the same command again, until it exits 0
        codes = []
        for attempt in range(1, MAX_RESUMES + 1):
            codes.append(space.p2c(f"upload-resume-{attempt}", *space.upload_args()))
            if codes[-1] == 0:
                break
        report = space.results_json()
        space.p2c("results-table", "results", "--db", str(space.db))
        space.p2c("results-csv", "results", "--db", str(space.db), "--format", "csv", "--status", "updated")
        yield ResumedRun(
            space=space,
            contracts=contracts,
            results_at_kill=int(results_at_kill),
            exit_codes=codes,
            runs=len(codes),
            report=report,
            texts=written_texts(space),
            token_hashes=issued_token_hashes(state),
            operations=api_operations(space.emulator.state),
            problems=initialization_problems(space.db, state, contracts),
            problems_before=problems_before,
            seeded=seeded,
            counts_after={name: state.count(name) for name in contracts},
            killed_run=str(killed_run),
            killed_status_before_rerun=str(killed_status),
            intents_at_kill=int(intents_at_kill),
            written_by_killed=written_by_killed,
        )
        assert sum(totals.values()) > 0


def test_killed_run_had_committed_some_results_but_not_all(resumed: ResumedRun) -> None:
    total = sum(target_rows(resumed.space.db, resumed.contracts).values())
    assert 0 < resumed.results_at_kill < total


def test_the_killed_run_is_shown_interrupted_before_any_rerun(resumed: ResumedRun) -> None:
    assert resumed.killed_status_before_rerun == "interrupted"
    [(status,)] = resumed.space.query("select status from upload.runs where run_id = ?", [resumed.killed_run])
    assert status == "interrupted"


def test_writes_in_flight_at_the_kill_are_recorded_as_the_killed_runs(resumed: ResumedRun) -> None:
    """The killed run had committed the intent of every write it sent; the rerun read those records back and
    recorded the ones Dataverse held as updated by the killed run, never as "unchanged": every record the
    killed process wrote is, in the audit, written by it."""
    assert resumed.intents_at_kill > 0
    space = resumed.space
    by_killed = {
        (table, key): (status, message)
        for table, key, status, message in space.query(
            "select table_name, row_key, status, message from upload.results where run_id = ?",
            [resumed.killed_run],
        )
    }
    missing = sorted(w for w in resumed.written_by_killed if w not in by_killed)
    assert missing == [], (
        f"{len(missing)} record(s) the killed run wrote are not recorded as its: {missing[:5]}"
    )
    settled = [k for k, (status, message) in by_killed.items() if "by the interrupted run" in message]
    assert settled, "no write in flight was settled by reading it back"
    assert all(by_killed[k][0] == "updated" for k in settled)
    assert space.query("select count(*) from upload.intents") == [(0,)]


def test_resumed_upload_ends_with_exit_0(resumed: ResumedRun) -> None:
    assert resumed.exit_codes[-1] == 0, f"exit codes of the resumed runs: {resumed.exit_codes}"


def test_every_target_row_has_its_initialized_values_in_the_emulator(resumed: ResumedRun) -> None:
    assert resumed.problems == [], "\n".join(resumed.problems[:20])


def test_the_check_of_initialized_values_can_fail(resumed: ResumedRun) -> None:
    """Before the upload, the same check finds every target row uninitialized (its company unset)."""
    total = sum(target_rows(resumed.space.db, resumed.contracts).values())
    uninitialized = {p.split(":")[0] for p in resumed.problems_before if "msdyn_company" in p}
    assert len(uninitialized) == total


def test_the_api_created_nothing_and_only_updated(resumed: ResumedRun) -> None:
    assert set(resumed.operations) == {"update"}, resumed.operations
    assert resumed.counts_after == resumed.seeded


def test_the_token_expired_mid_run_and_was_renewed(resumed: ResumedRun) -> None:
    # tokens live 3 s and the uploads take longer: more than one token per run was needed
    assert len(resumed.token_hashes) > resumed.runs + 1


def test_results_reconcile_with_no_difference_and_no_failure(resumed: ResumedRun) -> None:
    reconciliation = {r["table_name"]: r for r in resumed.report["reconciliation"]}
    assert set(reconciliation) == set(resumed.contracts)
    for table, row in reconciliation.items():
        assert row["difference"] == 0, row
        assert row["failed"] == 0, row
        assert row["to_do"] == 0, row
        assert row["updated"] + row["unchanged"] == row["target_rows"], (table, row)


def test_upload_results_account_for_every_row(resumed: ResumedRun) -> None:
    space = resumed.space
    for name, contract in resumed.contracts.items():
        rid = contract.record_id_column
        missing = space.query(
            f"select lower(t.{rid}) from {contract.relation.sql_name} t where lower(t.{rid}) not in "
            "(select r.row_key from upload.results r join upload.runs u using (run_id) "
            "where u.dry_run = false and r.table_name = ? and r.status in ('updated', 'unchanged'))",
            [name],
        )
        assert missing == [], f"{name}: {len(missing)} row(s) without a done result"
        # every result row names a target row of its table (nothing counted that does not exist)
        strays = space.query(
            "select count(*) from upload.results r where r.table_name = ? and r.row_key not in "
            f"(select lower({rid}) from {contract.relation.sql_name})",
            [name],
        )
        assert strays == [(0,)]
    # a row that failed in one run (after all its retries) was retryable and done by a later run
    failed = space.query(
        "select r.table_name, r.row_key, r.http_status, r.error_code from upload.results r "
        "where r.status = 'failed'"
    )
    for table, key, status, code in failed:
        assert status is None or status == 429 or status >= 500, (table, key, status, code)


def test_no_secret_in_any_output_file_or_result_row(resumed: ResumedRun) -> None:
    assert len(resumed.texts) >= 6  # stdout/stderr of every command, results tables, ...
    assert secret_findings(resumed.texts, resumed.token_hashes) == []


def test_the_secret_scan_finds_a_planted_token(resumed: ResumedRun, tmp_path: Path) -> None:
    """The scan is able to fail: a real token from the same emulator, planted in a text, is found."""
    import msal
    from emulator_fixtures import trusting_session

    emulator = resumed.space.emulator
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=CLIENT_SECRET,
        authority=emulator.authority,
        http_client=trusting_session(emulator),
        instance_discovery=False,
    )
    token = app.acquire_token_for_client(scopes=[emulator.scope])["access_token"]
    hashes = issued_token_hashes(EmulatorState(emulator.state))
    planted = {"log": f"GET /api/data/v9.2/accounts Authorization: Bearer {token}\n", "other": CLIENT_SECRET}
    assert len(secret_findings(planted, hashes)) == 2


# --- bad rows fail alone ----------------------------------------------------------------------------------


@dataclass
class BadRows:
    space: Workspace
    contracts: dict[str, TableContract]
    choice_account: str
    companyless_account: str
    unknown_contact: str
    original_contact: str
    upload_code: int
    results_code: int
    plan_code: int
    report: dict[str, Any]
    problems: list[str]
    texts: dict[str, str]
    token_hashes: set[str]
    operations: dict[str, int]


UNREFERENCED_ACCOUNT = """
select lower(a._source_record_id) from dualwrite.account a
where not exists (select 1 from dualwrite.contact c
                  where c.parentcustomerid_account = a.accountnumber and c.msdyn_company = a.msdyn_company)
  and not exists (select 1 from dualwrite.salesorder o where a.msdyn_company = o.msdyn_company
                  and a.accountnumber in (o.customerid_account, o.msdyn_invoicecustomerid_account))
  and not exists (select 1 from dualwrite.quote q where a.msdyn_company = q.msdyn_company
                  and a.accountnumber in (q.customerid_account, q.msdyn_invoicecustomerid_account))
  and a.msdyn_company = 'USMF'
order by 1 limit 2
"""
UNREFERENCED_CONTACT = """
select lower(c._source_record_id) from dualwrite.contact c
where not exists (select 1 from dualwrite.salesorder o where c.msdyn_company = o.msdyn_company
                  and c.msdyn_contactpersonid in (o.customerid_contact, o.msdyn_invoicecustomerid_contact))
  and not exists (select 1 from dualwrite.quote q where c.msdyn_company = q.msdyn_company
                  and c.msdyn_contactpersonid in (q.customerid_contact, q.msdyn_invoicecustomerid_contact))
order by 1 limit 1
"""


@pytest.fixture(scope="module")
def bad_rows(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BadRows]:
    folder = tmp_path_factory.mktemp("bad-rows")
    with workspace(built, folder) as space:
        unknown_contact = str(uuid.uuid4())
        with duckdb.connect(str(space.db)) as con:
            accounts = [r[0] for r in con.execute(UNREFERENCED_ACCOUNT).fetchall()]
            [(contact,)] = con.execute(UNREFERENCED_CONTACT).fetchall()
            assert len(accounts) == 2
            choice_account, companyless_account = accounts
            con.execute(
                "update dualwrite.account set customertypecode = 999 where lower(_source_record_id) = ?",
                [choice_account],
            )
            con.execute(
                "update dualwrite.account set msdyn_company = 'ZZZZ' where lower(_source_record_id) = ?",
                [companyless_account],
            )
            con.execute(
                "update dualwrite.contact set _source_record_id = ? where lower(_source_record_id) = ?",
                [unknown_contact, contact],
            )
        contracts = contracts_of(space.db)
        plan_code = space.p2c(
            "plan", "plan", "--env", space.emulator.base_url, "--db", str(space.db), "--out", "plan.json"
        )
        upload_code = space.p2c("upload", *space.upload_args())
        results_code = space.p2c("results", "results", "--db", str(space.db))
        state = EmulatorState(space.emulator.state)
        skip = frozenset(
            {("account", choice_account), ("account", companyless_account), ("contact", unknown_contact)}
        )
        yield BadRows(
            space=space,
            contracts=contracts,
            choice_account=choice_account,
            companyless_account=companyless_account,
            unknown_contact=unknown_contact,
            original_contact=contact,
            upload_code=upload_code,
            results_code=results_code,
            plan_code=plan_code,
            report=space.results_json(),
            problems=initialization_problems(space.db, state, contracts, skip),
            texts=written_texts(space),
            token_hashes=issued_token_hashes(state),
            operations=api_operations(space.emulator.state),
        )


def test_bad_rows_fail_alone_with_the_real_error_code(bad_rows: BadRows) -> None:
    failed = bad_rows.space.query(
        "select table_name, row_key, http_status, error_code, message from upload.results "
        "where status = 'failed' order by table_name, row_key"
    )
    by_key = {(table, key): (status, code, message) for table, key, status, code, message in failed}
    assert set(by_key) == {
        ("account", bad_rows.choice_account),
        ("account", bad_rows.companyless_account),
        ("contact", bad_rows.unknown_contact),
    }, failed
    status, code, message = by_key[("account", bad_rows.choice_account)]
    assert (status, code.upper()) == (400, "0X8004431A"), (status, code, message)
    assert "999" in message
    status, code, message = by_key[("account", bad_rows.companyless_account)]
    assert (status, code) == (None, "p2c:reference_missing"), (status, code, message)
    assert "ZZZZ" in message
    status, code, message = by_key[("contact", bad_rows.unknown_contact)]
    assert (status, code) == (None, "p2c:not_found"), (status, code, message)


def test_bad_rows_exit_1_and_results_list_them(bad_rows: BadRows) -> None:
    assert bad_rows.upload_code == 1
    assert bad_rows.results_code == 1
    assert bad_rows.plan_code == 1  # the plan finds the rows the upload fails
    reconciliation = {r["table_name"]: r for r in bad_rows.report["reconciliation"]}
    assert {t: r["failed"] for t, r in reconciliation.items() if r["failed"]} == {"account": 2, "contact": 1}
    assert all(r["difference"] == 0 and r["to_do"] == 0 for r in reconciliation.values())
    listed = {(r["table_name"], r["record_id"], r["error_code"]) for r in bad_rows.report["rows"]}
    assert len(listed) == 3


def test_every_other_row_loads(bad_rows: BadRows) -> None:
    assert bad_rows.problems == [], "\n".join(bad_rows.problems[:20])
    assert set(bad_rows.operations) == {"update"}


def test_bad_records_were_left_as_they_were(bad_rows: BadRows) -> None:
    state = EmulatorState(bad_rows.space.emulator.state)
    for table, record_id in (
        ("account", bad_rows.choice_account),
        ("account", bad_rows.companyless_account),
        ("contact", bad_rows.original_contact),
    ):
        row = state.row(table, record_id)
        assert row is not None and row.get("_msdyn_company_value") is None, (table, row)
    assert state.row("contact", bad_rows.unknown_contact) is None  # and nothing was created for it


def test_the_plan_lists_the_bad_rows(bad_rows: BadRows) -> None:
    plan = json.loads((bad_rows.space.root / "plan.json").read_text())
    actions = {
        (table, row["row_key"]): (row["action"], row["code"])
        for table, entry in plan["tables"].items()
        for row in entry["rows"]
    }
    assert actions[("account", bad_rows.companyless_account)] == ("cannot_write", "p2c:reference_missing")
    assert actions[("contact", bad_rows.unknown_contact)] == ("not_found", "p2c:not_found")
    # the invalid choice value is only known to Dataverse: the plan sees an update
    assert actions[("account", bad_rows.choice_account)][0] == "update"


def test_no_secret_in_the_bad_rows_outputs_or_plan(bad_rows: BadRows) -> None:
    assert "plan.json" in bad_rows.texts
    assert secret_findings(bad_rows.texts, bad_rows.token_hashes) == []


def test_a_refused_secret_is_not_echoed(built: Path, tmp_path: Path) -> None:
    with workspace(built, tmp_path) as space:
        space.env["P2C_CLIENT_SECRET"] = wrong = "wrong-" + uuid.uuid4().hex
        code = space.p2c("upload-wrong-secret", *space.upload_args())
        texts = {p.name: p.read_text() for p in space.outputs}
    assert code == 2, texts
    assert not any(wrong in text or CLIENT_SECRET in text for text in texts.values()), texts
    assert "Traceback" not in "".join(texts.values())


# --- a long upload can be watched -------------------------------------------------------------------------


def test_a_running_upload_can_be_followed_from_another_process(built: Path, tmp_path: Path) -> None:
    """DuckDB keeps other processes out of the database while the upload writes it: `p2c results` shows the
    running upload's status file instead (progress per table, failures so far), and `--follow` waits for
    the upload to end and then shows the results."""
    with workspace(built, tmp_path, faults="latency_ms=150") as space:
        out = tmp_path / "upload-watched"
        with out.with_suffix(".stdout").open("wb") as stdout, out.with_suffix(".stderr").open("wb") as stderr:
            # record by record, a few at a time: the tables overlap, and in bulk the whole sample is written
            # before a second process has started to watch it
            process = subprocess.Popen(
                [sys.executable, "-m", "p2c.cli", *space.upload_args(), *KILLED_RUN_WRITES],
                env=space.env,
                cwd=tmp_path,
                stdout=stdout,
                stderr=stderr,
            )
            try:
                _wait_for_writes(space.emulator.state, 20, process, 90)
                assert process.poll() is None, "the upload ended before it could be watched"
                code = space.p2c("results-live", "results", "--db", str(space.db), "--format", "json")
                seen = (tmp_path / "results-live.stdout").read_text()
                assert code in (0, 1), (tmp_path / "results-live.stderr").read_text()
                followed = space.p2c("results-follow", "results", "--db", str(space.db), "--follow")
            finally:
                process.wait(timeout=COMMAND_TIMEOUT_S)
        assert process.returncode == 0
    running = json.loads(seen)["running"]
    assert running["alive"] is True and running["pid"] == process.pid
    assert running["writes"] is True
    assert "account" in running["tables"] and running["tables"]["account"]["rows"] > 0
    assert followed == 0
    watched = (tmp_path / "results-follow.stdout").read_text()
    assert "progress" in watched and "reconciliation against" in watched
