"""Benchmark `p2c upload` against the local Dataverse emulator, side by side with other clients.

    .venv/bin/python benchmarks/bench_upload.py [--rows 10000] [--rss-rows 1000000] [--limits SPEC]

What it compares, on the same N order lines (`salesorderdetail`, a table whose UpdateMultiple the emulator
supports), each contender on a fresh copy of the same emulator state (records not yet initialized) and of the
same DuckDB file, the emulator running as its own process (`p2c emulator`) with limits that bind:

  (a) `p2c upload --table salesorderdetail` (UpdateMultiple), and the same rows with `--bulk batch` ($batch),
      against the emulator's theoretical ceiling (`Limits.ceiling_records_per_second`), target >= 90%; also
      on `--ceiling-rows` lines (default 100,000: twenty-five windows, the shape of a migration's load);
  (b) a one-request-per-row client: plain `requests`, one `PATCH salesorderdetails(<id>)` with `If-Match: *`
      per row, the same bearer token (msal against the emulator), 429s waited out, target p2c >= 10x;
  (c) Microsoft's Python SDK (PowerPlatform-Dataverse-Client), `client.records.update(table, ids, changes)`
      (its documented update of many records: one UpdateMultiple per call), called with 1,000 records per
      call (Microsoft's upper guidance per bulk request) and 429s waited out by the caller, with a minimal
      azure-core `TokenCredential` returning the emulator's msal token, target p2c faster;
  (d) `p2c upload` with two application users against one, target >= 1.8x;
  (e) peak RSS of `p2c upload` of 1M rows (sampled with psutil from this parent), target < 500 MiB;
  (f) `--only job`: the whole job, `p2c upload` of every table of `p2c sample --scale 600` (~12,758 rows),
      timed as a process (start-up, sign-in, metadata, reads, writes, recording) against `--job-limits`
      (ceiling 400 records/s), target >= 90% of the ceiling and >= 10x a one-PATCH-per-row client sending
      `--per-row-rows` of the same planned updates (spread over every table). Its data: the sample built
      once under benchmarks/generated/job/, the emulator's state seeded from it by its own seeder once (a
      template copied per contender), and a plan made once (the per-row client's payloads).

Every contender sends the same payload per row: `msdyn_company@odata.bind` to the line's company, which is
what initialization writes for an order line. The one-request-per-row client runs on the first
`--per-row-rows` rows only (at the request-count limit it would take minutes for all): its figure is rows/s.

Data: a real build (`p2c sample` -> `p2c load` x3 -> `p2c build`, made once under
benchmarks/generated/upload/) supplies the contracts, orders, companies and reference data. Its
`dualwrite.salesorderdetail` is replaced by N synthetic lines (spread over the 80 real orders, unique
sequence numbers, deterministic record ids) and the emulator's seeded state gets the same N records
(uninitialized, with their alternate-key entries) by SQL: seeding a million records through the
emulator's seeder would take longer than the benchmark.

The ceiling is a rate (records/s), and the verdict of (a) is a run's rows/s against it. Beside it, the
stricter figure for a finite job: the least time in which any client keeping to `x-ms-dop-hint` could
write the same rows (`Limits.least_seconds`: the whole windows the rows' execution time needs, and the
burst of the requests in flight that writes the rest into the last one) against the run's time. On a short
run the two differ most: a perfect client writes the last window's share in a burst at the start of it.
The rows/s of the other contenders are compared with p2c's run on the same N rows."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "benchmarks" / "generated" / "upload"
TABLE = "salesorderdetail"
ENTITY_SET = "salesorderdetails"
USERS = [
    ("bench-app-1", "bench-secret-" + uuid.uuid4().hex),
    ("bench-app-2", "bench-secret-" + uuid.uuid4().hex),
]
TENANT = "p2c-emulator"
# Dataverse's documented limits per user, 6,000 requests and 1,200 s of execution per 300 s window (20
# requests/s, 4 s of execution per second), at the same rates over a 5 s window; 5 ms per written record.
DEFAULT_LIMITS = "requests=100,window=5,execution=20,concurrency=52,cost_ms=5,dop=8"
# the 1M-row memory run: limits that do not bind (the figure is memory, not speed)
# (f) the whole job: `p2c sample --scale 600` (about 12,758 rows over the six tables); 10 ms of execution per
# written record and 40 s per 10 s window: a ceiling of 400 records/s, which execution time binds
JOB_SCALE = 600
JOB_LIMITS = "requests=200,window=10,execution=40,concurrency=52,cost_ms=10,dop=8"
JOB_GENERATED = ROOT / "benchmarks" / "generated" / "job"
RSS_LIMITS = "requests=100000,window=10,execution=100000,concurrency=52,cost_ms=0,dop=16"
SDK_CHUNK = 1000
P2C_BATCH = 100  # p2c's default --batch-size
P2C_PARALLEL = 16  # p2c's default --parallel


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def python() -> str:
    return sys.executable


# --- the base build and the template state ----------------------------------------------------------------


def run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("P2C_", "DBT_TARGET", "REQUESTS_CA"))}


def base_build(folder: Path = GENERATED, scale: int | None = None) -> Path:
    """`p2c sample` (at `scale`, else its default) -> `p2c load` x3 -> `p2c build`, made once in `folder`."""
    db = folder / "base.duckdb"
    if db.exists() and db.with_name(db.name + ".target").is_dir():
        return db
    folder.mkdir(parents=True, exist_ok=True)
    log(f"building the base database in {folder} (p2c sample, load x3, build): a minute or more, once")
    env = {**clean_env(), "DBT_LOG_PATH": str(folder / "dbt-logs")}
    sample = folder / "sample"
    shutil.rmtree(sample, ignore_errors=True)
    cli = [python(), "-m", "p2c.cli"]
    run([*cli, "sample", str(sample), *(["--scale", str(scale)] if scale else [])], env=env, cwd=folder)
    tmp = folder / "base.building.duckdb"
    for name, company in (("USMF", "USMF"), ("GBSI", "GBSI"), ("multi-company", None)):
        extra = ["--company", company] if company else []
        run([*cli, "load", str(sample / name), *extra, "--db", str(tmp)], env=env, cwd=folder)
    run([*cli, "build", "--db", str(tmp)], env=env, cwd=folder)
    shutil.move(tmp.with_name(tmp.name + ".target"), db.with_name(db.name + ".target"))
    shutil.move(tmp, db)
    return db


def template_state(base: Path) -> Path:
    """The emulator's state seeded from `base` by its own seeder (slow: made once beside it)."""
    state = base.with_name("base.state.sqlite")
    if state.exists():
        return state
    from p2c.emulator.schema import load_schema
    from p2c.emulator.seed import seed_store
    from p2c.emulator.store import Store

    building = state.with_name("base.state.building.sqlite")
    building.unlink(missing_ok=True)
    schema = load_schema()
    store = Store(building)
    try:
        seed_store(store, schema, base, dict(schema.options))
    finally:
        store.close()
    shutil.move(building, state)
    return state


