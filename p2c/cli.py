"""The `p2c` command line: sample -> load -> build -> lineage. Each command delegates to one module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from p2c.settings import resolve_db_path

# Locals in tracebacks could print connection strings or secrets: never show them.
app = typer.Typer(
    help="Migrate Dynamics 365 Sales data from Prospect to cash (Data Integrator) to dual-write.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="DuckDB file (default: $P2C_DB, else ./p2c.duckdb).", show_default=False),
]


@app.command()
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
        raise typer.BadParameter(str(error)) from None
    console.print(f"wrote {len(written)} files to {out_dir}")


@app.command()
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
    """Land export files in DuckDB (raw.<table>), every value as text with its provenance."""
    from loaders.cli_report import run_load

    code = run_load(paths, resolve_db_path(db), company=company, entity=entity, encoding=encoding)
    raise typer.Exit(code)


@app.command()
def build(
    db: DbOption = None,
    select: Annotated[str | None, typer.Option(help="dbt selection, e.g. 'marts'.")] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help="dbt var as KEY=VALUE (repeatable).")] = None,
) -> None:
    """Run `dbt build` (seeds, models, unit and data tests) and summarize the result."""
    from p2c.build import run_build

    raise typer.Exit(run_build(resolve_db_path(db), select=select, dbt_vars=var or []))


lineage_app = typer.Typer(
    help="Column lineage audit: the pack (`--out DIR`) and row-level provenance (`trace`).",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(lineage_app, name="lineage")


@lineage_app.callback()
def lineage(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Folder to write the audit pack into.")] = None,
    db: DbOption = None,
    docs: Annotated[
        bool,
        typer.Option(
            "--docs/--no-docs", help="Run `dbt docs generate` (needs the built DB) and copy the site."
        ),
    ] = True,
    target: Annotated[
        Path | None,
        typer.Option(help="dbt target dir of the last build (run_results.json, default ./target)."),
    ] = None,
) -> None:
    """Write the audit pack: report.html, lineage.csv/json, findings.txt, dbt-docs/."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        err_console.print("give --out DIR for the audit pack, or a subcommand (see --help)")
        raise typer.Exit(2)
    from p2c.lineage.artifacts import ArtifactsMissing
    from p2c.lineage.pack import DocsGenerateFailed, write_pack

    try:
        result = write_pack(out, resolve_db_path(db), build_target=target, docs=docs)
    except (ArtifactsMissing, DocsGenerateFailed) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
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
def lineage_trace(
    table: Annotated[str, typer.Argument(help="dualwrite table, e.g. account.")],
    company: Annotated[str, typer.Argument(help="Company (msdyn_company), e.g. USMF.")],
    key: Annotated[str, typer.Argument(help="Natural key, e.g. the account number ACC-01001.")],
    db: DbOption = None,
    target: Annotated[Path | None, typer.Option(help="dbt target dir with the compiled manifest.")] = None,
) -> None:
    """Show where one row came from: file, sheet, row, and each value's export column."""
    import tempfile

    import duckdb
    from rich.table import Table

    from p2c.lineage.artifacts import ArtifactsMissing
    from p2c.lineage.pack import DocsGenerateFailed, compiled_artifacts
    from p2c.lineage.trace import TraceError, trace_row
    from p2c.settings import PROJECT_DIR

    db_path = resolve_db_path(db)
    try:
        with tempfile.TemporaryDirectory(prefix="p2c-trace-") as scratch:
            artifacts = compiled_artifacts(
                db_path, PROJECT_DIR, Path(scratch), target or PROJECT_DIR / "target"
            )
        con = duckdb.connect(str(db_path), read_only=True)
    except (ArtifactsMissing, DocsGenerateFailed, duckdb.Error) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    try:
        traced = trace_row(artifacts, con, table, company, key)
    except TraceError as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    finally:
        con.close()
    sheet = f", sheet {traced.source_sheet}" if traced.source_sheet else ""
    console.print(
        f"dualwrite.{traced.table} {traced.key_column}={traced.key} ({traced.company}) comes from "
        f"[bold]{traced.source_file}[/bold]{sheet}, row {traced.source_row} ({traced.raw_relation})"
    )
    grid = Table("column", "value", "kind", "from export column (header)", "export value")
    for value in traced.values:
        sources = (
            "\n".join(f"{o} ({value.headers[o]})" if o in value.headers else o for o in value.origins) or "-"
        )
        # one line per origin, aligned with the sources column: a value of another record was looked up
        raw = (
            "\n".join(
                str(value.raw_values[o])
                if o in value.raw_values
                else ("(looked up)" if o.startswith("raw.") else "")
                for o in value.origins
            )
            or "-"
        )
        grid.add_row(value.column, "" if value.value is None else str(value.value), value.kind, sources, raw)
    console.print(grid)
    if traced.upload is not None:
        console.print(f"upload: {traced.upload.status} {traced.upload.at} {traced.upload.detail}")
    else:
        console.print("upload: no upload result recorded yet")


@lineage_app.command("check")
def lineage_check(
    db: DbOption = None,
    target: Annotated[Path | None, typer.Option(help="dbt target dir with the compiled manifest.")] = None,
    suggest: Annotated[
        bool, typer.Option(help="Print the computed lineage of each differing column as YAML to review.")
    ] = False,
) -> None:
    """Compare the lineage declarations (YAML meta.lineage) with the SQL; exit 1 on a diff."""
    import tempfile

    from p2c.lineage.artifacts import ArtifactsMissing
    from p2c.lineage.declarations import check_declarations, suggested_declaration
    from p2c.lineage.graph import compute_lineage
    from p2c.lineage.pack import DocsGenerateFailed, compiled_artifacts
    from p2c.settings import PROJECT_DIR

    try:
        with tempfile.TemporaryDirectory(prefix="p2c-check-") as scratch:
            artifacts = compiled_artifacts(
                resolve_db_path(db), PROJECT_DIR, Path(scratch), target or PROJECT_DIR / "target"
            )
    except (ArtifactsMissing, DocsGenerateFailed) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    graph = compute_lineage(artifacts)
    findings = check_declarations(graph)
    for finding in findings:
        console.print(str(finding), markup=False, highlight=False, soft_wrap=True)
        if suggest and finding.column != "*" and finding.problem != "stale":
            console.print(
                suggested_declaration(graph, finding.relation, finding.column), markup=False, soft_wrap=True
            )
    console.print(f"{len(findings)} finding(s)")
    raise typer.Exit(1 if findings else 0)


if __name__ == "__main__":  # pragma: no cover
    app()
