"""How the results of `p2c plan` and `p2c upload` are printed: the table (or JSON/CSV) on stdout, notes and
what to do next on stderr. The API (p2c/upload/api.py) computes; this only shows."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console

from p2c.output import Column, OutputFormat, emit_json, render_rows
from p2c.upload.api import PlanResult, RunFacts, UploadResult

PLAN_COLUMNS = (
    Column("table"),
    Column("rows", numeric=True),
    Column("already_done", "done before", numeric=True),
    Column("update", "to update", numeric=True),
    Column("unchanged", numeric=True),
    Column("not_found", "not found", numeric=True),
    Column("conflict", "conflicts", numeric=True),
    Column("cannot_write", "cannot write", numeric=True),
    Column("done_but_differs", "done, differs", numeric=True),  # done before, changed in Dataverse since
    Column("read_only", "read-only", numeric=True),
)

_FAILED_BY_KIND = (
    Column("failed", numeric=True),
    Column("not_found", "not found", numeric=True),
    Column("conflict", "conflicts", numeric=True),
    Column("cannot_write", "cannot write", numeric=True),
    Column("read_only", "read-only", numeric=True),
    Column("write_failed", "write errors", numeric=True),
)
UPLOAD_COLUMNS = (
    Column("table"),
    Column("rows", numeric=True),
    Column("already_done", "done before", numeric=True),
    Column("updated", numeric=True),
    Column("done_but_differs", "of which sent again", numeric=True),
    Column("settled", "settled", numeric=True),  # written by an interrupted run, read back now
    Column("unchanged", numeric=True),
    *_FAILED_BY_KIND,
    Column("rows_per_s", "rows/s", numeric=True),
    Column("throttled_s", "throttled s", numeric=True),
)
DRY_RUN_COLUMNS = (
    Column("table"),
    Column("rows", numeric=True),
    Column("already_done", "done before", numeric=True),
    Column("would_update", "would update", numeric=True),
    Column("done_but_differs", "of which sent again", numeric=True),
    Column("unchanged", numeric=True),
    *_FAILED_BY_KIND,
)
# shown when a plan is applied: what the plan did not review
PLAN_APPLIED_COLUMNS = (
    Column("plan_outdated", "plan outdated", numeric=True),
    Column("not_in_plan", "not in plan", numeric=True),
)
DROPPED_COLUMNS = (
    Column("table"),
    Column("row_key"),
    Column("business_key"),
    Column("action", "planned"),
    Column("reason"),
)


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _run_json(run: RunFacts) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "environment": run.environment,
        "seconds": run.seconds,
        "throttled_s": run.throttled_s,
        "throttle_request_s": run.throttle_request_s,
        "build_problems": list(run.build_problems),
        "stopped": run.stopped,
    }


def _notes(tables: dict[str, Any], err: Console) -> None:
    for table in tables.values():
        for note in table.notes:
            err.print(f"note: {note}", highlight=False, soft_wrap=True)


def _run_lines(run: RunFacts, err: Console) -> None:
    for problem in run.build_problems:
        err.print(f"[yellow]NOT VERIFIED:[/yellow] {problem}", highlight=False, soft_wrap=True)
    if run.throttled_s:
        err.print(
            f"throttled {run.throttled_s:g} s of {_minutes(run.seconds)} on the clock"
            f" ({run.throttle_request_s:g} request-seconds held, several requests at once)",
            highlight=False,
            soft_wrap=True,
        )


def render_plan(result: PlanResult, fmt: OutputFormat, err: Console) -> None:
    rows = [dataclasses.asdict(t) for t in result.tables.values()]
    if fmt is OutputFormat.JSON:
        emit_json(
            {
                **_run_json(result.run),
                "command": "plan",
                "plan": str(result.plan_path),
                "tables": [{k: v for k, v in row.items() if k != "notes"} for row in rows],
                "notes": {t.table: list(t.notes) for t in result.tables.values() if t.notes},
                "to_settle": result.to_settle,
            }
        )
    else:
        title = f"p2c plan {result.run.run_id} -> {result.run.environment}"
        render_rows(rows, PLAN_COLUMNS, fmt, title=title)
    _notes(result.tables, err)
    _run_lines(result.run, err)
    _to_settle(result.to_settle, err)
    if result.run.stopped is None:
        err.print(f"plan written to {result.plan_path}", highlight=False, soft_wrap=True)
    _stopped(result.run, err, planning=True)


def render_upload(result: UploadResult, fmt: OutputFormat, err: Console) -> None:
    rows = [dataclasses.asdict(t) for t in result.tables.values()]
    dropped = [dataclasses.asdict(d) for d in result.dropped]
    if fmt is OutputFormat.JSON:
        emit_json(
            {
                **_run_json(result.run),
                "command": "upload",
                "dry_run": result.dry_run,
                "plan": str(result.plan_file) if result.plan_file else None,
                "tables": [{k: v for k, v in row.items() if k != "notes"} for row in rows],
                "notes": {t.table: list(t.notes) for t in result.tables.values() if t.notes},
                "dropped": dropped,
                "settled": result.settled,
                "to_settle": result.to_settle,
            }
        )
    else:
        title = f"p2c upload {result.run.run_id} -> {result.run.environment}"
        columns = DRY_RUN_COLUMNS if result.dry_run else UPLOAD_COLUMNS
        if result.plan_file is not None:
            columns = (*columns, *PLAN_APPLIED_COLUMNS)
        render_rows(rows, columns, fmt, title=title + (" (dry run: nothing sent)" if result.dry_run else ""))
        if dropped and fmt is OutputFormat.TABLE:
            render_rows(dropped, DROPPED_COLUMNS, fmt, title="planned rows no longer in the build: not sent")
    _notes(result.tables, err)
    _run_lines(result.run, err)
    if result.dropped:
        err.print(
            f"{len(result.dropped)} planned row(s) are no longer in the build and were not sent"
            + (" (listed above)" if fmt is OutputFormat.TABLE else ""),
            highlight=False,
            soft_wrap=True,
        )
    for run_id, count in sorted(result.settled.items()):
        err.print(
            f"{count} row(s) written by the interrupted run {run_id} were confirmed by reading them back"
            " (counted as settled, not as this run's updates)",
            highlight=False,
            soft_wrap=True,
        )
    _to_settle(result.to_settle, err)
    would = "would fail" if result.dry_run else "failed"
    if result.failed:
        err.print(
            f"{result.failed} row(s) {would}: `p2c results --run {result.run.run_id}` lists them with why",
            highlight=False,
            soft_wrap=True,
        )
    if result.left_out:
        err.print(
            f"{result.left_out} target row(s) were left out: not in the applied plan, not sent, still to do;"
            f" `p2c results --run {result.run.run_id} --status skipped` lists them",
            highlight=False,
            soft_wrap=True,
        )
    _stopped(result.run, err, result.in_flight)


def _to_settle(to_settle: dict[str, int], err: Console) -> None:
    """A plan or dry run settles nothing: the writes a killed run left in flight wait for the next upload."""
    for run_id, count in sorted(to_settle.items()):
        err.print(
            f"{count} write(s) of the interrupted run {run_id} will be settled by the next upload"
            " (read back: those Dataverse holds are recorded as that run's, the others sent again)",
            highlight=False,
            soft_wrap=True,
        )


def _stopped(run: RunFacts, err: Console, in_flight: int = 0, *, planning: bool = False) -> None:
    if run.stopped is None:
        return
    if planning:  # a plan is written only once every row is decided: nothing of it is kept to resume
        err.print(
            f"[red]stopped:[/red] {run.stopped}\n  no plan was written (a plan is written only when every"
            " row is decided); run the same `p2c plan` again",
            highlight=False,
            soft_wrap=True,
        )
        return
    flight = (
        f"\n  {in_flight} more row(s) were being sent when it stopped, with no answer recorded:"
        " Dataverse may hold some of them; the next run reads them back and settles them"
        if in_flight
        else ""
    )
    err.print(
        f"[red]stopped:[/red] {run.stopped}\n"
        f"  the rows above are recorded (run {run.run_id}); run the same command again to do the rest"
        + flight,
        highlight=False,
        soft_wrap=True,
    )
