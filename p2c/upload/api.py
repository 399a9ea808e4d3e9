"""`plan` and `upload` as a Python API with typed results, usable without the command line (the CLI only
parses options, renders these results with p2c/upload/render.py and picks the exit code).

    from p2c.upload import api
    result = api.plan(Path("p2c.duckdb"), "https://contoso.crm4.dynamics.com", out=Path("plan.json"))
    result.tables["account"].update          # rows the upload would update
    applied = api.upload(Path("p2c.duckdb"), plan_file=Path("plan.json"))
    applied.stopped, applied.failed, applied.dropped

Every usage mistake (an --out that cannot be written, a plan file that is not a plan of this database and
environment) is raised as p2c.errors.UsageError before anything is read or sent; a database whose last build
did not succeed, or was loaded after it, is refused (`allow_unverified` overrides it)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2c.dataverse.client import ENVIRONMENT_URL_VARIABLE, normalize_environment_url
from p2c.errors import P2CError, UsageError
from p2c.upload.matching import Identification, MatchRule, check_rules, parse_match, plan_identities
from p2c.upload.prepare import Decision
from p2c.upload.progress import RunWatch
from p2c.upload.runner import (
    DroppedRow,
    RunSummary,
    TableTally,
    load_plan,
    plan_options,
    plan_tables,
    planned_rows_gone,
    read_plan,
)
from p2c.upload.session import ConnectionSettings, Session, client_options, open_session
from p2c.upload.store import OutcomeStatus, intents_in_flight


@dataclass(frozen=True)
class PlanTable:
    """What an upload of one table would do, row by row decided against the current records."""

    table: str
    rows: int
    already_done: int
    update: int
    unchanged: int
    not_found: int
    conflict: int
    cannot_write: int
    done_but_differs: int  # recorded done, but Dataverse no longer holds those values: to be sent again
    notes: tuple[str, ...]
    read_only: int = 0  # in a state the caller may not write (or --leave-read-only): not sent

    @classmethod
    def of(cls, tally: TableTally) -> PlanTable:
        decided = tally.by_decision
        return cls(
            tally.table,
            tally.total,
            tally.already_done,
            decided[Decision.UPDATE],
            decided[Decision.UNCHANGED],
            decided[Decision.NOT_FOUND],
            decided[Decision.CONFLICT],
            decided[Decision.CANNOT_WRITE],
            decided[Decision.DONE_BUT_DIFFERS],
            tuple(tally.notes),
            decided[Decision.READ_ONLY],
        )


@dataclass(frozen=True)
class UploadTable:
    """What an upload did to one table (a dry run: what it would have done, `would_update`)."""

    table: str
    rows: int
    already_done: int
    updated: int
    would_update: int  # a dry run: rows it would have sent
    done_but_differs: int  # of the (would be) updated: done before, changed in Dataverse since, sent again
    settled: int  # written by an interrupted run, confirmed now by reading them back (not this run's update)
    unchanged: int
    failed: int
    not_found: int  # of the failed: the kinds decided before any write
    conflict: int
    cannot_write: int
    plan_outdated: int  # of the failed: an update now, which the applied plan did not review
    write_failed: int  # of the failed: refused by Dataverse (or changed since the plan)
    not_in_plan: int  # target rows the applied plan does not hold: not sent, still to do
    skipped: int  # not sent on purpose: would be updated (a dry run) or not in the applied plan
    rows_per_s: int
    throttled_s: float  # on the clock, with at least one request of this table held
    throttle_request_s: float  # the holds of its requests added up (concurrent holds count each)
    notes: tuple[str, ...]
    read_only: int = 0  # of the failed: in a state the caller may not write, never sent

    @classmethod
    def of(cls, tally: TableTally, dry_run: bool) -> UploadTable:
        status, decided = tally.by_status, tally.by_decision
        failed = status[OutcomeStatus.FAILED]
        before_write = (
            decided[Decision.NOT_FOUND]
            + decided[Decision.CONFLICT]
            + decided[Decision.CANNOT_WRITE]
            + decided[Decision.READ_ONLY]
        )
        processed = tally.gone_through - tally.already_done  # a stopped table: the rows it went through
        return cls(
            table=tally.table,
            rows=tally.total,
            already_done=tally.already_done,
            updated=status[OutcomeStatus.UPDATED],
            would_update=status[OutcomeStatus.SKIPPED] if dry_run else 0,
            done_but_differs=decided[Decision.DONE_BUT_DIFFERS],
            settled=sum(tally.settled_by.values()),
            unchanged=status[OutcomeStatus.UNCHANGED],
            failed=failed,
            not_found=decided[Decision.NOT_FOUND],
            conflict=decided[Decision.CONFLICT],
            cannot_write=decided[Decision.CANNOT_WRITE],
            plan_outdated=tally.plan_outdated,
            write_failed=max(0, failed - before_write - tally.plan_outdated),
            not_in_plan=tally.not_in_plan,
            # a dry run's would-be updates are recorded as skipped: counted once, as would_update
            skipped=(0 if dry_run else status[OutcomeStatus.SKIPPED]) + tally.not_in_plan,
            rows_per_s=round(processed / tally.seconds) if tally.seconds > 0 else 0,
            throttled_s=round(tally.throttle_wait_s, 1),
            throttle_request_s=round(tally.throttle_request_s, 1),
            notes=tuple(tally.notes),
            read_only=decided[Decision.READ_ONLY],
        )


@dataclass(frozen=True)
class RunFacts:
    """What plan and upload results share."""

    run_id: str
    environment: str
    seconds: float
    throttled_s: float  # time on the clock during which at least one request was held
    throttle_request_s: float  # the holds of all requests added up (several run at once)
    build_problems: tuple[str, ...]  # accepted with allow_unverified: the build does not vouch for the rows
    stopped: str | None  # why the run stopped early (the service unreachable); None when it ran through
    interrupted: bool  # stopped by Ctrl-C

    @classmethod
    def of(cls, summary: RunSummary, build_problems: Sequence[str]) -> RunFacts:
        return cls(
            summary.run_id,
            summary.environment,
            round(summary.seconds, 1),
            round(summary.throttle_wait_s, 1),
            round(summary.throttle_request_s, 1),
            tuple(build_problems),
            summary.stopped,
            summary.interrupted,
        )


@dataclass(frozen=True)
class PlanResult:
    run: RunFacts
    plan_path: Path
    tables: dict[str, PlanTable] = field(default_factory=dict)
    # per interrupted run: its writes in flight, which the next upload settles (a plan settles nothing)
    to_settle: dict[str, int] = field(default_factory=dict)

    @property
    def would_fail(self) -> int:
        """Rows the upload of this plan would fail: not found, conflicts, cannot write, read-only."""
        return sum(t.not_found + t.conflict + t.cannot_write + t.read_only for t in self.tables.values())


@dataclass(frozen=True)
class UploadResult:
    run: RunFacts
    dry_run: bool
    plan_file: Path | None
    tables: dict[str, UploadTable] = field(default_factory=dict)
    dropped: tuple[DroppedRow, ...] = ()  # rows of the applied plan that are no longer in the build
    # a stopped run: rows whose writes were in flight (intents committed, no answer recorded)
    in_flight: int = 0
    settled: dict[str, int] = field(default_factory=dict)  # per interrupted run: its writes read back
    to_settle: dict[str, int] = field(default_factory=dict)  # a dry run: left for the next upload to settle

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.tables.values())

    @property
    def left_out(self) -> int:
        """Target rows the applied plan does not hold: not sent, still to do."""
        return sum(t.not_in_plan for t in self.tables.values())


def plan(
    db_path: Path,
    environment: str | None = None,
    *,
    out: Path,
    tables: Sequence[str] = (),
    device_code: bool = False,
    allow_unverified: bool = False,
    watch: RunWatch | None = None,
    match: Sequence[str] = (),
    leave_read_only: bool = False,
) -> PlanResult:
    """Read the current records by id and decide each row; write the plan to `out`. Never writes.
    `match`: `TABLE=COLUMN[,COLUMN...]` rules identifying the rows exported without a record id
    (p2c/upload/matching.py); the plan records how each row was identified."""
    check_environment_url(environment)
    check_plan_out(out)
    rules = parse_match(match)
    options = client_options(ConnectionSettings(), read_only=True)
    with open_session(
        db_path, environment, options, device_code=device_code, allow_unverified=allow_unverified, watch=watch
    ) as session:
        use_match_rules(session, rules)
        session.runner.record_state.leave_read_only = leave_read_only
        summary = session.runner.run("plan", tables, plan_out=out)
        problems = session.build_problems
    return PlanResult(
        RunFacts.of(summary, problems),
        out,
        {t.table: PlanTable.of(t) for t in summary.tables},
        _per_run(summary, "to_settle"),
    )


def upload(
    db_path: Path,
    environment: str | None = None,
    *,
    tables: Sequence[str] = (),
    plan_file: Path | None = None,
    dry_run: bool = False,
    settings: ConnectionSettings | None = None,
    allow_unverified: bool = False,
    watch: RunWatch | None = None,
    match: Sequence[str] = (),
) -> UploadResult:
    """Update the existing records by id (or, `dry_run`, decide everything and send nothing: the client is
    then read-only, so no code path can write). `match` as for `plan`; with a plan, its rules are the
    plan's (a different rule for one of its tables is a usage error)."""
    check_environment_url(environment)
    settings = settings or ConnectionSettings()
    options = client_options(settings, read_only=dry_run)
    rules = parse_match(match)
    planned: dict[tuple[str, str], str] = {}
    document = read_plan(plan_file) if plan_file is not None else None  # read once, for every use below
    leave_read_only = settings.leave_read_only
    if plan_file is not None:
        check_plan_file(plan_file, db_path, environment, document)
        rules, planned = _with_plan_rules(rules, plan_file, document)
        leave_read_only = _with_plan_options(leave_read_only, plan_file, document)
    with open_session(
        db_path,
        environment,
        options,
        device_code=settings.device_code,
        allow_unverified=allow_unverified,
        watch=watch,
    ) as session:
        use_match_rules(session, rules, planned)
        session.runner.record_state.leave_read_only = leave_read_only
        scope, elsewhere = _plan_scope(session, plan_file, tables, document)
        summary = session.runner.run(
            "upload", scope, dry_run=dry_run, plan_in=plan_file, plan_document=document
        )
        if elsewhere and plan_file is not None and summary.stopped is None:
            summary.dropped += planned_rows_gone(
                session.con,
                session.contracts,
                load_plan(plan_file, session.client.environment_url, document=document),
                elsewhere,
            )
        problems = session.build_problems
        in_flight = intents_in_flight(session.con, summary.run_id) if summary.stopped else 0
    return UploadResult(
        RunFacts.of(summary, problems),
        summary.dry_run,
        plan_file,
        {t.table: UploadTable.of(t, summary.dry_run) for t in summary.tables},
        tuple(summary.dropped),
        in_flight,
        _per_run(summary, "settled_by"),
        _per_run(summary, "to_settle"),
    )


