"""The `p2c` command line: sample -> load -> build -> lineage. A thin layer: each command parses its options,
calls one module, and turns the outcome into an exit code (p2c.errors.ExitCode, the same in every command).

Errors meant for a person (p2c.errors.P2CError, the loader's LoaderError) are printed on stderr as one message
by `_reported`; they never reach the user as a traceback."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer
from rich.console import Console

from loaders.errors import LoaderError
from p2c import __version__
from p2c.errors import ExitCode, P2CError, UsageError
from p2c.output import FormatOption, OutputFormat, resolve_format, stdout_console
from p2c.settings import resolve_db_path

# Locals in tracebacks could print connection strings or secrets: never show them.
# Help and usage errors are drawn in rich boxes on a terminal only: piped or redirected, click's plain text
# (nothing cut to the box's width, no box characters)
MARKUP: Any = "rich" if sys.stdout.isatty() and sys.stderr.isatty() else None
app = typer.Typer(
    help="Migrate Dynamics 365 Sales data from Prospect to cash (Data Integrator) to dual-write.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=MARKUP,
)
lineage_app = typer.Typer(
    rich_markup_mode=MARKUP,
    help="Column lineage: the audit pack (`pack`), row provenance (`trace`), declaration check (`check`).",
    no_args_is_help=True,
)
app.add_typer(lineage_app, name="lineage")

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="DuckDB file (default: $P2C_DB, else ./p2c.duckdb).", show_default=False),
]
TargetOption = Annotated[
    Path | None,
    typer.Option(
        help="dbt target dir of the build (default: the database's own, <db>.target/ or $DBT_TARGET_PATH)."
    ),
]

Command = TypeVar("Command", bound=Callable[..., Any])
DEBUG_ENV_VAR = "P2C_DEBUG"
FOLLOW_INTERVAL_S = 2.0  # `p2c results --follow`: how often the running upload's status is shown


def _reported(command: Command) -> Command:
    """Run a command; a user-facing error becomes one message on stderr and its exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except P2CError as error:
            err_console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None
        except LoaderError as error:
            err_console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(ExitCode.CANNOT_RUN) from None
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.ClickException):
            raise  # typer's own exits and usage errors
        except BrokenPipeError:
            # the reader of stdout went away (`| head`): not an error of ours, and nothing more to say
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(ExitCode.OK) from None
        except Exception as error:
            # a bug: one line for the user; the traceback only on request (it may show values of rows)
            if os.environ.get(DEBUG_ENV_VAR):
                raise
            err_console.print(
                f"[red]internal error:[/red] {type(error).__name__}: {error}\n"
                f"  this is a bug in p2c; {DEBUG_ENV_VAR}=1 shows the traceback",
                highlight=False,
                soft_wrap=True,
                markup=True,
            )
            raise typer.Exit(ExitCode.CANNOT_RUN) from None
        except KeyboardInterrupt:
            err_console.print("[red]interrupted[/red] (Ctrl-C)", highlight=False)
            raise typer.Exit(ExitCode.INTERRUPTED) from None

    return run  # type: ignore[return-value]


def _checked_entity(entity: str | None) -> str | None:
    """--entity must name one of the exported tables (checked before anything is opened)."""
    if entity is None:
        return None
    import difflib

    from loaders.vocabulary import exported_entities

    known = list(exported_entities())
    if entity in known:
        return entity
    close = difflib.get_close_matches(entity, known, n=1)
    suggestion = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(f"unknown --entity {entity!r}{suggestion}; one of: {', '.join(known)}")


def _checked_encoding(encoding: str | None) -> str | None:
    if encoding is None:
        return None
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise UsageError(
            f"unknown --encoding {encoding!r}; e.g. utf-8, utf-8-sig, cp1252, latin-1, utf-16"
        ) from None
    return encoding


def _writable_folder(folder: Path, what: str) -> None:
    """A folder the command will write into: not a file, and writable (checked before any work)."""
    from p2c.database import check_writable_folder

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{what} {folder} is a file, not a folder")
    try:
        check_writable_folder(folder, purpose=f"{what} is written there")
    except P2CError as error:
        raise UsageError(error.message, hint=error.hint) from None


def _wide_console() -> Console:
    # Outside a terminal (CI logs, pipes) rich would wrap tables at 80 columns: give them room.
    return Console(width=None if Console().is_terminal else 200)


