"""`p2c plan` and `p2c upload`: the target tables, in dependency order, chunk by chunk.

Per chunk: prepare each row (its record id, the initialized values with lookups bound), read the current
records by id, decide (update / unchanged / not found / conflict / cannot write), then — for an upload, not a
plan or a dry run — send the updates (UpdateMultiple, `$batch` or PATCH, decided by the client) and record
every row's outcome in `upload.results`, chunk after chunk. One pipeline carries the chunks of every table
(see `Runner._pipeline`): an update by id needs no other table's rows initialized first (every record and
every lookup target already exists), so the next table's reads and writes start while the last chunks of the
one before are in flight, and each table's metadata is read ahead, beside the writes. A chunk's outcomes are
recorded only once all its writes have answered, in chunk order (so each table's tally, progress and plan
rows come in the same order as one table at a time), so a killed run redoes at most the chunks in flight,
and an update by id is safe to redo. Memory stays flat: rows stream from DuckDB."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from p2c.contract.dataverse import TableContract
from p2c.dataverse import DataverseClient, Record, RowResult, UpdateRow
from p2c.dataverse.results import WriteMethod
from p2c.errors import TransientError, UsageError
from p2c.upload.codes import (
    CONCURRENCY_VERSION_MISMATCH,
    DUPLICATE_KEY_CODES,
    NOT_IN_PLAN,
    PLAN_OUTDATED,
    PLAN_ROW_CHANGED,
    RECORD_CHANGED,
)
from p2c.upload.live import LiveStatus, database_path, status_path
from p2c.upload.matching import Identification
from p2c.upload.prepare import SENDABLE, Decision, Judged, RowPreparer
from p2c.upload.record_state import READ_ONLY_STATE_TABLES, RecordStateGate
from p2c.upload.rows import TargetRow, count_rows, pending_rows, row_key_sql
from p2c.upload.store import (
    IntentLog,
    Outcome,
    OutcomeStatus,
    RunStatus,
    close_stale_runs,
    drop_stale_intents,
    ensure_upload_schema,
    environment_identity,
    finish_run,
    now,
    record_outcomes,
    record_run_environment,
    start_run,
)
from p2c.upload.uniqueness import ROWS_PER_QUERY, Collision, UniqueRule, find_collisions, unique_rules

DEFAULT_CHUNK_ROWS = 2000
# reads in flight per chunk; the client's per-user limits (x-ms-dop-hint) still apply underneath
READ_PARALLELISM = 8
# chunks whose writes are in flight together: their requests fill the slots a chunk's last requests leave
# free, also while one of them waits out a 429 hold (with two, a held retry stalled the whole pipeline)
CHUNKS_WRITTEN_AT_ONCE = 4
# rows of the run's first piece: its reads and checks are all that stand between sign-in and the first write
FIRST_PIECE_ROWS = 100
PLAN_FORMAT = "p2c-plan/1"
PLAN_ACTIONS = frozenset(d.value for d in Decision)
# the plan file's head: each must be there, of this JSON type, or the plan is refused before any work
PLAN_FIELDS: dict[str, type] = {
    "format": str,
    "run_id": str,
    "environment": str,
    "organization_id": str,
    "database": str,
    "options": dict,
    "tables": dict,
    "digest": str,
}
DIGEST_PREFIX = "sha256:"


class HeldClock:
    """Seconds on the clock during which at least one request was held by service protection: the union of
    the hold intervals, so 16 requests held for the same 30 s count 30 s, not 480 (their sum is kept apart
    as request-seconds). Fed by the client's `throttled` event, or by the results of each written request
    when the client does not send events (then each request's wait is placed at its start)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._intervals: list[tuple[float, float]] = []
        self.request_seconds = 0.0

    def hold(self, start: float, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self._intervals.append((start, start + seconds))
            self.request_seconds += seconds

    @property
    def seconds(self) -> float:
        with self._lock:
            intervals = sorted(self._intervals)
        total, end = 0.0, float("-inf")
        for start, stop in intervals:
            if stop <= end:
                continue
            total += stop - max(start, end)
            end = stop
        return total

    def intervals(self) -> list[tuple[float, float]]:
        with self._lock:
            return list(self._intervals)

    def __bool__(self) -> bool:
        return bool(self._intervals)


@dataclass
class TableTally:
    table: str
    total: int = 0
    already_done: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_decision: Counter[str] = field(default_factory=Counter)
    throttle_wait_s: float = 0.0  # seconds on the clock with at least one request of this table held
    throttle_request_s: float = 0.0  # the sum over requests of their holds (concurrent holds add up)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # where the environment and the model contract differ
    not_in_plan: int = 0  # target rows the applied plan does not hold: skipped, still to do
    plan_outdated: int = 0  # rows the applied plan no longer fits (an update it did not review, or a row
    # changed in DuckDB since): not sent
    settled_by: Counter[str] = field(default_factory=Counter)  # writes of killed runs read back, per run
    # a plan or dry run: writes of killed runs it found in flight, left for the next upload to settle
    to_settle: Counter[str] = field(default_factory=Counter)

    @property
    def gone_through(self) -> int:
        """Rows decided and recorded so far (all of `total` once the table ended)."""
        counted = sum(self.by_status.values()) + sum(self.settled_by.values())
        return self.already_done + self.not_in_plan + counted

    def count(self, item: Judged, outcome: Outcome) -> None:
        """One recorded row in its columns, each row once: a row left out of the applied plan only as such
        (not also as its decision), a killed run's write read back as that run's (not this run's update)."""
        if outcome.error_code == NOT_IN_PLAN:
            self.not_in_plan += 1
            return
        if outcome.run_id:
            self.settled_by[outcome.run_id] += 1
            return
        if outcome.error_code in (PLAN_OUTDATED, PLAN_ROW_CHANGED):
            # the plan no longer fits the row: not sent, so not counted under its decision (no "sent again")
            self.plan_outdated += 1
            self.by_status[outcome.status] += 1
            return
        self.by_decision[item.decision] += 1
        self.by_status[outcome.status] += 1


@dataclass(frozen=True)
class _Judging:
    """What a table's chunks are judged with: its rows' preparer (metadata, lookups), its unique rules and
    the columns read of its current records."""

    preparer: RowPreparer
    rules: list[UniqueRule]
    select: list[str]


@dataclass
class _TableWork:
    """One table of a run's pipeline: its tally, its `_Judging` (read ahead, in the background) and what
    it collects for the plan file."""

    contract: TableContract
    tally: TableTally
    judging: Future[_Judging] | None = None
    plan_rows: list[dict[str, Any]] = field(default_factory=list)
    done_before: list[str] = field(default_factory=list)  # row keys the plan found done: listed, not rows
    started: float = 0.0


@dataclass
class _Chunk:
    work: _TableWork
    rows: list[TargetRow]
    last: bool  # the table's last chunk: the table ends once it is recorded
    judging: _Judging | None = None
    failure: Exception | None = None  # the table's `_Judging` could not be made: raised in chunk order


@dataclass(frozen=True)
class DroppedRow:
    """A row of the applied plan that is no longer a target row of the build: not sent, and said so."""

    table: str
    row_key: str
    record_id: str | None
    business_key: str
    action: str
    reason: str


@dataclass
class RunSummary:
    run_id: str
    command: str
    environment: str
    dry_run: bool
    tables: list[TableTally]
    plan_path: Path | None = None
    plan_in: Path | None = None
    # why the run stopped early (the service unreachable past the outage budget); None: it ran through
    stopped: str | None = None
    interrupted: bool = False  # stopped by Ctrl-C (exit 130), not by the service
    dropped: list[DroppedRow] = field(default_factory=list)  # planned rows that left the build
    seconds: float = 0.0
    throttle_wait_s: float = 0.0  # on the clock, over the whole run (the tables' holds can overlap too)
    throttle_request_s: float = 0.0

    @property
    def failed(self) -> int:
        return sum(t.by_status[OutcomeStatus.FAILED] for t in self.tables)


class Progress:
    """What the runner reports while it works (the CLI draws bars; tests pass a no-op)."""

    def start_table(self, table: str, pending: int, entity_set: str = "") -> None: ...

    def advance(self, table: str, rows: int, throttle_wait_s: float, sent: int = 0) -> None:
        """A chunk's `rows` are recorded; `sent` of them went to Dataverse (a display that counted their
        requests as they were answered, from the client's events, does not count them twice)."""

    def end_table(self, table: str) -> None: ...


@dataclass(frozen=True)
class PlannedRow:
    action: Decision | None  # None: done before when planned (Dataverse held its values), nothing to send
    payload: dict[str, Any]
    etag: str | None
    record_id: str | None = None
    business_key: str = ""

    @property
    def planned_as(self) -> str:
        return self.action.value if self.action is not None else "done_before"


class PlanDigest:
    """The sha256 of a plan's content, fed piece by piece in the file's order (so `write_plan` can stream a
    million rows and `load_plan` check the parsed file the same way): its head without the digest, then
    per table its name, its entry without the rows, and each row, each as canonical JSON (sorted keys,
    no spaces). Any edit of a value, a row's order, a summary or an option changes it."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()

    def add(self, value: Any) -> None:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        self._sha.update(text.encode("utf-8") + b"\n")

    def hexdigest(self) -> str:
        return DIGEST_PREFIX + self._sha.hexdigest()


def plan_digest(document: dict[str, Any]) -> str:
    """The digest `p2c plan` writes into the plan (`PlanDigest`), of a plan's parsed JSON."""
    digest = PlanDigest()
    digest.add({k: v for k, v in document.items() if k not in ("tables", "digest")})
    tables = document.get("tables")
    for table, entry in (tables if isinstance(tables, dict) else {}).items():
        digest.add(table)
        if not isinstance(entry, dict):
            digest.add(entry)
            continue
        digest.add({k: v for k, v in entry.items() if k != "rows"})
        rows = entry.get("rows")
        for row in rows if isinstance(rows, list) else [rows]:
            digest.add(row)
    return digest.hexdigest()


def seal_plan(document: dict[str, Any]) -> dict[str, Any]:
    """The plan with its digest (re)computed: what `write_plan` produces for the same content."""
    return {**{k: v for k, v in document.items() if k != "digest"}, "digest": plan_digest(document)}


def plan_options(document: Any) -> dict[str, Any]:
    """The options that shaped a plan's decisions (`--leave-read-only`), as `p2c plan` recorded them."""
    options = document.get("options") if isinstance(document, dict) else None
    return options if isinstance(options, dict) else {}


def read_plan(path: Path) -> Any:
    """The plan file's JSON, read once per command (`load_plan` and `plan_tables` take it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read the plan {path}: {error}") from None


def load_plan(
    path: Path,
    environment: str,
    database: str | None = None,
    organization: str | None = None,
    document: Any = None,
    known_tables: Sequence[str] | None = None,
) -> dict[tuple[str, str], PlannedRow]:
    """The rows of a plan file (`document`: its JSON, when read already), checked before anything is read
    or sent: a file that is not a plan, a plan lacking a field of its head, edited after it was written (its
    digest), of another environment or database, holding a table outside `known_tables` or a row twice, or
    a row with an unknown action is a usage error naming the row. Rows done before when planned are
    returned with the action None."""
    if document is None:
        document = read_plan(path)
    if not isinstance(document, dict):
        raise UsageError(
            f"{path} is not a p2c plan (a JSON {type(document).__name__}, not an object)",
            hint="write one with `p2c plan --out FILE`",
        )
    if document.get("format") != PLAN_FORMAT:
        raise UsageError(
            f"{path} is not a p2c plan (format {document.get('format')!r}, expected {PLAN_FORMAT!r})",
            hint="write one with `p2c plan --out FILE`",
        )
    for name, kind in PLAN_FIELDS.items():
        value = document.get(name)
        if not isinstance(value, kind) or (kind is str and not value):
            shape = "an object" if kind is dict else "a text"
            raise UsageError(
                f'{path}: the plan has no "{name}" ({shape}); it is not a plan as `p2c plan` writes it',
                hint="make a new plan with `p2c plan --out FILE` and apply that file unedited",
            )
    if document["digest"] != plan_digest(document):
        raise UsageError(
            f"{path}: the plan was edited after it was written (its content does not match its digest)",
            hint="review and apply a plan as `p2c plan` wrote it: make a new plan with `p2c plan --out FILE`",
        )
    if document.get("environment") != environment:
        raise UsageError(
            f"the plan {path} was made for {document.get('environment')}, not {environment}",
            hint="make a plan for this environment with `p2c plan --env ...`",
        )
    planned_for = document.get("organization_id")
    if organization and planned_for != organization:
        raise UsageError(
            f"the plan {path} was made for the environment at {environment} when it was organization "
            f"{planned_for}; it is organization {organization} now (reset or restored at the same URL)",
            hint="make a new plan of this environment with `p2c plan`",
        )
    made_from = document.get("database")
    if database is not None and made_from != database:
        raise UsageError(
            f"the plan {path} was made from the database {made_from}, not {database}",
            hint="apply it with `--db` of that database, or make a plan of this one with `p2c plan`",
        )
    tables = document["tables"]
    unknown = sorted(str(t) for t in tables if known_tables is not None and t not in known_tables)
    if unknown:
        raise UsageError(
            f"{path}: the plan holds table(s) {', '.join(map(repr, unknown))}, which this build does not "
            f"upload; its tables are {', '.join(sorted(known_tables or ()))}",
            hint="make a new plan of this build with `p2c plan`",
        )
    planned: dict[tuple[str, str], PlannedRow] = {}
    for table, entry in tables.items():
        rows = entry.get("rows") if isinstance(entry, dict) else None
        if not isinstance(rows, list):
            raise UsageError(f'{path}: table {table!r} of the plan has no "rows" list')
        done_before = entry.get("done_before", [])
        if not isinstance(done_before, list) or not all(isinstance(k, str) for k in done_before):
            raise UsageError(f'{path}: table {table!r}: "done_before" is not a list of row keys')
        for key in done_before:
            _plan_once(planned, path, table, key, f"{path}: table {table!r}, done before")
            planned[(table, key)] = PlannedRow(None, {}, None)
        for position, row in enumerate(rows, 1):
            where = f"{path}: table {table!r}, row {position}"
            if not isinstance(row, dict) or not isinstance(row.get("row_key"), str):
                raise UsageError(f'{where}: not a planned row (an object with a "row_key")')
            _plan_once(planned, path, table, row["row_key"], where)
            if row.get("action") not in PLAN_ACTIONS:
                raise UsageError(
                    f"{where} ({row['row_key']}): unknown action {row.get('action')!r};"
                    f" one of {', '.join(sorted(PLAN_ACTIONS))}"
                )
            payload = row.get("payload") or {}
            if not isinstance(payload, dict):
                raise UsageError(f"{where} ({row['row_key']}): the payload is not an object")
            planned[(table, row["row_key"])] = PlannedRow(
                Decision(row["action"]), dict(payload), row.get("etag"), row.get("record_id"),
                str(row.get("business_key") or ""),
            )  # fmt: skip
    return planned


def _plan_once(
    planned: dict[tuple[str, str], PlannedRow], path: Path, table: str, key: str, where: str
) -> None:
    """A row is planned once: a plan holding it twice (two actions, two payloads) says nothing exact."""
    if (table, key) in planned:
        raise UsageError(
            f"{where} ({key}): the plan holds this row twice; it is not a plan as `p2c plan` writes it",
            hint="make a new plan with `p2c plan --out FILE`",
        )


def plan_tables(path: Path, document: Any = None) -> list[str]:
    """The tables a plan file holds, in its order (the file was checked by `load_plan` before)."""
    document = read_plan(path) if document is None else document
    tables = document.get("tables") if isinstance(document, dict) else None
    return [str(table) for table in tables] if isinstance(tables, dict) else []


def planned_rows_gone(
    con: duckdb.DuckDBPyConnection,
    contracts: dict[str, TableContract],
    planned: dict[tuple[str, str], PlannedRow],
    tables: Sequence[str],
) -> list[DroppedRow]:
    """The planned rows of `tables` that are no longer target rows of the build (deleted or re-keyed by a
    new load and build since the plan): nothing is sent for them, and the summary lists them."""
    gone: list[DroppedRow] = []
    for table in tables:
        # a row done before when planned had nothing to send: leaving the build loses nothing
        keys = sorted(key for (name, key), entry in planned.items() if name == table and entry.action)
        if not keys:
            continue
        contract = contracts.get(table)
        present: set[str] = set()
        if contract is not None:
            found = con.execute(
                f"select k from (select {row_key_sql(contract)} as k from {contract.relation.sql_name} t)"
                " where k in (select unnest(?))",
                [keys],
            ).fetchall()
            present = {str(k) for (k,) in found}
        reason = (
            "no longer a target row of the build (deleted or changed by a load and build since the plan)"
            if contract is not None
            else "its table is not a dualwrite table of this build"
        )
        for key in keys:
            if key not in present:
                entry = planned[(table, key)]
                gone.append(
                    DroppedRow(table, key, entry.record_id, entry.business_key, entry.planned_as, reason)
                )
    return gone


class Runner:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        client: DataverseClient,
        contracts: dict[str, TableContract],
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        progress: Progress | None = None,
        live: LiveStatus | None = None,
    ) -> None:
        self.con = con
        self.client = client
        self.contracts = contracts
        self.chunk_rows = chunk_rows
        self.progress = progress or Progress()
        self._held_before = 0.0  # the client's throttled clock when the run started
        self.held_by_results: dict[str, HeldClock] = {}  # per table, from the written requests' results
        self._organization_id: str | None = None  # WhoAmI's, asked once (`_environment_id`)
        self._live = live  # the status file of the current run (`_live_status`), written from sign-in on
        self.identification: Identification | None = None  # `--match` rules (api.py sets them)
        self.record_state = RecordStateGate(client)  # read-only Sales states and who may write them
        ensure_upload_schema(con)
        close_stale_runs(con)

    def tables(self, wanted: Sequence[str]) -> list[TableContract]:
        unknown = sorted(set(wanted) - set(self.contracts))
        if unknown:
            raise UsageError(
                f"unknown table(s) {', '.join(unknown)}; the tables are {', '.join(self.contracts)}"
            )
        return [c for name, c in self.contracts.items() if not wanted or name in wanted]

    def run(
        self,
        command: str,
        wanted: Sequence[str] = (),
        *,
        dry_run: bool = False,
        plan_in: Path | None = None,
        plan_out: Path | None = None,
        plan_document: Any = None,
    ) -> RunSummary:
        """Plan or upload the tables. A service that stays unreachable past the client's outage budget
        (`TransientError` escaping it) ends the run early, not with a traceback: the outcomes recorded so
        far stay, the run is closed as interrupted, and `RunSummary.stopped` says why."""
        environment = self.client.environment_url
        found = database_path(self.con)
        # a plan names its database, so it is not applied to another one
        database = str(found.resolve()) if found else None
        # WhoAmI's OrganizationId: an environment reset or restored at the same URL is another one
        self._organization_id = self._organization_id or self.client.whoami().organization_id
        planned = (
            load_plan(
                plan_in, environment, database, self._organization_id, plan_document, list(self.contracts)
            )
            if plan_in
            else None
        )
        contracts = self.tables(wanted)
        # a plan reads and decides but never writes, and its outcomes never count as done
        writes = command == "upload" and not dry_run
        run_id = start_run(
            self.con,
            command,
            environment,
            [c.table for c in contracts],
            dry_run=not writes,
            plan_file=str(plan_in) if plan_in else None,
        )
        summary = RunSummary(run_id, command, environment, not writes, [], plan_out, plan_in)
        live = self._live_status(run_id, writes)  # "reading", from the run's first request
        self.held_by_results = {c.table: HeldClock() for c in contracts}
        status = RunStatus.FAILED
        started = time.monotonic()
        self._held_before = self.client.throttled_clock_s()
        # every row goes through each run: done or not, it is compared with what Dataverse holds now
        works = [
            _TableWork(c, TableTally(c.table, total=count_rows(self.con, c))) for c in write_order(contracts)
        ]
        # each table's metadata and unique rules, read in dependency order on one thread (the client reads
        # metadata one request at a time anyway) while the tables before it are read and written
        preparing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2c-prepare")
        for work in works:
            work.judging = preparing.submit(self._prepare, work)
        try:
            self._pipeline(run_id, works, writes, planned, summary, collect=plan_out is not None)
            status = RunStatus.COMPLETED
        except (TransientError, KeyboardInterrupt) as error:
            # the client has already retried for its outage budget, or the user pressed Ctrl-C: stop, keep
            # what is done, say so (the summary, then "run the same command again")
            status = RunStatus.INTERRUPTED
            summary.interrupted = isinstance(error, KeyboardInterrupt)
            summary.stopped = (
                self.client.mask(str(error.message))
                if isinstance(error, TransientError)
                else "interrupted (Ctrl-C)"
            )
            for work in works:  # the tables stopped midway, with what they recorded so far
                if work.started > 0 and all(t is not work.tally for t in summary.tables):
                    work.tally.seconds = time.monotonic() - work.started  # their rate, up to the stop
                    summary.tables.append(work.tally)
        finally:
            preparing.shutdown(wait=True, cancel_futures=True)
            if live is not None:
                live.phase("finished" if status is RunStatus.COMPLETED else "stopped")
            order = [c.table for c in contracts]  # reported in the contract's order, whatever the write order
            summary.tables.sort(key=lambda tally: order.index(tally.table))
            summary.seconds = time.monotonic() - started
            self._held_times(summary)
            settled = sorted({run for tally in summary.tables for run in tally.settled_by})
            # kept as the summary shows it (tenths of a second), so `p2c results` does too
            finish_run(self.con, run_id, status, round(summary.throttle_wait_s, 1), settled)
        if planned is not None and summary.stopped is None:
            scope = [c.table for c in contracts]
            if not wanted:
                scope += sorted({table for table, _ in planned} - set(self.contracts))
            summary.dropped = planned_rows_gone(self.con, self.contracts, planned, scope)
        if plan_out is not None and summary.stopped is None:
            by_table = {w.contract.table: w for w in works}
            rows = {c.table: by_table[c.table].plan_rows for c in contracts}
            done = {c.table: by_table[c.table].done_before for c in contracts}
            options = {"leave_read_only": self.record_state.leave_read_only}
            write_plan(plan_out, summary, rows, database, self._organization_id, done, options)
        return summary

    def _held_times(self, summary: RunSummary) -> None:
        """Throttled time as time on the clock (see HeldClock); the request-seconds are kept apart."""
        run_clock = HeldClock()
        for tally in summary.tables:
            tally.throttle_request_s = tally.throttle_wait_s
            clock = self.held_by_results.get(tally.table)
            tally.throttle_wait_s = clock.seconds if clock is not None else 0.0
            for start, stop in clock.intervals() if clock is not None else []:
                run_clock.hold(start, stop - start)
        summary.throttle_request_s = sum(t.throttle_request_s for t in summary.tables)
        # the client's clock knows every hold (reads' too); the requests' results only the writes'
        held = self.client.throttled_clock_s() - self._held_before
        summary.throttle_wait_s = held if held > 0 else run_clock.seconds

    def _prepare(self, work: _TableWork) -> _Judging:
        """A table's preparer, unique rules and read columns (metadata reads); its notes go to its tally."""
        preparer = RowPreparer(self.client, work.contract, self.contracts)
        rules, work.tally.notes = unique_rules(self.client, work.contract)
        preparer.notes = work.tally.notes
        select = sorted({*preparer.read_columns(), *(a for rule in rules for a in rule.attributes)})
        return _Judging(preparer, rules, select)

    def _chunks(
        self, run_id: str, works: list[_TableWork], environment_id: str, writes: bool
    ) -> Iterator[_Chunk]:
        """The chunks of every table, one table after the other in dependency order, each marked with its
        judging and whether it is its table's last (a table without rows yields one empty last chunk)."""
        first_write = True
        for work in works:
            assert work.judging is not None
            try:
                judging = work.judging.result()
            except Exception as error:  # raised in chunk order, after the tables before it are recorded
                yield _Chunk(work, [], last=True, failure=error)
                return
            self._start_table(run_id, work, writes)
            chunks = pending_rows(
                self.con, work.contract, self.contracts, environment_id, run_id, self.chunk_rows
            )
            current = next(chunks, None)
            if current is None:
                yield _Chunk(work, [], last=True, judging=judging)
            elif first_write:
                # the run's first write waits for its chunk's reads and uniqueness checks: a small first
                # piece sends it sooner, while the service's budget is still fresh (the rest follows in order)
                first_write = False
                if len(current) > FIRST_PIECE_ROWS:
                    yield _Chunk(work, current[:FIRST_PIECE_ROWS], last=False, judging=judging)
                    current = current[FIRST_PIECE_ROWS:]
            while current is not None:
                following = next(chunks, None)
                yield _Chunk(work, current, last=following is None, judging=judging)
                current = following

    def _pipeline(
        self,
        run_id: str,
        works: list[_TableWork],
        writes: bool,
        planned: dict[tuple[str, str], PlannedRow] | None,
        summary: RunSummary,
        *,
        collect: bool,
    ) -> None:
        """Three stages over the chunks of every table, so that the connection never idles at a chunk's
        edge nor at a table's: the next chunk is prepared and its current records read (`ahead`) while up
        to CHUNKS_WRITTEN_AT_ONCE chunks are written (`writer`), whichever tables they belong to, and the
        oldest chunk's outcomes are recorded here, in chunk order, on this thread's DuckDB connection; a
        table ends (its tally complete, in `summary.tables`) when its last chunk is recorded."""
        environment_id = self._environment_id(run_id)
        intents = IntentLog(self.con) if writes else None
        chunks = self._chunks(run_id, works, environment_id, writes)
        ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2c-ahead")
        writer = ThreadPoolExecutor(max_workers=CHUNKS_WRITTEN_AT_ONCE, thread_name_prefix="p2c-write")
        written: deque[tuple[_Chunk, list[Judged], Future[tuple[list[Outcome | None], float]]]] = deque()

        def judge(chunk: _Chunk | None) -> Future[list[Judged]] | None:
            if chunk is None or chunk.failure is not None or chunk.judging is None:
                return None
            return ahead.submit(self._judge, chunk.judging, chunk.rows)

        try:
            chunk = next(chunks, None)
            judging = judge(chunk)
            while chunk is not None:
                if chunk.failure is not None:
                    # a table whose metadata could not be read: the tables before it end first, as they
                    # would have one table at a time
                    while written:
                        self._record(run_id, *written.popleft(), writes, summary, collect=collect)
                    raise chunk.failure
                assert judging is not None
                judged = judging.result()
                current, chunk = chunk, next(chunks, None)
                judging = judge(chunk)
                acting = writer.submit(
                    self._act, current.work.contract, judged, writes, planned, run_id, intents
                )
                written.append((current, judged, acting))
                while written and (len(written) >= CHUNKS_WRITTEN_AT_ONCE or chunk is None):
                    self._record(run_id, *written.popleft(), writes, summary, collect=collect)
        except BaseException:
            # a stop (an outage past the budget, Ctrl-C): the chunks Dataverse has answered are recorded, so
            # the results say this run wrote them; only what is still unanswered is left to the intents,
            # settled by the next run. The writes under way end first (their requests are not cut off).
            ahead.shutdown(wait=False, cancel_futures=True)
            writer.shutdown(wait=True, cancel_futures=True)
            for entry in written:
                acting = entry[2]
                if acting.done() and not acting.cancelled() and acting.exception() is None:
                    self._record(run_id, *entry, writes, summary, collect=collect, ends=False)
            raise
        finally:
            ahead.shutdown(wait=True, cancel_futures=True)
            writer.shutdown(wait=True, cancel_futures=True)
            if intents is not None:
                intents.close()

    def _start_table(self, run_id: str, work: _TableWork, writes: bool) -> None:
        work.started = time.monotonic()
        live = self._live_status(run_id, writes)
        if live is not None:
            live.phase("writing" if writes else "reading")
            live.start_table(work.contract.table, work.tally.total)
        self.progress.start_table(work.contract.table, work.tally.total, work.contract.entity_set)

    def _record(
        self,
        run_id: str,
        chunk: _Chunk,
        judged: list[Judged],
        acting: Future[tuple[list[Outcome | None], float]],
        writes: bool,
        summary: RunSummary,
        *,
        collect: bool,
        ends: bool = True,
    ) -> None:
        """One chunk's outcomes, once all its writes have answered, into `upload.results` and its table's
        tally; the table ends with its last chunk (unless the run is stopping: `ends` False)."""
        work, tally = chunk.work, chunk.work.tally
        outcomes, throttle = acting.result()
        record_outcomes(self.con, run_id, [o for o in outcomes if o is not None], settles=writes)
        for item, outcome in zip(judged, outcomes, strict=True):
            if not writes and item.prepared.row.intent_run:
                tally.to_settle[item.prepared.row.intent_run] += 1
            if outcome is None:  # done before, and Dataverse still holds its values
                tally.already_done += 1
                if collect:
                    work.done_before.append(item.prepared.row.row_key)
                continue
            tally.count(item, outcome)
            if collect:
                work.plan_rows.append(_plan_row(item))
        tally.throttle_wait_s += throttle
        if judged:
            live = self._live_status(run_id, writes)
            if live is not None:
                live.chunk(work.contract.table, outcomes)
            sent = sum(1 for o in outcomes if o is not None and o.method and o.method != WriteMethod.NOT_SENT)
            self.progress.advance(work.contract.table, len(judged), throttle, sent)
        if chunk.last and ends:
            if writes:
                drop_stale_intents(self.con, work.contract.table, run_id)
            tally.seconds = time.monotonic() - work.started
            self.progress.end_table(work.contract.table)
            summary.tables.append(tally)

    def _environment_id(self, run_id: str) -> str:
        """The identity of the environment "done" is recorded for: WhoAmI's OrganizationId (an environment
        reset or restored at the same URL has another), asked once per runner; kept with the run."""
        if self._organization_id is None:
            self._organization_id = self.client.whoami().organization_id
        record_run_environment(self.con, run_id, self._organization_id)
        return environment_identity(self.client.environment_url, self._organization_id)

    def _live_status(self, run_id: str, writes: bool) -> LiveStatus | None:
        """The status file other processes read while this run holds the database (one per run)."""
        if self._live is None:
            db_path = database_path(self.con)
            if db_path is None:
                return None
            self._live = LiveStatus(status_path(db_path), None, self.client.environment_url, writes)
            if getattr(self.progress, "live", False) is None:  # a RunWatch: the service's state too
                self.progress.live = self._live  # type: ignore[attr-defined]
        if self._live.head["run_id"] != run_id:
            self._live.begin(run_id, writes)
        return self._live

    def _judge(self, judging: _Judging, chunk: list[TargetRow]) -> list[Judged]:
        preparer, select, rules = judging.preparer, judging.select, judging.rules
        if self.identification is not None:  # rows without a record id, by the --match columns
            self.identification.attach(preparer)
        prepared = [preparer.prepare(row) for row in chunk]
        ids = [p.record_id for p in prepared if p.record_id and not p.problem]
        current = self._read_current(preparer, ids, select)
        judged = []
        for item in prepared:
            record = current.get(item.record_id or "")
            etag = record.get("@odata.etag") if record else None
            as_record = Record(item.record_id or "", record, str(etag) if etag else None) if record else None
            judged.append(preparer.judge(item, as_record))
        self.record_state.apply(preparer.contract.table, judged, current, preparer.notes)
        self._refuse_collisions(preparer, rules, judged, current)
        return judged

    def _refuse_collisions(
        self,
        preparer: RowPreparer,
        rules: list[UniqueRule],
        judged: list[Judged],
        current: dict[str, Any],
    ) -> None:
        """Updates that would give a record another record's key or party number become conflicts."""
        updates = [item for item in judged if item.decision in SENDABLE and item.prepared.record_id]
        rows = [
            (
                str(item.prepared.record_id),
                {**current.get(str(item.prepared.record_id), {}), **item.prepared.desired},
                set(item.changes),
            )
            for item in updates
        ]
        if not rules or not rows:
            return
        entity = preparer.entity
        collisions = self._find_collisions(
            entity.entity_set_name, entity.primary_id_attribute, rules, rows, preparer.notes
        )
        for item in updates:
            collision = collisions.get(str(item.prepared.record_id))
            if collision is None:
                continue
            item.decision, item.code = Decision.CONFLICT, collision.rule.code
            item.reason = (
                f"{collision.rule.describe(collision.values)} is already used by {entity.logical_name} "
                f"{collision.other_id}; the update would fail (or link two records to one party): not sent"
            )

    def _find_collisions(
        self,
        entity_set: str,
        id_column: str,
        rules: list[UniqueRule],
        rows: list[tuple[str, dict[str, Any], set[str]]],
        notes: list[str],
    ) -> dict[str, Collision]:
        """`find_collisions` over parts of the rows, READ_PARALLELISM queries in flight (one after the other,
        a chunk's checks took longer than its writes, and the pipeline waited for them at each table's
        start). Each part holds whole queries' worth of rows, so the number of queries stays the same; a
        record's rules are still checked in their order, within its part."""
        per_part = ROWS_PER_QUERY * max(1, math.ceil(len(rows) / (ROWS_PER_QUERY * READ_PARALLELISM)))
        parts = [rows[start : start + per_part] for start in range(0, len(rows), per_part)]
        part_notes: list[list[str]] = [list(notes) for _ in parts]
        found: dict[str, Collision] = {}
        with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="p2c-unique") as pool:
            checks = [
                pool.submit(find_collisions, self.client, entity_set, id_column, rules, part, part_note)
                for part, part_note in zip(parts, part_notes, strict=True)
            ]
            for check in checks:
                found.update(check.result())
        for note in (n for part_note in part_notes for n in part_note):
            if note not in notes:
                notes.append(note)
        return found

    def _read_current(self, preparer: RowPreparer, ids: list[str], select: list[str]) -> dict[str, Any]:
        """The current records, `ids_per_query` ids per request, several requests in flight (a chunk's reads
        would otherwise cost as much wall time as its writes)."""
        entity = preparer.entity
        step = self.client.options.ids_per_query
        groups = [ids[start : start + step] for start in range(0, len(ids), step)]
        if not groups:
            return {}
        found: dict[str, Any] = {}
        workers = max(1, min(len(groups), READ_PARALLELISM))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="p2c-read") as pool:
            for part in pool.map(
                lambda group: self.client.get_many(
                    entity.entity_set_name, entity.primary_id_attribute, group, select
                ),
                groups,
            ):
                found.update(part)
        return found

    def _act(
        self,
        contract: TableContract,
        judged: list[Judged],
        writes: bool,
        planned: dict[tuple[str, str], PlannedRow] | None,
        run_id: str = "",
        intents: IntentLog | None = None,
    ) -> tuple[list[Outcome | None], float]:
        """Each row's outcome (None: done before, nothing to record); the updates sent, their intents
        committed first."""
        outcomes: list[Outcome | None] = [None] * len(judged)
        to_send: list[tuple[int, UpdateRow]] = []
        for index, item in enumerate(judged):
            row = item.prepared.row
            if item.done_before:
                continue
            if item.settled_run and writes:
                outcomes[index] = _settled(item)
                continue
            if_match = "*"
            if planned is not None:
                entry = planned.get((contract.table, row.row_key))
                outcome = _against_plan(item, entry)
                if outcome is not None:
                    outcomes[index] = outcome
                    continue
                if entry is not None and entry.etag:
                    if_match = entry.etag  # the reviewed update, on the record as the plan read it
                    if not writes and item.decision in SENDABLE and item.etag and item.etag != entry.etag:
                        # what the upload of the plan would meet: its If-Match refused (412); a record that
                        # already holds the planned values is not sent at all (unchanged), as the upload says
                        outcomes[index] = _outcome(
                            item,
                            OutcomeStatus.FAILED,
                            "the record changed in Dataverse since the plan: the upload of this plan would "
                            "not write it (412); make a new plan (`p2c plan`)",
                            RECORD_CHANGED,
                        )
                        continue
            if item.decision is Decision.UNCHANGED:
                outcomes[index] = _outcome(item, OutcomeStatus.UNCHANGED, "already initialized")
            elif item.decision not in SENDABLE:
                outcomes[index] = _outcome(item, OutcomeStatus.FAILED, item.reason, item.code)
            elif not writes:
                changed = ", ".join(sorted(item.changes))
                outcomes[index] = _outcome(item, OutcomeStatus.SKIPPED, f"would update {changed}", item.code)
            else:
                record_id = item.prepared.record_id or ""
                writers = self.record_state.writers_of(record_id)  # a read-only row: only who may write it
                to_send.append((index, UpdateRow(record_id, item.payload, if_match, writers)))
        throttle = 0.0
        if to_send:
            if intents is not None:
                # committed before the first request leaves: a run killed now is settled by the next one
                intents.add(
                    run_id,
                    contract.table,
                    [
                        (judged[i].prepared.row.row_key, row.record_id, judged[i].prepared.values_hash)
                        for i, row in to_send
                    ],
                )
            results = self.client.update_many(contract.table, [row for _, row in to_send])
            requests: dict[tuple[Any, ...], float] = {}
            for (index, sent), result in zip(to_send, results, strict=True):
                outcomes[index] = _written(judged[index], result, sent.if_match)
                # the rows of one bulk request all carry that request's wait: count it once
                request = (result.user, result.method, result.started_at, result.finished_at)
                requests[request] = result.throttle_wait_s
            throttle = sum(requests.values())
            clock = self.held_by_results.setdefault(contract.table, HeldClock())
            for (_, _, request_started, _), wait in requests.items():
                clock.hold(request_started.timestamp(), wait)
            self.record_state.verify(contract.entity_set, contract.table, judged, outcomes)
        missing = [i for i, o in enumerate(outcomes) if o is None and not judged[i].done_before]
        assert not missing, missing
        return outcomes, throttle


