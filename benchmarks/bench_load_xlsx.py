"""Benchmark: `p2c load` of a 200k-row account workbook against fastexcel and pandas/openpyxl.

    .venv/bin/python benchmarks/bench_load_xlsx.py [--rows 200000] [--pandas-rows 50000] [--repeat 3]

Targets (issues 2 and 9): p2c load >= 8x faster than `pandas.read_excel(engine="openpyxl")` and <= 1.3x
fastexcel's own read of the same workbook into Arrow, in-process and as a whole process (`p2c load FILE`
through the `p2c` console script, interpreter start and imports included, against a process that only reads
the sheet). In-process, p2c's time includes the CLI's imports: the console script starts the parse before
them (loaders.early_read), so they cannot be timed apart.
pandas/openpyxl needs minutes for 200k rows, so it reads a 50k-row workbook of the same shape once and its
time is scaled linearly to 200k rows (pass --pandas-rows 200000 to time it on the full file instead).
Files are generated once in benchmarks/generated/. Like every Dynamics export, the workbook ends with the
very hidden metadata sheet (A1: table and column logical names, rows 2..n: choice labels), which p2c reads."""

from __future__ import annotations

import argparse
import datetime as dt
import tomllib
from pathlib import Path

import xlsxwriter
from bench_load_csv import (  # shared helpers and the same columns
    HEADER,
    REPO,
    WORK,
    machine,
    median_of,
    run_child,
)

from p2c.sample.labels import ENGLISH, choice_labels
from p2c.sample.writers_xlsx import METADATA_SHEET, metadata_cell

LOGICAL_NAMES = [
    "accountid",
    "rowchecksum",
    "modifiedon",
    "name",
    "accountnumber",
    "telephone1",
    "emailaddress1",
    "address1_city",
    "address1_country",
    "creditlimit",
    "customertypecode",
    "statecode",
]
CHOICE_COLUMNS = ["customertypecode", "statecode"]


def generate(path: Path, rows: int) -> None:
    """Like a Dynamics 365 Excel export: text cells, a date-time cell and a number cell per row."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Account")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    money = book.add_format({"num_format": "#,##0.00"})
    sheet.write_row(0, 0, HEADER)
    cities = ["Malmö", "Göteborg", "Seattle", "Zürich", "Lyon", "Kraków"]
    base = dt.datetime(2024, 1, 1, 10, 0)
    for i in range(rows):
        r = i + 1
        sheet.write_string(r, 0, f"{i:08x}-5d1c-ee11-9cbd-000d3a2b{i % 65536:04x}")
        sheet.write_string(r, 1, f"aGVsbG8{i}==")
        sheet.write_datetime(r, 2, base + dt.timedelta(minutes=i), stamp)
        sheet.write_string(r, 3, f"Fourth Coffee {i}, Inc.")
        sheet.write_string(r, 4, f"ACC{i:07d}")
        sheet.write_string(r, 5, f"+46 8 555 {i % 10000:04d}")
        sheet.write_string(r, 6, f"info{i}@example.com")
        sheet.write_string(r, 7, cities[i % 6])
        sheet.write_string(r, 8, "Sweden")
        sheet.write_number(r, 9, i % 997 * 1000.5, money)
        sheet.write_string(r, 10, "Customer")
        sheet.write_string(r, 11, "Active")
    metadata = book.add_worksheet(METADATA_SHEET)
    metadata.write_string(0, 0, metadata_cell("account", list(zip(LOGICAL_NAMES, HEADER, strict=True))))
    for row, column in enumerate(CHOICE_COLUMNS, start=1):
        metadata.write_row(row, 0, choice_labels("account", column, ENGLISH))
    metadata.very_hidden()
    book.close()


FASTEXCEL = """
import time, fastexcel
_t = time.perf_counter()
table = fastexcel.read_excel({xlsx!r}).load_sheet(0).to_arrow()
assert table.num_rows == {rows}
_elapsed = time.perf_counter() - _t
"""

# the command a user runs, `p2c load FILE --db DB`, through the console script pyproject.toml installs as
# `p2c` (its output discarded); it is imported after sys.argv is set, as the installed script does
P2C = """
import contextlib, io, sys, time
sys.argv = ["p2c", "load", {xlsx!r}, "--db", {db!r}]
_t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        from {module} import {function}
        {function}()
    except SystemExit as done:
        assert done.code in (0, None), done.code