def _version(value: bool) -> None:
    if value:
        console.print(f"p2c {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Migrate Dynamics 365 Sales data from Prospect to cash (Data Integrator) to dual-write."""


@app.command()
@_reported
def sample(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the export set into.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")] = 7,
    scale: Annotated[int, typer.Option(help="Rows per entity and company (order lines: 4x).", min=1)] = 40,
    language: Annotated[str, typer.Option(help="Language of the localized export: en or sv.")] = "sv",
    file_format: Annotated[
        str, typer.Option("--format", help="mixed: USMF as xlsx; csv: CSV only (fast, for large runs).")
    ] = "mixed",
) -> None:
    """Write a realistic Dynamics 365 Sales export set (xlsx and CSV) for all nine entities."""
    from p2c.sample import SampleOptionError, write_sample_set

    _writable_folder(out_dir, "OUT_DIR")
    try:
        written = write_sample_set(
            out_dir, seed=seed, scale=scale, language=language, file_format=file_format
        )
    except SampleOptionError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"cannot write the sample set to {out_dir}: {error.strerror or error}") from None
    console.print(f"wrote {len(written)} files to {out_dir}")


@app.command()
@_reported
def load(
    paths: Annotated[list[Path], typer.Argument(help="Export files or folders.")],
    db: DbOption = None,
    company: Annotated[
        str | None, typer.Option(help="Legal entity (e.g. USMF) for rows whose export has no company column.")
    ] = None,
    entity: Annotated[
        str | None, typer.Option(help="Entity (logical table name) to use instead of detecting it.")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="CSV encoding instead of detecting it (utf-8, cp1252, utf-16).")
    ] = None,
    file_format: FormatOption = None,
) -> None:
    """Land export files in DuckDB (raw.<table>), every value as text with its provenance.

    Exit 0 when every file was read (rows may still be rejected, see raw._rejects), 1 when a file failed,
    2 when nothing could be loaded (usage, database), 130 on Ctrl-C (the file in progress is rolled back)."""
    from loaders.discover import discover
    from loaders.landing import LoadOptions
    from loaders.load import LandingInterrupted, LandingRun, NoExportFiles, load_paths
    from p2c.database import open_or_create
    from p2c.load_output import render_landing
    from p2c.output import progress_console

    fmt = resolve_format(file_format)
    db_path = resolve_db_path(db)
    # every usage error is found before the database is opened (or created): the project (its vocabulary)
    # first, then the options
    from p2c.settings import project_dir

    project_dir()
    options = LoadOptions(
        company=company, entity=_checked_entity(entity), encoding=_checked_encoding(encoding)
    )
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    files = discover(paths)
    if not files:
        raise NoExportFiles("no export files found in " + ", ".join(str(p) for p in paths))
    open_or_create(db_path).close()
    try:
        load_id, results = load_paths(files, db_path, options, console=progress_console())
    except LandingInterrupted as interrupted:
        run = LandingRun(interrupted.load_id, interrupted.results)
        render_landing(run, fmt, db_path, err_console, interrupted=True)
        landed = sum(1 for r in run.results if r.file_table)
        not_landed = ", ".join(str(p) for p in interrupted.not_landed) or "none"
        err_console.print(
            f"[red]interrupted[/red] (Ctrl-C): {landed} file(s) or sheet(s) landed and kept; the file in "
            f"progress was rolled back; not landed: {not_landed}. Run the same command again to land the "
            "rest (landed files are skipped as unchanged).",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    run = LandingRun(load_id, results)
    render_landing(run, fmt, db_path, err_console)
    raise typer.Exit(ExitCode.FAILED_ROWS if run.failed else ExitCode.OK)


@app.command()
@_reported
def unload(
    files: Annotated[
        list[Path],
        typer.Argument(help="Landed files or folders to take back out (as given to `p2c load`)."),
    ],
    db: DbOption = None,
) -> None:
    """Take wrongly loaded files back out of the database: their rows leave raw.<table>, raw._loads keeps the
    history (status `unloaded`). A folder takes out every file landed under it. Run `p2c build` afterwards."""
    from loaders.landing import landed_files_named, new_load_id, unload_file
    from p2c.database import writing

    load_id = new_load_id()
    with writing(resolve_db_path(db)) as con:
        # every argument is checked before anything is taken out
        named = [landed_files_named(con, path.resolve()) for path in files]
        for file in dict.fromkeys(file for files_named in named for file in files_named):
            done = unload_file(con, file, load_id)
            console.print(
                f"unloaded {done.file}: {done.rows:,} rows of {', '.join(done.entities)}",
                highlight=False,
                soft_wrap=True,
            )
    err_console.print("run `p2c build` to rebuild the target tables without them", highlight=False)


@app.command()
@_reported
def build(
    db: DbOption = None,
    select: Annotated[str | None, typer.Option(help="dbt selection, e.g. 'marts'.")] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help="dbt var as KEY=VALUE (repeatable).")] = None,
    file_format: FormatOption = None,
) -> None:
    """Run `dbt build` (seeds, models, unit and data tests) and summarize the result.

    Exit 0 when everything built and passed, 1 when a model or test failed, 2 when it could not run (no
    database: run `p2c load` first), 130 on Ctrl-C. The build is recorded in the database (p2c.builds)."""
    from p2c.build.dbt import parse_vars
    from p2c.build.runner import run_build
    from p2c.database import check_existing
    from p2c.output import progress_console, stdout_console

    db_path = resolve_db_path(db)
    try:
        parse_vars(var or [])
    except ValueError as error:
        raise UsageError(str(error)) from None
    check_existing(db_path, for_writing=True)
    code = run_build(
        db_path,
        select=select,
        dbt_vars=var or [],
        console=stdout_console(),
        progress_console=progress_console() or Console(quiet=True),
        output_format=resolve_format(file_format),
    )
    raise typer.Exit(code)