def record_id(index: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"bench-line-{index}".encode()).hexdigest()))


@dataclass(frozen=True)
class Dataset:
    rows: int
    db: Path
    state: Path
    companies: dict[str, str]  # company code -> cdm_company id
    lines: list[tuple[str, str]]  # (record id, company code), in record id order


def dataset(base: Path, template: Path, rows: int) -> Dataset:
    """N synthetic order lines in a copy of the build and of the seeded emulator state (cached per N)."""
    folder = GENERATED / f"rows-{rows}"
    db, state = folder / "db.duckdb", folder / "state.sqlite"
    if not (db.exists() and state.exists() and (folder / "done").exists()):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        log(f"making the dataset of {rows:,} order lines")
        shutil.copyfile(base, db)
        shutil.copytree(base.with_name(base.name + ".target"), db.with_name(db.name + ".target"))
        _synthesize_lines(db, rows)
        shutil.copyfile(template, state)
        _seed_lines(db, state)
        (folder / "done").write_text("ok")
    with sqlite3.connect(state) as con:
        companies = {
            json.loads(data)["cdm_companycode"]: rid
            for rid, data in con.execute("select id, data from records where entity = 'cdm_company'")
        }
    with duckdb.connect(str(db), read_only=True) as con:
        lines = [
            (str(r), str(c))
            for r, c in con.execute(
                f"select lower(_source_record_id), msdyn_company from dualwrite.{TABLE} order by 1"
            ).fetchall()
        ]
    return Dataset(rows, db, state, companies, lines)


