"""Benchmark: `p2c build` against the same compiled model SQL run directly in DuckDB.

Goal (issue 3): on `p2c sample --scale` with 1M accounts, 1M contacts, 1M orders and 4M order lines,
`p2c build` stays within 1.5x of the direct run, plus dbt's fixed start-up. Per run:

1. `p2c sample --format csv --scale N` (N rows per entity and company: two companies -> 2N accounts),
   loaded with `p2c load` (USMF, GBSI with --company, multi-company) into one base DuckDB file;
2. fixed start-up: `p2c build` on a database with empty raw tables (parse, seeds, every model and test
   on zero rows: the part of the cost that does not grow with the data);
3. `p2c build` (a subprocess, as a user runs it) on a copy of the base file;
4. direct: on another copy, `dbt seed` + `dbt compile` (not timed), then every model's compiled SQL in DAG
   order as `create table/view ... as`, then every data test's compiled SQL as `select count(*)`.

Usage: python benchmarks/bench_build.py --scale 2000
Figures go to results.json in --workdir; the recorded ones are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from loaders.landing import LoadOptions  # noqa: E402
from loaders.load import land  # noqa: E402
from loaders.raw_schema import ensure_raw_relations  # noqa: E402
from loaders.sql import quote_identifier  # noqa: E402
from p2c.build.dbt import dbt_args, invoke_dbt, release_duckdb  # noqa: E402
from p2c.sample import write_sample_set  # noqa: E402
from p2c.settings import project_dir  # noqa: E402

PROJECT_DIR = project_dir()

ALLOWED_RATIO = 1.5


def _timed(label: str, func: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = func(*args, **kwargs)
    seconds = time.perf_counter() - start
    print(f"  {label}: {seconds:.1f} s", flush=True)
    return value, seconds


def prepare_base(workdir: Path, scale: int) -> tuple[Path, dict[str, float]]:
    sample_dir, base = workdir / "sample", workdir / "base.duckdb"
    timings: dict[str, float] = {}
    shutil.rmtree(sample_dir, ignore_errors=True)
    base.unlink(missing_ok=True)
    _, timings["sample"] = _timed("p2c sample", write_sample_set, sample_dir, scale=scale, file_format="csv")
    quiet = Console(file=io.StringIO(), width=200)

    def load_all() -> None:
        for folder, company in (("USMF", "USMF"), ("GBSI", "GBSI"), ("multi-company", None)):
            run = land([sample_dir / folder], base, LoadOptions(company=company), console=quiet)
            if run.failed:
                raise SystemExit(f"p2c load {folder} failed:\n{quiet.file.getvalue()}")  # type: ignore[attr-defined]

    _, timings["load"] = _timed("p2c load (3 folders)", load_all)
    return base, timings


def raw_counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute("select table_name from information_schema.tables where table_schema = 'raw'")
        names = [row[0] for row in tables.fetchall() if not row[0].startswith("_")]
        return {
            n: con.execute(f"select count(*) from raw.{quote_identifier(n)}").fetchone()[0] for n in names
        }


def p2c_build(db: Path, target: Path) -> float:
    env = {**os.environ, "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target / "logs")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "p2c.cli", "build", "--db", str(db)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:])
        raise SystemExit(f"p2c build on {db.name} exited {done.returncode}")
    return seconds


def compile_project(db: Path, target: Path) -> dict[str, Any]:
    """Seeds in place and every node compiled: the direct run then only executes SQL."""
    env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target / "logs")}
    try:
        for command in ("seed", "compile"):
            outcome = invoke_dbt(dbt_args(command, extra=["--quiet"]), db, extra_env=env)
            if not outcome.success:
                raise SystemExit(f"dbt {command} failed: {outcome.exception or outcome.nodes}")
    finally:
        release_duckdb()
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def _relation(node: dict[str, Any]) -> str:
    return f"{quote_identifier(node['schema'])}.{quote_identifier(node.get('alias') or node['name'])}"


def run_direct(db: Path, manifest: dict[str, Any]) -> tuple[float, float, int]:
    nodes = manifest["nodes"]
    models = {
        uid: n
        for uid, n in nodes.items()
        if n["resource_type"] == "model" and n["config"]["materialized"] != "ephemeral"
    }
    order = TopologicalSorter(
        {uid: [d for d in n["depends_on"]["nodes"] if d in models] for uid, n in models.items()}
    ).static_order()
    tests = [n for n in nodes.values() if n["resource_type"] == "test"]
    with duckdb.connect(str(db)) as con:
        start = time.perf_counter()
        for uid in order:
            node = models[uid]
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            con.execute(f"create schema if not exists {quote_identifier(node['schema'])}")
            con.execute(f"create or replace {kind} {_relation(node)} as (\n{node['compiled_code']}\n)")
        models_seconds = time.perf_counter() - start
        start = time.perf_counter()
        failing = 0
        for node in tests:
            (count,) = con.execute(f"select count(*) from (\n{node['compiled_code']}\n)").fetchone()
            failing += int(count > 0) if node["config"].get("severity", "error").lower() == "error" else 0
        tests_seconds = time.perf_counter() - start
    return models_seconds, tests_seconds, failing


def target_counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema in ('dualwrite', 'archive') order by all"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(
                f"select count(*) from {quote_identifier(s)}.{quote_identifier(t)}"
            ).fetchone()[0]
            for s, t in rows
        }


def one_round(base: Path, workdir: Path, round_no: int) -> tuple[dict[str, float], dict[str, int]]:
    """One p2c build and one direct run on fresh copies of the base file. Odd rounds run the direct side
    first, so that neither side always meets the warmer caches."""
    empty, built, direct = (workdir / f"{name}.duckdb" for name in ("empty", "built", "direct"))
    for path in (empty, built, direct):
        path.unlink(missing_ok=True)
    for target in ("t0", "t1", "t2"):
        shutil.rmtree(workdir / target, ignore_errors=True)
    with duckdb.connect(str(empty)) as con:
        ensure_raw_relations(con)
    shutil.copyfile(base, built)
    shutil.copyfile(base, direct)
    timings: dict[str, float] = {}

    def build_side() -> None:
        # Every dbt run parses from scratch (a fresh target dir): the same conditions for all of them.
        timings["p2c_build"] = _timed("p2c build", p2c_build, built, workdir / "t1")[1]
        timings["fixed_startup"] = _timed(
            "p2c build, empty raw (fixed start-up)", p2c_build, empty, workdir / "t0"
        )[1]

    def direct_side() -> None:
        manifest, timings["compile"] = _timed(
            "dbt seed + compile (not counted)", compile_project, direct, workdir / "t2"
        )
        (models_s, tests_s, failing), _ = _timed(
            "direct SQL (models, then data tests)", run_direct, direct, manifest
        )
        timings["direct_models"], timings["direct_tests"] = models_s, tests_s
        print(f"  direct models {models_s:.1f} s, data tests {tests_s:.1f} s, failing error tests {failing}")

    for side in (direct_side, build_side) if round_no % 2 else (build_side, direct_side):
        side()
    built_counts, direct_counts = target_counts(built), target_counts(direct)
    if built_counts != direct_counts:
        raise SystemExit(f"row counts differ: p2c build {built_counts} vs direct {direct_counts}")
    return timings, built_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=2000, help="rows per entity and company (full: 500000)")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "generated" / "build")
    parser.add_argument("--reuse", action="store_true", help="reuse the base database of a previous run")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the medians are reported")
    options = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    workdir: Path = options.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(PROJECT_DIR)

    print(f"scale {options.scale} (rows per entity and company), workdir {workdir}", flush=True)
    base = workdir / "base.duckdb"
    prepared: dict[str, float] = {}
    if not (options.reuse and base.exists()):
        base, prepared = prepare_base(workdir, options.scale)
    landed = raw_counts(base)
    print(f"  raw rows: {landed}", flush=True)

    rounds: list[dict[str, float]] = []
    for round_no in range(options.repeat):
        print(f"round {round_no + 1} of {options.repeat}", flush=True)
        timings, target_rows = one_round(base, workdir, round_no)
        rounds.append(timings)
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    budget = ALLOWED_RATIO * median["direct_models"] + median["fixed_startup"]
    result = {
        "scale": options.scale,
        "repeat": options.repeat,
        "raw_rows": landed,
        "target_rows": target_rows,
        "seconds_prepare": {k: round(v, 2) for k, v in prepared.items()},
        "seconds_median": {k: round(v, 2) for k, v in median.items()},
        "seconds_rounds": [{k: round(v, 2) for k, v in r.items()} for r in rounds],
        "ratio_build_to_direct_models": round(median["p2c_build"] / median["direct_models"], 2),
        "ratio_build_to_direct_models_and_tests": round(
            median["p2c_build"] / (median["direct_models"] + median["direct_tests"]), 2
        ),
        "ratio_build_minus_startup_to_direct_models": round(
            (median["p2c_build"] - median["fixed_startup"]) / median["direct_models"], 2
        ),
        "budget_seconds": round(budget, 2),
        "within_budget": median["p2c_build"] <= budget,
        "cpus": os.cpu_count(),
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "duckdb": duckdb.__version__,
    }
    (workdir / "results.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