def write_order(contracts: Sequence[TableContract]) -> list[TableContract]:
    """The tables in the order their rows are sent: those whose writes may be read back (records in a
    read-only state, written by an admin: `RecordStateGate.verify`) first, the others after them. Updates by
    record id need no order between tables (every record and lookup target exists), and the last writes of
    a run leave the service's execution budget spent: a read-back after them would wait seconds for it,
    where the writes of the tables that follow hide it."""
    read_back = [c for c in contracts if c.table in READ_ONLY_STATE_TABLES]
    return read_back + [c for c in contracts if c.table not in READ_ONLY_STATE_TABLES]


def _outcome(item: Judged, status: OutcomeStatus, message: str, code: str = "") -> Outcome:
    row = item.prepared.row
    moment = now()
    return Outcome(
        table_name=row.table,
        row_key=row.row_key,
        record_id=item.prepared.record_id,
        business_key=row.business_key,
        company=row.company,
        status=status,
        error_code=code,
        message=item.prepared.identity_note(message),
        started_at=moment,
        finished_at=moment,
        values_hash=item.prepared.values_hash,
    )


def _against_plan(item: Judged, entry: PlannedRow | None) -> Outcome | None:
    """The outcome of a row the applied plan decides before anything is sent, or None when the row is the
    plan's update (sent with the plan's ETag) or is decided as without a plan (unchanged, or failed with
    its own reason and code: what the plan foresaw, or what changed since)."""
    if entry is None:
        return _outcome(
            item, OutcomeStatus.SKIPPED, "not in the applied plan: not sent, still to do", NOT_IN_PLAN
        )
    now_id = item.prepared.record_id
    if entry.record_id and now_id and entry.record_id != now_id and item.prepared.identity is None:
        # the reviewed row is another record than the one DuckDB's row names: neither is written
        return _outcome(
            item,
            OutcomeStatus.FAILED,
            f"the plan names record {entry.record_id} for this row, DuckDB's row names {now_id}: not sent;"
            " make a new plan (`p2c plan`)",
            PLAN_ROW_CHANGED,
        )
    if item.decision not in SENDABLE:
        return None
    if entry.action not in SENDABLE:
        return _outcome(
            item,
            OutcomeStatus.FAILED,
            f"the plan had it {entry.planned_as.replace('_', ' ')}, it is an update of "
            f"{', '.join(sorted(item.changes)) or 'its values'} now: not sent; make a new plan (`p2c plan`)",
            PLAN_OUTDATED,
        )
    if entry.payload != item.payload:
        return _outcome(
            item,
            OutcomeStatus.FAILED,
            "the row changed in DuckDB since the plan: not sent; make a new plan (`p2c plan`)",
            PLAN_ROW_CHANGED,
        )
    return None