def _synthesize_lines(db: Path, rows: int) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(
            """
            create temp table orders as
            select row_number() over (order by _source_record_id) - 1 as k, *
            from dualwrite.salesorder where _source_record_id is not null"""
        )
        [(orders,)] = con.execute("select count(*) from orders").fetchall()
        [(template,)] = con.execute(f"select count(*) from dualwrite.{TABLE}").fetchall()
        assert orders and template
        # every column of the model, from a real line; the order, sequence number and id made unique
        columns = [d[0] for d in con.execute(f"select * from dualwrite.{TABLE} limit 0").description]
        overrides = {
            "msdyn_company": "o.msdyn_company",
            "salesorderid": "o.msdyn_salesordernumber",
            "sequencenumber": f"cast(1000 + i // {orders} as integer)",
            "_source_record_id": "md5_uuid(i)",
            "_source_file": "'bench-lines.csv'",
            "_source_sheet": "null",
            "_source_row": "i + 2",
        }
        select = ", ".join(f"{overrides.get(c, 'l.' + c)} as {c}" for c in columns)
        con.create_function("md5_uuid", record_id, ["BIGINT"], "VARCHAR")
        con.execute(
            f"""
            create or replace table dualwrite.{TABLE}_new as
            select {select}
            from range({rows}) r(i)
            join orders o on o.k = i % {orders}
            join (select *, row_number() over (order by _source_record_id) - 1 as n
                  from dualwrite.{TABLE}) l on l.n = i % {template}"""
        )
        con.execute(f"drop table dualwrite.{TABLE}")
        con.execute(f"alter table dualwrite.{TABLE}_new rename to {TABLE}")


def _seed_lines(db: Path, state: Path) -> None:
    """The same N lines as records of the emulator, uninitialized (no msdyn_company), with their keys."""
    with duckdb.connect(str(db), read_only=True) as con:
        orders = dict(
            con.execute(
                "select msdyn_salesordernumber || '|' || msdyn_company, lower(_source_record_id) "
                "from dualwrite.salesorder"
            ).fetchall()
        )
        lines = con.execute(
            f"select lower(_source_record_id), salesorderid || '|' || msdyn_company, sequencenumber "
            f"from dualwrite.{TABLE}"
        ).fetchall()
    sqlite = sqlite3.connect(state)
    try:
        sample = sqlite.execute(
            "select data from records where entity = ? order by seq limit 1", (TABLE,)
        ).fetchone()
        base = {k: v for k, v in json.loads(sample[0]).items() if k != "msdyn_company"}
        sqlite.execute("delete from records where entity = ?", (TABLE,))
        sqlite.execute("delete from key_index where entity = ?", (TABLE,))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

        def records() -> Iterator[tuple[Any, ...]]:
            for number, (rid, order_key, sequence) in enumerate(lines):
                data = {
                    **base,
                    "salesorderid": {"entity": "salesorder", "id": orders[order_key]},
                    "sequencenumber": int(sequence),
                }
                yield (TABLE, rid, 10_000_000 + number, json.dumps(data, sort_keys=True), now, now)

        def keys() -> Iterator[tuple[Any, ...]]:
            for rid, order_key, sequence in lines:
                value = json.dumps([orders[order_key], int(sequence)])
                yield (TABLE, "msdyn_salesorderline_sequence", value, rid)

        sqlite.executemany(
            "insert into records(entity, id, version, data, createdon, modifiedon) values (?,?,?,?,?,?)",
            records(),
        )
        sqlite.executemany("insert into key_index(entity, key_name, key_value, id) values (?,?,?,?)", keys())
        sqlite.execute(
            "update counters set value = max(value, ?) where name = 'version'", (10_000_000 + len(lines),)
        )
        sqlite.commit()
    finally:
        sqlite.close()


# --- the emulator, as its own process ---------------------------------------------------------------------