def _per_run(summary: RunSummary, counter: str) -> dict[str, int]:
    """A per-run counter of the tallies (`settled_by`, `to_settle`) over every table."""
    total: Counter[str] = Counter()
    for tally in summary.tables:
        total.update(getattr(tally, counter))
    return dict(total)


def _plan_scope(
    session: Session, plan_file: Path | None, tables: Sequence[str], document: Any = None
) -> tuple[Sequence[str], list[str]]:
    """The tables an upload goes through: those asked for, else an applied plan's (a plan made for
    `--table account` applies to accounts, it leaves no contact out); and the plan's tables that are no
    longer dualwrite tables of the build, whose rows are reported as gone."""
    if plan_file is None or tables:
        return tables, []
    in_plan = plan_tables(plan_file, document)
    known = [t for t in in_plan if t in session.contracts]
    return (known or in_plan), [t for t in in_plan if t not in session.contracts] if known else []


def use_match_rules(
    session: Session, rules: dict[str, MatchRule], planned: dict[tuple[str, str], str] | None = None
) -> None:
    """Check the `--match` rules against the build's contracts and the environment's metadata (a usage
    error before any row is read) and hand them to the runner."""
    if rules:
        columns = check_rules(rules, session.contracts, session.client)
        session.runner.identification = Identification(
            session.con, session.client, session.contracts, rules, columns, planned
        )