def _settled(item: Judged) -> Outcome:
    """A write the killed run `item.settled_run` had in flight: Dataverse holds its values, so it is that
    run's update (its answer was lost with the process), read back by this run."""
    outcome = _outcome(
        item,
        OutcomeStatus.UPDATED,
        f"updated by the interrupted run {item.settled_run}: its answer was lost when it stopped; "
        "read back from Dataverse, which holds these values",
    )
    outcome.run_id = item.settled_run or ""
    outcome.columns_written = tuple(sorted(item.prepared.desired))
    return outcome


def _failure(item: Judged, result: RowResult, if_match: str) -> tuple[str, str]:
    """The code and message of a failed write, by Dataverse's error code: a 412 is "the record changed since
    the plan" only for a failed ETag precondition of a plan's row; a refused key says so."""
    code, message = result.error_code, result.message
    if result.http_status != 412:
        return code, message
    by_etag = if_match.strip() != "*"
    version_mismatch = code.lower() == CONCURRENCY_VERSION_MISMATCH or (
        not code and "version" in message.lower()
    )
    if by_etag and version_mismatch:
        return RECORD_CHANGED, f"the record changed in Dataverse since the plan: {message}"
    duplicate = DUPLICATE_KEY_CODES.get(code.lower())
    if duplicate is not None:
        return code, f"Dataverse refused a duplicate key ({duplicate}): {message}"
    return code, message