@dataclass
class Emulator:
    url: str
    ca: Path
    state: Path
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator(template: Path, folder: Path, limits: str) -> Iterator[Emulator]:
    """A fresh copy of a template state, served by `p2c emulator` with both users."""
    state = folder / "state.sqlite"
    shutil.copyfile(template, state)
    ca = folder / "ca.pem"
    port = free_port()
    env = {**clean_env(), "P2C_CLIENT_SECRET": USERS[0][1], "P2C_CLIENT_SECRET_2": USERS[1][1]}
    args = [python(), "-m", "p2c.cli", "emulator", "--state", str(state), "--port", str(port)]
    args += ["--ca-cert", str(ca), "--client-id", USERS[0][0], "--client-id", USERS[1][0], "--limits", limits]
    # System Administrators, as a migration's app users are: every record is writable, whatever its state, so
    # each contender writes the same rows (read-only records are rehearsed in tests/test_record_state.py)
    args += ["--admin", USERS[0][0], "--admin", USERS[1][0]]
    out = (folder / "emulator.log").open("wb")
    process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(
                    f"the emulator exited {process.returncode}: {(folder / 'emulator.log').read_text()}"
                )
            if ca.exists():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise SystemExit("the emulator did not start")
            time.sleep(0.1)
        yield Emulator(f"https://127.0.0.1:{port}", ca, state, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        out.close()


def client_env(emu: Emulator, users: int) -> dict[str, str]:
    env = {
        **clean_env(),
        "REQUESTS_CA_BUNDLE": str(emu.ca),
        "P2C_TENANT_ID": TENANT,
        "P2C_AUTHORITY": f"{emu.url}/{TENANT}",
        "P2C_CLIENT_ID": USERS[0][0],
        "P2C_CLIENT_SECRET": USERS[0][1],
    }
    if users > 1:
        env.update({"P2C_CLIENT_ID_2": USERS[1][0], "P2C_CLIENT_SECRET_2": USERS[1][1]})
    return env


def msal_token(emu: Emulator, user: int = 0) -> tuple[str, int]:
    import msal

    session = requests.Session()
    session.trust_env = False  # an exported REQUESTS_CA_BUNDLE would override `verify`
    session.verify = str(emu.ca)
    app = msal.ConfidentialClientApplication(
        USERS[user][0],
        client_credential=USERS[user][1],
        authority=f"{emu.url}/{TENANT}",
        http_client=session,
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[f"{emu.url}/.default"])
    if "access_token" not in result:
        raise SystemExit(f"no token: {result.get('error')}")
    return str(result["access_token"]), int(result.get("expires_in", 3600))


def initialized(emu: Emulator, data: Dataset, ids: list[str]) -> int:
    """How many of these records carry their company now (read from the state file)."""
    wanted = set(ids)
    count = 0
    with sqlite3.connect(f"file:{emu.state}?mode=ro", uri=True) as con:
        for rid, raw in con.execute("select id, data from records where entity = ?", (TABLE,)):
            if rid in wanted and json.loads(raw).get("msdyn_company"):
                count += 1
    return count


def created(emu: Emulator) -> int:
    with sqlite3.connect(f"file:{emu.state}?mode=ro", uri=True) as con:
        return int(
            con.execute(
                "select count(*) from writes where operation = 'create' and client_id <> 'seed'"
            ).fetchone()[0]
        )


def payload(data: Dataset, company: str) -> dict[str, str]:
    return {"msdyn_company@odata.bind": f"/cdm_companies({data.companies[company]})"}


# --- the contenders ---------------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    rows: int
    seconds: float
    done: int
    note: str = ""
    peak_rss_mib: float = 0.0
    written: int = 0  # the whole job: the records it updated (the rest were unchanged or failed)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def watch_rss(process: subprocess.Popen[bytes], peak: list[float], stop: threading.Event) -> None:
    try:
        proc = psutil.Process(process.pid)
        while not stop.is_set():
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            except psutil.Error:
                break
            peak[0] = max(peak[0], rss / 2**20)
            stop.wait(0.05)
    except psutil.Error:
        pass


def p2c_upload(
    name: str, data: Dataset, folder: Path, limits: str, *, users: int = 1, bulk: str = "auto"
) -> Figure:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "db.duckdb"
    shutil.copyfile(data.db, db)
    shutil.copytree(data.db.with_name(data.db.name + ".target"), db.with_name(db.name + ".target"))
    with emulator(data.state, folder, limits) as emu:
        args = [python(), "-m", "p2c.cli", "upload", "--env", emu.url, "--db", str(db), "--table", TABLE]
        args += ["--bulk", bulk, "--batch-size", str(P2C_BATCH), "--parallel", str(P2C_PARALLEL)]
        peak = [0.0]
        stop = threading.Event()
        started = time.monotonic()
        with (folder / "upload.out").open("wb") as out:
            process = subprocess.Popen(args, env=client_env(emu, users), stdout=out, stderr=subprocess.STDOUT)
            watcher = threading.Thread(target=watch_rss, args=(process, peak, stop), daemon=True)
            watcher.start()
            code = process.wait()
            stop.set()
            watcher.join()
        wall = time.monotonic() - started
        if code != 0:
            raise SystemExit(
                f"{name}: p2c upload exited {code}:\n{(folder / 'upload.out').read_text()[-3000:]}"
            )
        with duckdb.connect(str(db), read_only=True) as con:
            [(seconds,)] = con.execute(
                "select epoch(max(finished_at) - min(started_at)) from upload.runs where command = 'upload'"
            ).fetchall()
        done = initialized(emu, data, [rid for rid, _ in data.lines])
        if created(emu):
            raise SystemExit(f"{name}: the emulator logged creates")
    return Figure(name, data.rows, float(seconds), done, f"wall {wall:.1f} s incl. start-up", peak[0])


def patch_session(emu: Emulator) -> requests.Session:
    """Plain `requests` with the emulator's msal token, as a one-request-per-row client would set it up."""
    token, _ = msal_token(emu)
    session = requests.Session()
    session.trust_env = False
    session.verify = str(emu.ca)
    session.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "If-Match": "*",
        }
    )
    return session


