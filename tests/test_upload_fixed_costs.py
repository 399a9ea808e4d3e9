"""What a run spends besides its writes: the requests of its uniqueness checks, the order of its tables, and
the bookkeeping of its outcomes (see benchmarks/bench_upload.py `--only job` for the whole job's figure)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import quote

from p2c.contract.dataverse import TableContract
from p2c.upload.runner import write_order
from p2c.upload.uniqueness import MOST_FILTER_CHARACTERS, _filters


def test_uniqueness_queries_fill_the_url_instead_of_spending_a_request_per_few_rows() -> None:
    # every query is one request of the service-protection budget: 2,000 rows' keys in a handful of them
    terms = [
        f"(accountnumber eq 'US-{n:06d}' and _msdyn_company_value eq 0b4e6a3c-1f2d-4e5f-8a9b-{n:012d})"
        for n in range(2000)
    ]
    filters = list(_filters(terms))
    assert len(filters) <= 12
    assert all(len(quote(f)) <= MOST_FILTER_CHARACTERS + 100 for f in filters)
    assert [t for f in filters for t in f.split(" or ")] == terms  # each row once, in order
    assert list(_filters(terms[:1])) == terms[:1]
    assert list(_filters([])) == []


def _contracts(*tables: str) -> list[TableContract]:
    return [cast(TableContract, SimpleNamespace(table=t)) for t in tables]


def test_tables_whose_writes_are_read_back_are_written_first() -> None:
    # a read-back after the run's last writes waits for the spent execution budget: the tables whose
    # admin-written records are read back go first, the others (accounts, contacts) hide their read-backs
    contracts = _contracts("account", "contact", "quote", "quotedetail", "salesorder", "salesorderdetail")
    assert [c.table for c in write_order(contracts)] == [
        "quote",
        "quotedetail",
        "salesorder",
        "salesorderdetail",
        "account",
        "contact",
    ]
    assert [c.table for c in write_order(_contracts("contact", "account"))] == ["contact", "account"]


def test_recording_outcomes_and_intents_does_not_load_arrow(tmp_path: Path) -> None:
    # Arrow's first use imports pandas (about a second) while the run's first writes wait for it
    script = textwrap.dedent(
        f"""
        import sys
        from datetime import datetime
        import duckdb
        from p2c.upload.store import IntentLog, Outcome, OutcomeStatus, ensure_upload_schema, record_outcomes
        con = duckdb.connect({str(tmp_path / "db.duckdb")!r})
        ensure_upload_schema(con)
        IntentLog(con).add("run-1", "account", [("k1", "id-1", "h1"), ("k2", None, "h2")])
        moment = datetime(2026, 12, 7, 3, 0, 0)
        record_outcomes(con, "run-1", [
            Outcome("account", "k1", "id-1", "A 1", "USMF", OutcomeStatus.UPDATED, 204,
                    columns_written=("name", "accountnumber"), started_at=moment, finished_at=moment,
                    values_hash="h1"),
            Outcome("account", "k3", None, "A 3", None, OutcomeStatus.FAILED, None, "p2c:x", "why",
                    retryable=True),
        ])
        print(con.execute("select row_key, status, columns_written, started_at, retryable, run_id "
                          "from upload.results order by row_key").fetchall())
        print(con.execute("select row_key from upload.intents").fetchall())
        print("pyarrow" in sys.modules, "pandas" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    rows: list[Any] = eval(lines[0], {"datetime": __import__("datetime")})  # repr of DuckDB's rows
    assert [r[0] for r in rows] == ["k1", "k3"]
    assert rows[0][1:3] == ("updated", ["name", "accountnumber"])
    assert str(rows[0][3]) == "2026-12-07 03:00:00"
    assert rows[1][4] is True and rows[0][5] == "run-1"
    assert lines[1] == "[('k2',)]"  # k1's intent is settled by its outcome, k2's stays open
    assert lines[2] == "False False"