def _written(item: Judged, result: RowResult, if_match: str = "*") -> Outcome:
    row = item.prepared.row
    failed = not result.ok
    if failed:
        code, message = _failure(item, result, if_match)
    else:
        code, message = item.code, f"updated {', '.join(sorted(item.changes or item.payload))}"
        if item.decision is Decision.DONE_BUT_DIFFERS:
            message = f"sent again ({item.reason.removesuffix(': sent again')}): {message}"
    return Outcome(
        table_name=row.table,
        row_key=row.row_key,
        record_id=result.record_id,
        business_key=row.business_key,
        company=row.company,
        status=OutcomeStatus.FAILED if failed else OutcomeStatus.UPDATED,
        http_status=result.http_status,
        error_code=code,
        message=item.prepared.identity_note(message),
        attempts=result.attempts,
        method=str(result.method),
        app_user=result.user,
        columns_written=tuple(sorted(item.payload)),
        started_at=result.started_at,
        finished_at=result.finished_at,
        values_hash=item.prepared.values_hash,
        retryable=bool(failed and result.retryable),
    )


def _plan_row(item: Judged) -> dict[str, Any]:
    row = item.prepared.row
    return {
        "row_key": row.row_key,
        "record_id": item.prepared.record_id,
        "business_key": row.business_key,
        "company": row.company,
        "action": item.decision.value,
        "reason": item.reason,
        "code": item.code,
        "etag": item.etag,
        "changes": {k: {"current": old, "new": new} for k, (old, new) in sorted(item.changes.items())},
        "payload": item.payload,
        **({"identified_by": item.prepared.identity.as_plan()} if item.prepared.identity else {}),
    }