@app.command()
@_reported
def emulator(
    state: Annotated[
        Path,
        typer.Option(help="State file of the emulated environment (created if missing; folder must exist)."),
    ],
    port: Annotated[int, typer.Option(help="HTTPS port on 127.0.0.1 (1 to 65535; 0: any free port).")] = 8443,
    seed_from: Annotated[
        Path | None, typer.Option(help="DuckDB file of `p2c load`: seeds a new (or --reset) state file only.")
    ] = None,
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="Start over from an empty state with a new organization id (reseeded from --seed-from): "
            "a rehearsal of a sandbox reset at the same URL.",
        ),
    ] = False,
    ca_cert: Annotated[
        Path | None, typer.Option(help="Where to write the local CA certificate (for REQUESTS_CA_BUNDLE).")
    ] = None,
    client_id: Annotated[
        list[str] | None,
        typer.Option(help="Application user (repeatable); secrets from P2C_CLIENT_SECRET, _2, ..."),
    ] = None,
    limits: Annotated[
        str | None, typer.Option(help="Service protection, e.g. requests=600,window=10,cost_ms=5,dop=8.")
    ] = None,
    faults: Annotated[
        str | None, typer.Option(help="Injected faults, e.g. 429=0.10,503=0.05,drop=0.02,token_lifetime=30.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed of the injected faults.")] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant id the token service answers for (default: p2c-emulator).")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option(help="Schema option NAME=true|false, e.g. company_read_only=true.")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Log each request (method, path, status, ms).")] = False,
    client_cert: Annotated[
        list[str] | None,
        typer.Option(help="CLIENT_ID=cert.pem: that user may also sign in with this certificate."),
    ] = None,
    admin: Annotated[
        list[str] | None,
        typer.Option(
            help="CLIENT_ID holding System Administrator: may update read-only quotes/orders and send the "
            "bypass headers (repeatable)."
        ),
    ] = None,
    integration_user: Annotated[
        list[str] | None,
        typer.Option(
            help="CLIENT_ID with isintegrationuser: with --sop-integration, writes Submitted orders."
        ),
    ] = None,
    sop_integration: Annotated[
        bool, typer.Option(help="organization.issopintegrationenabled (sales-order-processing integration).")
    ] = False,
    read_only_error: Annotated[
        str,
        typer.Option(help="How a read-only record is refused: platform (0x8004022E) or plugin (0x80040265)."),
    ] = "platform",
    locked_fields: Annotated[
        bool, typer.Option(help="An admin's update of a read-only record leaves its locked fields unchanged.")
    ] = False,
    inactive_read_only: Annotated[
        bool, typer.Option(help="Inactive accounts/contacts refuse updates (0x80040230); default: writable.")
    ] = False,
) -> None:
    """Run a local Dataverse Web API emulator (HTTPS, token service, service protection) until Ctrl-C."""
    import os

    from p2c.emulator.options import policy_from, settings_from
    from p2c.emulator.server import DEFAULT_TENANT, run_emulator

    if not client_id:
        raise UsageError("give at least one --client-id (its secret in P2C_CLIENT_SECRET)")
    settings = settings_from(
        state=state,
        client_ids=list(client_id),
        environ=os.environ,
        port=port,
        seed_from=seed_from,
        ca_cert=ca_cert,
        limits=limits,
        faults=faults,
        seed=seed,
        verbose=verbose,
        options=list(option or []),
        client_certs=list(client_cert or []),
        tenant=tenant or DEFAULT_TENANT,
        reset=reset,
        record_state=policy_from(
            admins=list(admin or []),
            integration_users=list(integration_user or []),
            sop_integration=sop_integration,
            read_only_error=read_only_error,
            locked_fields=locked_fields,
            inactive_read_only=inactive_read_only,
        ),
    )
    raise typer.Exit(run_emulator(settings))


EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        help="Dataverse environment URL, e.g. https://contoso.crm4.dynamics.com ($P2C_DATAVERSE_URL).",
    ),
]
TableOption = Annotated[
    list[str] | None,
    typer.Option("--table", help="Only this dualwrite table (repeatable).", show_default=False),
]
DeviceCodeOption = Annotated[
    bool,
    typer.Option("--device-code", help="Sign in as a person (device code) instead of an application user."),
]
BulkOption = Annotated[
    str, typer.Option("--bulk", help="auto (UpdateMultiple where supported, else $batch), batch or single.")
]


MatchOption = Annotated[
    list[str] | None,
    typer.Option(
        "--match",
        metavar="TABLE=COLUMN[,COLUMN...]",
        help="Identify rows exported without their record id by these columns, e.g. contact=emailaddress1"
        " or contact=firstname,lastname,parentcustomerid (repeatable, one per table): only a unique match is"
        " used; none, several or a record two rows name is reported (docs/runbook.md).",
        show_default=False,
    ),
]
AllowUnverifiedOption = Annotated[
    bool,
    typer.Option(
        "--allow-unverified",
        help="Send rows even when the database's last build failed, is partial or older than its last load"
        " (the problems are printed; the same check as `p2c lineage pack`).",
    ),
]


def _watch() -> Any:
    """Bars and a status line on a terminal's stderr; elsewhere a listener that draws nothing."""
    from p2c.output import progress_console
    from p2c.upload.progress import RunWatch, TableBars

    console = progress_console()
    return TableBars(console) if console is not None else RunWatch()


LeaveReadOnlyOption = Annotated[
    bool,
    typer.Option(
        "--leave-read-only",
        help="Leave quotes/orders in read-only states (and their lines) alone, even when the user may write.",
    ),
]


@app.command()
@_reported
def plan(
    env: EnvOption = None,
    db: DbOption = None,
    table: TableOption = None,
    out: Annotated[Path, typer.Option("--out", help="Where to write the plan (JSON).")] = Path("plan.json"),
    match: MatchOption = None,
    device_code: DeviceCodeOption = False,
    allow_unverified: AllowUnverifiedOption = False,
    file_format: FormatOption = None,
    leave_read_only: LeaveReadOnlyOption = False,
) -> None:
    """Read the current records by id and report, per table, what an upload would change: to update (each
    column's current and new value), unchanged, not found, conflicts, and rows that cannot be written.
    Sends no write. Exit 1 when rows would fail (not found, conflicts, cannot write); refused (exit 2) for a
    database without a successful build that covers its data."""
    from contextlib import nullcontext

    from p2c.upload import api
    from p2c.upload.progress import TableBars
    from p2c.upload.render import render_plan

    watch = _watch()
    with watch if isinstance(watch, TableBars) else nullcontext():
        result = api.plan(
            resolve_db_path(db),
            env,
            out=out,
            tables=table or [],
            device_code=device_code,
            allow_unverified=allow_unverified,
            watch=watch,
            match=match or [],
            leave_read_only=leave_read_only,
        )
    render_plan(result, resolve_format(file_format), err_console)
    if result.run.interrupted:
        raise typer.Exit(ExitCode.INTERRUPTED)
    if result.run.stopped:
        raise typer.Exit(ExitCode.CANNOT_RUN)
    # rows the upload would fail are the plan's finding: a script must not read "all clear"
    raise typer.Exit(ExitCode.FAILED_ROWS if result.would_fail else ExitCode.OK)