_elapsed = time.perf_counter() - _t
"""

PANDAS = """
import time, pandas
_t = time.perf_counter()
frame = pandas.read_excel({xlsx!r}, engine="openpyxl")
assert len(frame) == {rows}
_elapsed = time.perf_counter() - _t
"""

CHECK = """
import time, duckdb
_t = time.perf_counter()
con = duckdb.connect({db!r}, read_only=True)
rows, wrong = con.execute(
    "select count(*), count(*) filter (where cast(substr(accountnumber, 4) as bigint) + 1 <> _source_row) "
    "from raw.account"
).fetchone()
assert (rows, wrong) == ({rows}, 0), (rows, wrong)
sample = con.execute("select modifiedon, creditlimit from raw.account where _source_row = 2").fetchone()
assert sample == ("2024-01-01 10:01:00", "1000.5"), sample
_elapsed = time.perf_counter() - _t
"""


def console_script() -> tuple[str, str]:
    """The module and function of the `p2c` console script, as pyproject.toml declares it."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, function = scripts["p2c"].split(":")
    return module, function


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--pandas-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    xlsx = WORK / f"export-accounts-{args.rows}.xlsx"
    small = WORK / f"export-accounts-{args.pandas_rows}.xlsx"
    generate(xlsx, args.rows)
    generate(small, args.pandas_rows)
    db = WORK / "bench-xlsx-p2c.duckdb"
    module, function = console_script()
    fastexcel_runs, p2c_runs = [], []
    for attempt in range(args.repeat):
        fastexcel_runs.append(run_child(FASTEXCEL.format(xlsx=str(xlsx), rows=args.rows)))
        for stale in (db, Path(f"{db}.wal")):
            stale.unlink(missing_ok=True)
        p2c_runs.append(run_child(P2C.format(xlsx=str(xlsx), db=str(db), module=module, function=function)))
        print(f"run {attempt + 1}: fastexcel {fastexcel_runs[-1]}, p2c {p2c_runs[-1]}")
    pandas_run = run_child(PANDAS.format(xlsx=str(small), rows=args.pandas_rows))
    print(f"pandas/openpyxl on {args.pandas_rows} rows: {pandas_run}")
    run_child(CHECK.format(db=str(db), rows=args.rows))
    fast, p2c = median_of(fastexcel_runs), median_of(p2c_runs)
    pandas_scaled = pandas_run["seconds"] * args.rows / args.pandas_rows
    print(f"\nmachine: {machine()}")
    print(f"file: {xlsx.name}, {xlsx.stat().st_size / 1e6:.1f} MB, {args.rows} rows x {len(HEADER)} columns")
    print("| reader | seconds | p2c load vs it | peak RSS MiB |")
    print("|---|---|---|---|")
    print(
        f"| pandas.read_excel(engine='openpyxl'), {args.pandas_rows} rows x {args.rows / args.pandas_rows:g} "
        f"| {pandas_scaled:.1f} | {pandas_scaled / p2c['seconds']:.1f}x faster "
        f"| {pandas_run['peak_rss_mib']:.0f} |"
    )
    print(
        f"| fastexcel load_sheet().to_arrow() (median of {args.repeat}) | {fast['seconds']:.2f} "
        f"| {p2c['seconds'] / fast['seconds']:.2f}x its time | {fast['peak_rss_mib']:.0f} |"
    )
    print(f"| p2c load (median of {args.repeat}) | {p2c['seconds']:.2f} | | {p2c['peak_rss_mib']:.0f} |")
    # what a user waits for: the whole process, interpreter start and imports included (target 1.3x)
    print(
        f"\nwhole process (wall, median of {args.repeat}): fastexcel {fast['wall_seconds']:.2f} s, "
        f"`p2c load` {p2c['wall_seconds']:.2f} s = {p2c['wall_seconds'] / fast['wall_seconds']:.2f}x"
    )


if __name__ == "__main__":
    main()