def patch_row(session: requests.Session, url: str, body: dict[str, Any]) -> int:
    """One PATCH, 429s waited out (`Retry-After`); how many 429s it met."""
    throttled = 0
    while True:
        answer = session.patch(url, json=body, timeout=120)
        if answer.status_code != 429:
            answer.raise_for_status()
            return throttled
        throttled += 1
        time.sleep(float(answer.headers.get("Retry-After", "1")))


def per_row_client(data: Dataset, folder: Path, limits: str, rows: int) -> Figure:
    folder.mkdir(parents=True, exist_ok=True)
    lines = data.lines[:rows]
    with emulator(data.state, folder, limits) as emu:
        session = patch_session(emu)
        throttled = 0
        started = time.monotonic()
        for rid, company in lines:
            url = f"{emu.url}/api/data/v9.2/{ENTITY_SET}({rid})"
            throttled += patch_row(session, url, payload(data, company))
        seconds = time.monotonic() - started
        done = initialized(emu, data, [rid for rid, _ in lines])
    return Figure("one PATCH per row (requests)", rows, seconds, done, f"{throttled} x 429 waited out")


class EmulatorCredential:
    """A minimal azure-core TokenCredential: the msal token of the emulator's first user."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu
        self._token, lifetime = msal_token(emu)
        self._expires = int(time.time()) + lifetime

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        if time.time() > self._expires - 60:
            self._token, lifetime = msal_token(self._emu)
            self._expires = int(time.time()) + lifetime
        return AccessToken(self._token, self._expires)


def sdk_client(data: Dataset, folder: Path, limits: str) -> Figure:
    from azure.core.credentials import TokenCredential
    from PowerPlatform.Dataverse.client import DataverseClient as SdkClient
    from PowerPlatform.Dataverse.core.errors import HttpError

    folder.mkdir(parents=True, exist_ok=True)
    with emulator(data.state, folder, limits) as emu:
        previous = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = str(emu.ca)  # the SDK's requests trust the emulator's CA
        try:
            credential = EmulatorCredential(emu)
            assert isinstance(credential, TokenCredential)
            # nothing pre-filled: the SDK makes its own metadata reads (entity set, choice labels) against
            # the emulator, inside the timed run, as it would against Dataverse
            client = SdkClient(emu.url, credential)
            throttled = 0
            started = time.monotonic()
            for start in range(0, len(data.lines), SDK_CHUNK):
                chunk = data.lines[start : start + SDK_CHUNK]
                while True:
                    try:
                        client.records.update(
                            TABLE, [rid for rid, _ in chunk], [payload(data, company) for _, company in chunk]
                        )
                        break
                    except HttpError as error:
                        if error.status_code != 429:
                            raise
                        throttled += 1
                        time.sleep(float((getattr(error, "details", None) or {}).get("retry_after") or 1))
            seconds = time.monotonic() - started
            done = initialized(emu, data, [rid for rid, _ in data.lines])
        finally:
            if previous is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = previous
    return Figure(
        f"Microsoft SDK records.update, {SDK_CHUNK}/call",
        data.rows,
        seconds,
        done,
        f"{throttled} x 429 waited out",
    )


# --- (f) the whole job: every table of a sample, `p2c upload` timed as a process ----------------------------


@dataclass(frozen=True)
class Job:
    db: Path  # the build of `p2c sample --scale JOB_SCALE`
    state: Path  # the emulator's state seeded from it by its own seeder (records not yet initialized)
    rows: dict[str, int]  # target rows per table, in upload order
    per_row: list[tuple[str, str, dict[str, Any]]]  # (entity set, record id, payload) of planned updates


def job_data(scale: int) -> Job:
    """The sample's build, its seeded emulator state and the plan's updates, made once per scale."""
    db = base_build(JOB_GENERATED / f"scale-{scale}", scale)
    state = template_state(db)
    plan = db.with_name("plan.json")
    if not plan.exists():
        log("planning the job once (its updates are what the one-request-per-row client sends)")
        folder = db.with_name("planning")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        work_db = copy_db(db, folder)
        with emulator(state, folder, RSS_LIMITS) as emu:
            args = [python(), "-m", "p2c.cli", "plan", "--env", emu.url, "--db", str(work_db)]
            run([*args, "--out", str(folder / "plan.json")], env=client_env(emu, 1), cwd=folder)
        shutil.move(folder / "plan.json", plan)
    from p2c.upload.session import contracts_of

    contracts = contracts_of(db)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = {
            name: int(con.execute(f"select count(*) from {c.relation.sql_name}").fetchall()[0][0])
            for name, c in contracts.items()
        }
    document = json.loads(plan.read_text(encoding="utf-8"))
    updates = [
        (contracts[table].entity_set, str(row["record_id"]), dict(row["payload"]))
        for table, entry in document["tables"].items()
        for row in entry["rows"]
        if row["action"] == "update" and row["payload"]
    ]
    return Job(db, state, rows, updates)


def copy_db(db: Path, folder: Path) -> Path:
    copy = folder / "db.duckdb"
    shutil.copyfile(db, copy)
    shutil.copytree(db.with_name(db.name + ".target"), copy.with_name(copy.name + ".target"))
    return copy


def p2c_job(job: Job, folder: Path, limits: str) -> Figure:
    """`p2c upload` of every table, timed as a process (start-up, sign-in, metadata, reads, writes,
    recording); every row must end with exactly one outcome of the run."""
    folder.mkdir(parents=True, exist_ok=True)
    db = copy_db(job.db, folder)
    with emulator(job.state, folder, limits) as emu:
        args = [python(), "-m", "p2c.cli", "upload", "--env", emu.url, "--db", str(db), "--format", "json"]
        args += ["--batch-size", str(P2C_BATCH), "--parallel", str(P2C_PARALLEL)]
        started = time.monotonic()
        with (folder / "upload.json").open("wb") as out, (folder / "upload.err").open("wb") as err:
            code = subprocess.run(
                args, env=client_env(emu, 1), stdout=out, stderr=err, check=False
            ).returncode
        wall = time.monotonic() - started
        if code not in (0, 1):  # 1: done, with rows that failed (counted below)
            raise SystemExit(
                f"the job: p2c upload exited {code}:\n{(folder / 'upload.err').read_text()[-3000:]}"
            )
        if created(emu):
            raise SystemExit("the job: the emulator logged creates")
    summary = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
    with duckdb.connect(str(db), read_only=True) as con:
        outcomes = dict(
            con.execute(
                "select table_name, count(distinct row_key) from upload.results where run_id = ? group by 1",
                [summary["run_id"]],
            ).fetchall()
        )
    tables = {t["table"]: t for t in summary["tables"]}
    total = sum(job.rows.values())
    if [t["table"] for t in summary["tables"]] != list(job.rows) or outcomes != job.rows:
        raise SystemExit(f"the job: not one outcome per row: {outcomes} of {job.rows}")
    updated = sum(t["updated"] for t in tables.values())
    failed = sum(t["failed"] for t in tables.values())
    note = (
        f"run {summary['seconds']:.1f} s after {wall - summary['seconds']:.1f} s of start-up; "
        f"{updated:,} updated, {failed} failed; throttled {summary['throttled_s']:.1f} s"
    )
    figure = Figure(f"p2c upload, the whole job ({len(tables)} tables)", total, wall, total, note)
    figure.written = updated
    return figure


def per_row_job(job: Job, folder: Path, limits: str, rows: int) -> Figure:
    """One PATCH per row with `If-Match: *`, 429s waited out, on `rows` planned updates spread evenly over
    every table's (the payloads p2c's plan sends): rows/s."""
    folder.mkdir(parents=True, exist_ok=True)
    step = max(1, len(job.per_row) // max(1, rows))
    chosen = job.per_row[::step][:rows]
    with emulator(job.state, folder, limits) as emu:
        session = patch_session(emu)
        throttled = 0
        started = time.monotonic()
        for entity_set, rid, body in chosen:
            throttled += patch_row(session, f"{emu.url}/api/data/v9.2/{entity_set}({rid})", body)
        seconds = time.monotonic() - started
    return Figure(
        "one PATCH per row, the job's rows", len(chosen), seconds, len(chosen), f"{throttled} x 429"
    )


# --- the report -------------------------------------------------------------------------------------------


def ceiling(limits: str, users: int) -> tuple[float, float]:
    """(steady records/s, window s) for p2c's batch size and the parallelism it runs at."""
    from p2c.emulator.limits import parse_limits

    parsed = parse_limits(limits)
    parallel = min(parsed.dop, P2C_PARALLEL)
    return parsed.ceiling_records_per_second(P2C_BATCH, parallel) * users, parsed.window