@app.command()
@_reported
def upload(
    env: EnvOption = None,
    db: DbOption = None,
    table: TableOption = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Apply exactly this plan (rows changed since then fail).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read and decide every row (with --plan: check the plan); send no write."
        ),
    ] = False,
    match: MatchOption = None,
    bulk: BulkOption = "auto",
    batch_size: Annotated[
        int, typer.Option(help="Records per UpdateMultiple or $batch request.", min=1)
    ] = 100,
    parallel: Annotated[
        int, typer.Option(help="Most requests in flight per application user (x-ms-dop-hint may lower it).")
    ] = 16,
    # `\b`: click keeps these lines as written: a header name is longer than the column and must not be cut
    bypass_business_logic: Annotated[
        bool,
        typer.Option(
            help="\b\nSend the header\nMSCRM.BypassBusinessLogicExecution:\n"
            "CustomSync,CustomAsync (off by default).",
            show_default=False,
        ),
    ] = False,
    suppress_flows: Annotated[
        bool,
        typer.Option(
            help="\b\nSend the header\nMSCRM.SuppressCallbackRegistrationExpanderJob:\n"
            "no flows run (off by default).",
            show_default=False,
        ),
    ] = False,
    retry_for: Annotated[
        float | None,
        typer.Option(
            "--retry-for",
            metavar="SECONDS",
            help="How long an unreachable service is retried before the run stops (then run it again).",
            show_default=False,
        ),
    ] = None,
    device_code: DeviceCodeOption = False,
    allow_unverified: AllowUnverifiedOption = False,
    file_format: FormatOption = None,
    leave_read_only: LeaveReadOnlyOption = False,
) -> None:
    """Initialize the existing records in Dataverse (updates by record id, dependency order). Run the same
    command again after an interruption or an outage: rows already done are skipped. Exit 1 when rows
    failed or an applied plan left rows out, 2 when it could not run or stopped early (the database's build
    not verified, the service unreachable)."""
    from contextlib import nullcontext

    from p2c.upload import api
    from p2c.upload.progress import TableBars
    from p2c.upload.render import render_upload
    from p2c.upload.session import ConnectionSettings

    settings = ConnectionSettings(
        bulk=bulk,
        batch_size=batch_size,
        parallel=parallel,
        bypass_business_logic=bypass_business_logic,
        suppress_flows=suppress_flows,
        device_code=device_code,
        retry_for_s=retry_for,
        leave_read_only=leave_read_only,
    )
    watch = _watch()
    with watch if isinstance(watch, TableBars) else nullcontext():
        result = api.upload(
            resolve_db_path(db),
            env,
            tables=table or [],
            plan_file=plan_file,
            dry_run=dry_run,
            settings=settings,
            allow_unverified=allow_unverified,
            watch=watch,
            match=match or [],
        )
    render_upload(result, resolve_format(file_format), err_console)
    if result.run.interrupted:
        raise typer.Exit(ExitCode.INTERRUPTED)
    if result.run.stopped:
        raise typer.Exit(ExitCode.CANNOT_RUN)
    # rows that failed, or that an applied plan left out, are not done: a script must not read success
    raise typer.Exit(ExitCode.FAILED_ROWS if result.failed or result.left_out else ExitCode.OK)


@app.command()
@_reported
def results(
    db: DbOption = None,
    run: Annotated[str | None, typer.Option("--run", help="Only this run (see the runs listed).")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Rows of this status: updated, unchanged, failed, skipped.")
    ] = None,
    table: TableOption = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="While an upload holds the database: show its progress until it ends, then the results.",
        ),
    ] = False,
    file_format: FormatOption = None,
) -> None:
    """The upload runs, the reconciliation per table (target rows = updated + unchanged + failed + to do)
    and the failed rows with the Dataverse error. Notes say when the build is older than the last load, and
    how many outcomes are of rows no longer in the build (not_in_build). While an upload holds the
    database: its progress per table and the failures so far (`--follow`: until it ends). Exit 1 when rows
    failed."""
    import time

    from p2c.errors import DatabaseUnavailable
    from p2c.upload.live import print_status, read_status
    from p2c.upload.session import print_results, read_results

    db_path, fmt = resolve_db_path(db), resolve_format(file_format)
    while True:
        try:
            report = read_results(db_path, run_id=run, status=status, tables=tuple(table or ()))
            break
        except DatabaseUnavailable:
            # DuckDB keeps other processes out while one writes: the running upload's status file instead
            live = read_status(db_path)
            if live is None or live["alive"] is False:
                raise
            if not follow:
                print_status(live, fmt, console, err_console)
                raise typer.Exit(ExitCode.FAILED_ROWS if live.get("failed") else ExitCode.OK) from None
            print_status(live, fmt, console, err_console)
            time.sleep(FOLLOW_INTERVAL_S)
    print_results(report, fmt, console)
    raise typer.Exit(ExitCode.FAILED_ROWS if report.failed_rows else ExitCode.OK)


