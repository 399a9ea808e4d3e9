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
) -> None:
    """Write a realistic Dynamics 365 Sales export set (xlsx and CSV) for all nine entities."""
    from p2c.sample import write_sample_set

    written = write_sample_set(out_dir, seed=seed, scale=scale, language=language)
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


if __name__ == "__main__":  # pragma: no cover
    app()
