"""The `p2c` command line: sample -> load -> build -> lineage. A thin layer: each command parses its options,
calls one module, and turns the outcome into an exit code (p2c.errors.ExitCode, the same in every command).

Errors meant for a person (p2c.errors.P2CError, the loader's LoaderError) are printed on stderr as one message
by `_reported`; they never reach the user as a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from loaders.errors import LoaderError
from p2c import __version__
from p2c.errors import ExitCode, P2CError, UsageError
from p2c.settings import resolve_db_path

# Locals in tracebacks could print connection strings or secrets: never show them.
app = typer.Typer(
    help="Migrate Dynamics 365 Sales data from Prospect to cash (Data Integrator) to dual-write.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
lineage_app = typer.Typer(
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
    typer.Option(help="dbt target dir of the last build (manifest, run_results.json; default ./target)."),
]

Command = TypeVar("Command", bound=Callable[..., Any])


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

    return run  # type: ignore[return-value]


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

    try:
        written = write_sample_set(
            out_dir, seed=seed, scale=scale, language=language, file_format=file_format
        )
    except SampleOptionError as error:
        raise UsageError(str(error)) from None
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
) -> None:
    """Land export files in DuckDB (raw.<table>), every value as text with its provenance.

    Exit 0 when every file was read (rows may still be rejected, see raw._rejects), 1 when a file failed."""
    from loaders.landing import LoadOptions
    from loaders.load import land
    from loaders.report import print_landing_report

    out = _wide_console()
    options = LoadOptions(company=company, entity=entity, encoding=encoding)
    run = land(paths, resolve_db_path(db), options, console=out)
    print_landing_report(run, out, err_console)
    raise typer.Exit(ExitCode.FAILED_ROWS if run.failed else ExitCode.OK)


@app.command()
@_reported
def build(
    db: DbOption = None,
    select: Annotated[str | None, typer.Option(help="dbt selection, e.g. 'marts'.")] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help="dbt var as KEY=VALUE (repeatable).")] = None,
) -> None:
    """Run `dbt build` (seeds, models, unit and data tests) and summarize the result.

    Exit 0 when everything built and passed, 1 when a model or test failed."""
    from p2c.build.runner import run_build

    raise typer.Exit(run_build(resolve_db_path(db), select=select, dbt_vars=var or []))


@app.command()
@_reported
def emulator(
    state: Annotated[Path, typer.Option(help="State file of the emulated environment (created if missing).")],
    port: Annotated[int, typer.Option(help="HTTPS port on 127.0.0.1.")] = 8443,
    seed_from: Annotated[
        Path | None, typer.Option(help="DuckDB file of `p2c load`: seeds a new state file only.")
    ] = None,
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
    option: Annotated[
        list[str] | None, typer.Option(help="Schema option NAME=true|false, e.g. company_read_only=true.")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Log each request (method, path, status, ms).")] = False,
) -> None:
    """Run a local Dataverse Web API emulator (HTTPS, token service, service protection) until Ctrl-C."""
    import os

    from p2c.emulator.cli import parse_options, secrets_for
    from p2c.emulator.server import run_emulator

    if not client_id:
        raise UsageError("give at least one --client-id (its secret in P2C_CLIENT_SECRET)")
    users = secrets_for(list(client_id), os.environ)
    code = run_emulator(
        port,
        seed_from,
        state,
        ca_cert,
        users[0][0],
        users[0][1],
        limits,
        faults,
        extra_users=users[1:],
        seed=seed,
        verbose=verbose,
        options=parse_options(list(option or [])),
    )
    raise typer.Exit(code)


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
) -> None:
    """Write the audit pack: report.html, lineage.csv/json, findings.txt, dbt-docs/."""
    from p2c.lineage.pack_writer import write_pack

    result = write_pack(out, resolve_db_path(db), build_target=target, docs=docs)
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
) -> None:
    """Show where one row came from: file, sheet, row, and each value's export column."""
    from p2c.lineage.row_provenance import RowSelector, print_row_trace, trace_row_in_db

    values = list(company_and_key or [])
    selector = RowSelector(company=values[0] if values else None, key=tuple(values[1:]), record_id=record_id)
    traced = trace_row_in_db(resolve_db_path(db), table, selector, target)
    print_row_trace(traced, console)


@lineage_app.command("check")
@_reported
def lineage_check(
    db: DbOption = None,
    target: TargetOption = None,
    suggest: Annotated[
        bool, typer.Option(help="Print the computed lineage of each differing column as YAML to review.")
    ] = False,
) -> None:
    """Compare the lineage declarations (YAML meta.lineage) with the SQL; exit 1 on a difference."""
    import tempfile

    from p2c.lineage.declarations import check_declarations, suggested_declaration
    from p2c.lineage.graph import compute_lineage
    from p2c.lineage.pack_writer import compiled_artifacts
    from p2c.settings import project_dir

    project = project_dir()
    with tempfile.TemporaryDirectory(prefix="p2c-check-") as scratch:
        artifacts = compiled_artifacts(
            resolve_db_path(db), project, Path(scratch), target or project / "target"
        )
    graph = compute_lineage(artifacts)
    findings = check_declarations(graph)
    for finding in findings:
        console.print(str(finding), markup=False, highlight=False, soft_wrap=True)
        if suggest and finding.column != "*" and finding.problem != "stale":
            console.print(
                suggested_declaration(graph, finding.relation, finding.column), markup=False, soft_wrap=True
            )
    console.print(f"{len(findings)} finding(s)")
    raise typer.Exit(ExitCode.FAILED_ROWS if findings else ExitCode.OK)


if __name__ == "__main__":  # pragma: no cover
    app()