@lineage_app.command("pack")
@_reported
def lineage_pack(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the audit pack into.")],
    db: DbOption = None,
    docs: Annotated[
        bool,
        typer.Option(
            "--docs/--no-docs", help="Run `dbt docs generate` (needs the built DB) and copy the site."
        ),
    ] = True,
    target: TargetOption = None,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified",
            help="Write the pack even when the last build failed, is partial or older than the last load"
            " (the report then opens with a banner saying so).",
        ),
    ] = False,
) -> None:
    """Write the audit pack: report.html (build, reconciliation, rejects, landed files, lineage),
    build.json, reconciliation/rejects/files .csv|.json, lineage.csv/json, findings.txt, dbt-docs/.

    Refused (exit 2) for a database without a successful build that covers its landed files."""
    from p2c.database import check_existing
    from p2c.lineage.pack_writer import check_out_dir, write_pack

    db_path = resolve_db_path(db)
    check_out_dir(out)
    check_existing(db_path)
    result = write_pack(out, db_path, build_target=target, docs=docs, strict=not allow_unverified)
    if result.context is not None:
        for problem in result.context.problems:
            err_console.print(f"[red]NOT VERIFIED:[/red] {problem}", highlight=False, soft_wrap=True)
    pack = result.pack
    console.print(
        f"lineage of {len(pack.columns)} columns in {len(pack.tables())} tables -> {out / 'report.html'}"
    )
    if result.descriptions_written:
        console.print(f"dbt docs: {result.descriptions_written} column descriptions written from lineage")
    for model, error in pack.errors.items():
        err_console.print(f"[yellow]not traced: {model}: {error}[/yellow]")
    if pack.findings:
        err_console.print(
            f"[yellow]{len(pack.findings)} declaration finding(s), see {out / 'findings.txt'}[/yellow]"
        )
    if result.context is not None and result.context.problems:
        raise typer.Exit(ExitCode.FAILED_ROWS)  # written, but it does not vouch for the database


@lineage_app.command("trace")
@_reported
def lineage_trace(
    table: Annotated[str, typer.Argument(help="dualwrite table, e.g. account or salesorderdetail.")],
    company_and_key: Annotated[
        list[str] | None,
        typer.Argument(
            help="Company, then one value per key column: `USMF ACC-01001`, or for a line `USMF SO-1 3`.",
            show_default=False,
        ),
    ] = None,
    record_id: Annotated[
        str | None, typer.Option("--record-id", help="Find the row by its Dataverse record id instead.")
    ] = None,
    db: DbOption = None,
    target: TargetOption = None,
    file_format: FormatOption = None,
) -> None:
    """Show where one row came from: file, sheet, data row and Excel row, and each value's export column;
    for a rejected record, that it was rejected, why, and its source row. Then its upload outcome in the
    organization the latest plan or upload met (and any later one of an earlier environment, named so)."""
    from p2c.lineage.row_provenance import RowSelector, render_row_trace, trace_row_in_db

    values = list(company_and_key or [])
    selector = RowSelector(company=values[0] if values else None, key=tuple(values[1:]), record_id=record_id)
    traced = trace_row_in_db(resolve_db_path(db), table, selector, target)
    for note in traced.notes:
        err_console.print(f"[yellow]note:[/yellow] {note}", highlight=False, soft_wrap=True)
    render_row_trace(traced, resolve_format(file_format))