def _with_plan_rules(
    rules: dict[str, MatchRule], plan_file: Path, document: Any = None
) -> tuple[dict[str, MatchRule], dict[tuple[str, str], str]]:
    """The plan's `--match` rules (and the record each of its identified rows was given), with the ones
    given now for other tables; the same table by another rule is a usage error."""
    in_plan, planned = plan_identities(plan_file, document)
    for table, rule in in_plan.items():
        given = rules.get(table)
        if given is not None and given != rule:
            raise UsageError(
                f"--match {given}: the plan {plan_file} identified {table} rows by --match {rule}",
                hint="apply the plan as it is (its rules are used), or make a new plan with this rule",
            )
    return {**rules, **in_plan}, planned


def _with_plan_options(leave_read_only: bool, plan_file: Path, document: Any) -> bool:
    """`--leave-read-only` as the plan was made: its read-only rows were decided with it (or without it),
    so applying it otherwise would make them all "outdated". Given now for a plan made without it, the two
    contradict: a usage error before any work."""
    planned = bool(plan_options(document).get("leave_read_only", False))
    if leave_read_only and not planned:
        raise UsageError(
            f"--leave-read-only: the plan {plan_file} was made without it (its read-only records are planned"
            " as updates)",
            hint="apply the plan without it, or make a new plan with `p2c plan --leave-read-only`",
        )
    return planned


def check_environment_url(environment: str | None) -> None:
    """An environment URL is given (--env) or set ($P2C_DATAVERSE_URL): said before anything is opened."""
    if not (environment or os.environ.get(ENVIRONMENT_URL_VARIABLE, "")):
        raise UsageError(
            "no Dataverse environment URL",
            hint=f"give it with --env https://<org>.crm.dynamics.com, or set ${ENVIRONMENT_URL_VARIABLE}",
        )


def check_plan_out(out: Path) -> None:
    """--out names a file we can write, checked before the plan reads anything."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder: give the plan's file name, e.g. {out / 'plan.json'}")
    folder = out.parent if str(out.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {out}: {folder} is a file, not a folder")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"--out {out}: cannot write there (permission denied)")


def check_plan_file(plan_file: Path, db_path: Path, environment: str | None, document: Any = None) -> None:
    """The plan is a plan of this database and environment, every row with a known action: checked before
    the database is opened or Dataverse asked (the runner reads it again when it applies it)."""
    url = environment or os.environ.get(ENVIRONMENT_URL_VARIABLE, "")
    if not url:
        return  # the session says that the environment is missing
    try:
        load_plan(plan_file, normalize_environment_url(url), str(db_path.resolve()), document=document)
    except UsageError:
        raise
    except P2CError as error:
        raise UsageError(error.message, hint=error.hint) from None