def of_ceiling(figure: Figure, limits: str, users: int, written: int | None = None) -> tuple[float, float]:
    """(rows/s against the steady rate: the verdict of (a); the least time any client could take for the
    same rows, each user writing its share (`Limits.least_seconds`), against the run's time)."""
    from p2c.emulator.limits import parse_limits

    parsed = parse_limits(limits)
    parallel = min(parsed.dop, P2C_PARALLEL)
    steady = parsed.ceiling_records_per_second(P2C_BATCH, parallel) * users
    records = figure.done if written is None else written
    least = parsed.least_seconds(math.ceil(records / users), P2C_BATCH, parallel)
    return figure.rate / steady, least / figure.seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000, help="order lines for (a)-(d)")
    parser.add_argument(
        "--per-row-rows", type=int, default=300, help="rows the one-PATCH-per-row client sends"
    )
    parser.add_argument("--rss-rows", type=int, default=1_000_000, help="rows of the memory run (0: skip)")
    parser.add_argument(
        "--ceiling-rows",
        type=int,
        default=100_000,
        help="rows of the long run (a) is judged on: a run of many windows, as a migration is (0: skip)",
    )
    parser.add_argument("--limits", default=DEFAULT_LIMITS, help="emulator --limits for (a)-(d)")
    parser.add_argument("--job-scale", type=int, default=JOB_SCALE, help="`p2c sample --scale` of (f)")
    parser.add_argument("--job-limits", default=JOB_LIMITS, help="emulator --limits for (f)")
    parser.add_argument(
        "--only", default="", help="comma-separated subset: p2c,batch,perrow,sdk,users,long,rss,job"
    )
    options = parser.parse_args()
    only = set(filter(None, options.only.split(",")))

    def wanted(name: str) -> bool:
        return not only or name in only

    work = GENERATED / "runs" / time.strftime("%Y%m%d-%H%M%S")
    limits = options.limits
    figures: dict[str, Figure] = {}
    if wanted("job"):
        job = job_data(options.job_scale)
        log(f"running the whole job ({sum(job.rows.values()):,} rows over {len(job.rows)} tables) ...")
        figures["job"] = p2c_job(job, work / "job", options.job_limits)
        log(f"  {figures['job']}")
        rows = min(options.per_row_rows, len(job.per_row))
        if rows:
            log(f"running one PATCH per row on {rows} of the job's updates ...")
            figures["jobperrow"] = per_row_job(job, work / "jobperrow", options.job_limits, rows)
            log(f"  {figures['jobperrow']}")
    if only and only <= {"job"}:
        report(figures, options, limits)
        return
    base = base_build()
    template = template_state(base)
    data = dataset(base, template, options.rows)
    steps: list[tuple[str, Callable[[], Figure]]] = [
        ("p2c", lambda: p2c_upload("p2c upload (UpdateMultiple), 1 user", data, work / "p2c", limits)),
        (
            "batch",
            lambda: p2c_upload(
                "p2c upload --bulk batch ($batch)", data, work / "batch", limits, bulk="batch"
            ),
        ),
        (
            "perrow",
            lambda: per_row_client(data, work / "perrow", limits, min(options.per_row_rows, data.rows)),
        ),
        ("sdk", lambda: sdk_client(data, work / "sdk", limits)),
        ("users", lambda: p2c_upload("p2c upload, 2 users", data, work / "users", limits, users=2)),
    ]
    for key, step in steps:
        if wanted(key):
            log(f"running {key} ...")
            figures[key] = step()
            log(f"  {figures[key]}")
    if options.ceiling_rows and wanted("long"):
        long_data = dataset(base, template, options.ceiling_rows)
        log(f"running the {options.ceiling_rows:,}-row run of (a) ...")
        figures["long"] = p2c_upload(
            f"p2c upload (UpdateMultiple), {options.ceiling_rows:,} rows", long_data, work / "long", limits
        )
        log(f"  {figures['long']}")
    if options.rss_rows and wanted("rss"):
        big = dataset(base, template, options.rss_rows)
        log(f"running the {options.rss_rows:,}-row memory run ...")
        figures["rss"] = p2c_upload(f"p2c upload of {options.rss_rows:,} rows", big, work / "rss", RSS_LIMITS)
        log(f"  {figures['rss']}")
    report(figures, options, limits)