def write_plan(
    path: Path,
    summary: RunSummary,
    rows: dict[str, list[dict[str, Any]]],
    database: str | None = None,
    organization: str | None = None,
    done_before: dict[str, list[str]] | None = None,
    options: dict[str, Any] | None = None,
) -> None:
    """The plan as JSON, one table after the other; streamed so a million rows do not sit in one string.
    It names its environment, organization and database (`upload --plan` refuses it for any other), the
    options that shaped its decisions, per table the rows done before (their keys) and the rows decided,
    and ends with the digest of all that (`PlanDigest`): `upload --plan` refuses a plan edited since."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tallies = {t.table: t for t in summary.tables}
    digest = PlanDigest()
    with path.open("w", encoding="utf-8") as out:
        head = {
            "format": PLAN_FORMAT,
            "run_id": summary.run_id,
            "environment": summary.environment,
            "organization_id": organization,
            "database": database,
            "options": options or {},
        }
        digest.add(head)
        out.write(json.dumps(head)[:-1] + ', "tables": {')
        for position, (table, table_rows) in enumerate(rows.items()):
            tally = tallies[table]
            counts = {d.value: tally.by_decision.get(d, 0) for d in Decision}
            entry = {
                "summary": {**counts, "already_done": tally.already_done, "rows": tally.total},
                "notes": tally.notes,
                "done_before": (done_before or {}).get(table, []),
            }
            digest.add(table)
            digest.add(entry)
            out.write(("," if position else "") + f"\n{json.dumps(table)}: " + json.dumps(entry)[:-1])
            out.write(', "rows": [')
            for index, row in enumerate(table_rows):
                text = json.dumps(row, default=str)
                digest.add(json.loads(text))  # as `upload --plan` will read it back
                out.write(("," if index else "") + "\n" + text)
            out.write("]}")
        out.write(f"\n}}, {json.dumps('digest')}: {json.dumps(digest.hexdigest())}}}\n")