@lineage_app.command("check")
@_reported
def lineage_check(
    db: DbOption = None,
    target: TargetOption = None,
    suggest: Annotated[
        bool, typer.Option(help="Print the computed lineage of each differing column as YAML to review.")
    ] = False,
    file_format: FormatOption = None,
) -> None:
    """Compare the lineage declarations (YAML meta.lineage) with the SQL; exit 1 on a difference.

    Without a database (or an unbuilt one) the project is compiled against a scratch database: nothing is
    created where --db points."""
    import tempfile

    from p2c.build.record import last_build, target_dir_for
    from p2c.database import check_existing, reading
    from p2c.lineage.declarations import check_declarations, suggested_declaration
    from p2c.lineage.graph import compute_lineage
    from p2c.lineage.pack_writer import compiled_artifacts
    from p2c.output import Column, render_rows
    from p2c.settings import project_dir

    fmt = resolve_format(file_format)
    db_path = resolve_db_path(db)
    project = project_dir()
    record = None
    if db_path.exists():
        check_existing(db_path)
        with reading(db_path) as con:
            record = last_build(con)
    with tempfile.TemporaryDirectory(prefix="p2c-check-") as scratch:
        compile_db = db_path if record is not None else Path(scratch) / "compile.duckdb"
        build_target = target or (Path(record.target_dir) if record and record.target_dir else None)
        artifacts = compiled_artifacts(
            compile_db, project, Path(scratch) / "target", build_target or target_dir_for(db_path), record
        )
    graph = compute_lineage(artifacts)
    findings = check_declarations(graph)
    rows = [
        {
            "relation": f.relation,
            "column": f.column,
            "problem": f.problem,
            "detail": f.detail,
            "suggestion": suggested_declaration(graph, f.relation, f.column)
            if suggest and f.column != "*" and f.problem != "stale"
            else None,
        }
        for f in findings
    ]
    columns = [Column("relation"), Column("column"), Column("problem"), Column("detail")]
    if suggest:
        columns.append(Column("suggestion"))
    if fmt == OutputFormat.TABLE:
        out = stdout_console()
        for row, finding in zip(rows, findings, strict=True):
            out.print(str(finding), markup=False, highlight=False, soft_wrap=True)
            if row["suggestion"]:
                out.print(row["suggestion"], markup=False, soft_wrap=True)
        out.print(f"{len(findings)} finding(s)")
    else:
        render_rows(rows, columns, fmt)
    raise typer.Exit(ExitCode.FAILED_ROWS if findings else ExitCode.OK)


@app.command()
@_reported
def rejects(
    db: DbOption = None,
    entity: Annotated[
        str | None, typer.Option("--entity", help="Only the rejects of this table (e.g. salesorder).")
    ] = None,
    file_format: FormatOption = None,
) -> None:
    """Export every rejected row for the people who fix the source data: stage (load or build), entity,
    company, key, reason, file, sheet, data row, Excel row, line, and the row's values. Read-only."""
    from p2c.database import reading
    from p2c.lineage.audit_tables import REJECT_COLUMNS, read_rejects
    from p2c.output import render_rows

    fmt = resolve_format(file_format)
    entity = _checked_entity(entity)
    with reading(resolve_db_path(db)) as con:
        rows = read_rejects(con)
    if entity:
        rows = [r for r in rows if r["entity"] == entity]
    render_rows(rows, REJECT_COLUMNS, fmt, title=f"{len(rows)} rejected row(s)")


@app.command("export-lakehouse")
@_reported
def export_lakehouse(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (new, empty, or an earlier export).")],
    db: DbOption = None,
) -> None:
    """Write the landed data (raw.<table> with provenance, and the loader's bookkeeping) as Parquet, one
    folder per table, with register.sql, which registers them as Spark tables raw.<table> (docs/spark.md)."""
    from p2c.database import reading
    from p2c.lakehouse import REGISTER_FILE
    from p2c.lakehouse import export_lakehouse as write_lakehouse

    with reading(resolve_db_path(db)) as con:
        tables = write_lakehouse(con, out)
    for table in tables:
        console.print(
            f"raw.{table.name}: {table.rows:,} rows -> {table.folder}", highlight=False, soft_wrap=True
        )
    err_console.print(
        f"register them in Spark with {out / REGISTER_FILE} (spark-sql -f), then dbt build --target spark",
        highlight=False,
        soft_wrap=True,
    )


if __name__ == "__main__":  # pragma: no cover
    app()