def report(figures: dict[str, Figure], options: argparse.Namespace, limits: str) -> None:
    load = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    steady1, window = ceiling(limits, 1)
    if set(figures) - {"job", "jobperrow"}:
        print(f"limits (a)-(d): {limits}; p2c --batch-size {P2C_BATCH} --parallel {P2C_PARALLEL}")
        print(f"ceiling per user: {steady1:,.0f} records/s steady (window {window:g} s)")
    if "job" in figures:
        steady_job, job_window = ceiling(options.job_limits, 1)
        print(
            f"limits (f): {options.job_limits}: {steady_job:,.0f} records/s steady (window {job_window:g} s)"
        )
    print()
    print(f"{'contender':44} {'rows':>9} {'s':>8} {'rows/s':>9} {'done':>9}  note")
    for figure in figures.values():
        print(
            f"{figure.name:44} {figure.rows:>9,} {figure.seconds:>8.1f} {figure.rate:>9,.0f} "
            f"{figure.done:>9,}  {figure.note}"
            + (f"; peak RSS {figure.peak_rss_mib:,.0f} MiB" if figure.peak_rss_mib else "")
        )
    print()
    verdicts: list[tuple[str, str, bool]] = []
    for figure in figures.values():
        if figure.done != figure.rows:
            verdicts.append((f"{figure.name}: every row initialized", f"{figure.done}/{figure.rows}", False))
    for key in ("long", "p2c"):
        if key in figures:
            steady, fastest = of_ceiling(figures[key], limits, 1)
            verdicts.append(
                (
                    f"(a) {figures[key].rows:,} rows at >= 90% of the ceiling",
                    f"{steady:.0%} of {steady1:,.0f} records/s (fastest possible run: {fastest:.0%} "
                    "of its time)",
                    steady >= 0.9,
                )
            )
    if "batch" in figures:
        steady, fastest = of_ceiling(figures["batch"], limits, 1)
        verdicts.append(
            (
                "(a) p2c $batch >= 90% of the ceiling",
                f"{steady:.0%} of {steady1:,.0f} records/s (fastest possible run: {fastest:.0%} of its time)",
                steady >= 0.9,
            )
        )
    if "p2c" in figures and "perrow" in figures:
        ratio = figures["p2c"].rate / figures["perrow"].rate
        verdicts.append(("(b) p2c >= 10x one PATCH per row", f"{ratio:.1f}x", ratio >= 10))
    if "p2c" in figures and "sdk" in figures:
        ratio = figures["p2c"].rate / figures["sdk"].rate
        verdicts.append(("(c) p2c faster than Microsoft's SDK", f"{ratio:.2f}x", ratio > 1))
    if "p2c" in figures and "users" in figures:
        ratio = figures["users"].rate / figures["p2c"].rate
        steady, _ = of_ceiling(figures["users"], limits, 2)
        verdicts.append(
            (
                "(d) 2 users >= 1.8x 1 user",
                f"{ratio:.2f}x (2 users at {steady:.0%} of their ceiling)",
                ratio >= 1.8,
            )
        )
    if "job" in figures:
        job, job_limits = figures["job"], options.job_limits
        steady_job, _ = ceiling(job_limits, 1)
        steady, fastest = of_ceiling(job, job_limits, 1, written=job.written)
        verdicts.append(
            (
                f"(f) the whole job ({job.rows:,} rows) >= 90% of the ceiling",
                f"{steady:.0%} of {steady_job:,.0f} records/s, timed as a process (fastest possible run: "
                f"{fastest:.0%} of its time) at {job_limits}",
                steady >= 0.9,
            )
        )
        if "jobperrow" in figures:
            ratio = job.rate / figures["jobperrow"].rate
            verdicts.append(("(f) the whole job >= 10x one PATCH per row", f"{ratio:.1f}x", ratio >= 10))
    if "rss" in figures:
        peak = figures["rss"].peak_rss_mib
        verdicts.append(
            (f"(e) peak RSS of {figures['rss'].rows:,} rows < 500 MiB", f"{peak:,.0f} MiB", peak < 500)
        )
    for what, figure_text, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {what:44} {figure_text}")


if __name__ == "__main__":
    main()
