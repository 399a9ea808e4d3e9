"""The `p2c` console script: p2c.cli's app, with the first workbook of a `p2c load` already being parsed.

The order is the point: the parse (loaders.early_read) starts before p2c.cli and what its commands import
(typer, rich, DuckDB, pyarrow) are imported, so that those imports run beside it instead of before it."""

from __future__ import annotations

import sys


def main() -> None:
    from loaders.early_read import start_from_argv

    start_from_argv(sys.argv)
    from p2c.cli import app

    app()
