"""Benchmark: `p2c load` of a 1M-row, 12-column account CSV against DuckDB's own import of the same file.

    .venv/bin/python benchmarks/bench_load_csv.py [--rows 1000000] [--repeat 3]

Both sides run in fresh child processes, alternately, into a new database file each time; the figures are
medians. Targets (issue 2): p2c load <= 1.3x DuckDB's `create table t as select * from read_csv(f,
all_varchar=true)`, peak RSS < 1 GiB. The file is generated once under benchmarks/generated/ (git-ignored)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

WORK = Path(__file__).resolve().parent / "generated"
REPO = Path(__file__).resolve().parent.parent

# Appended to every child script: it prints its own peak RSS (Linux ru_maxrss is in KiB), so the figure
# belongs to that child alone (RUSAGE_CHILDREN would report the largest child seen so far).
REPORT = """
import json, resource
_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": _elapsed, "peak_rss_mib": _peak}))
"""


def run_child(script: str) -> dict[str, float]:
    """Run `script` (which sets _elapsed) in a fresh interpreter; add the wall time the parent saw."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script + REPORT],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
    )
    wall = time.perf_counter() - started
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "wall_seconds": wall}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
        ]
        cpu = names[0] if names else cpu
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, duckdb {duckdb.__version__}"
    )


HEADER = [
    "(Do Not Modify) Account",
    "(Do Not Modify) Row Checksum",
    "(Do Not Modify) Modified On",
    "Account Name",
    "Account Number",
    "Main Phone",
    "Email",
    "Address 1: City",
    "Address 1: Country/Region",
    "Credit Limit",
    "Relationship Type",
    "Status",
]


def generate(path: Path, rows: int) -> None:
    """An English Excel-style export written as UTF-8 CSV, CRLF, with quoted fields and non-ASCII text."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    cities = ["Malmö", "Göteborg", "Seattle", "Zürich", "Lyon", "Kraków"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(f'"{h}"' if "," in h else h for h in HEADER) + "\r\n")
        for i in range(rows):
            handle.write(
                f"{i:08x}-5d1c-ee11-9cbd-000d3a2b{i % 65536:04x},aGVsbG8{i}==,"
                f"2024-01-{i % 28 + 1:02d} 10:{i % 60:02d},"
                f'"Fourth Coffee {i}, Inc.",ACC{i:07d},+46 8 555 {i % 10000:04d},info{i}@example.com,'
                f'{cities[i % 6]},Sweden,"{i % 997 * 1000}.00",Customer,Active\r\n'
            )


BASELINE = """
import time, duckdb
_t = time.perf_counter()
con = duckdb.connect({db!r})
con.execute("create table t as select * from read_csv({csv!r}, all_varchar=true)")
con.close()
_elapsed = time.perf_counter() - _t
"""

P2C = """
import time
from pathlib import Path
from rich.console import Console
from loaders.landing import LoadOptions
from loaders.load import land
_t = time.perf_counter()
assert not land([Path({csv!r})], Path({db!r}), LoadOptions(), console=Console(quiet=True)).failed
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
_elapsed = time.perf_counter() - _t
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    csv = WORK / f"accounts-{args.rows}.csv"
    generate(csv, args.rows)
    baseline_runs, p2c_runs = [], []
    for attempt in range(args.repeat):
        for name, template, runs in (("baseline", BASELINE, baseline_runs), ("p2c", P2C, p2c_runs)):
            db = WORK / f"bench-csv-{name}.duckdb"
            for stale in (db, Path(f"{db}.wal")):
                stale.unlink(missing_ok=True)
            runs.append(run_child(template.format(db=str(db), csv=str(csv))))
            print(f"run {attempt + 1} {name}: {runs[-1]}")
    run_child(CHECK.format(db=str(WORK / "bench-csv-p2c.duckdb"), rows=args.rows))
    base, p2c = median_of(baseline_runs), median_of(p2c_runs)
    print(f"\nmachine: {machine()}")
    print(f"file: {csv.name}, {csv.stat().st_size / 1e6:.1f} MB, {args.rows} rows x {len(HEADER)} columns")
    print("| measurement | DuckDB read_csv CTAS | p2c load | ratio |")
    print("|---|---|---|---|")
    print(
        f"| in-process seconds (median of {args.repeat}) | {base['seconds']:.2f} | {p2c['seconds']:.2f} "
        f"| {p2c['seconds'] / base['seconds']:.2f}x |"
    )
    print(
        f"| child wall seconds incl. interpreter start | {base['wall_seconds']:.2f} "
        f"| {p2c['wall_seconds']:.2f} "
        f"| {p2c['wall_seconds'] / base['wall_seconds']:.2f}x |"
    )
    print(f"| peak RSS MiB | {base['peak_rss_mib']:.0f} | {p2c['peak_rss_mib']:.0f} | |")
    print("row numbers checked: _source_row = data row for every landed row")


if __name__ == "__main__":
    main()
