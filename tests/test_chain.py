"""The whole chain with the real commands, as `make demo` runs it: p2c sample -> p2c load (three folders) ->
p2c build, into a fresh DuckDB file (once per session, shared with the upload tests: conftest's sample_build).
Then the migration's promises are checked on the result, with exact figures.

The sample set is deterministic (`p2c sample`, default seed 7 and scale 40: byte-identical files run after
run), and its deliberately bad rows are listed in `p2c.sample.dataset`. The expected figures below follow from
the generator's documented parameters; the only pinned draws are the random line counts (1-7 lines per order
and per quote revision). The test talks to the project only through the CLI and plain DuckDB queries, so
moving modules around does not break it."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import SampleBuild, SampleStep
from typer.testing import CliRunner

import p2c.emulator
from p2c.cli import app
from p2c.contract.artifacts import load_artifacts
from p2c.contract.dataverse import COMPANY_COLUMN, TableContract, contract_problems, read_contracts
from p2c.lineage.graph import compute_lineage
from p2c.lineage.row_provenance import RowSelector, TraceError, trace_row

REINITIALIZED = {"account", "contact", "salesorder", "salesorderdetail", "quote", "quotedetail"}
ARCHIVED = {"invoice", "invoicedetail", "product"}  # initial sync only: kept, not re-initialized
ENTITIES = REINITIALIZED | ARCHIVED

SCALE = 40  # `p2c sample` default: rows per entity and company
USMF, GBSI = "USMF", "GBSI"
COMPANIES = (USMF, GBSI)

# Orders k = 0..N-1 are invoiced when k % 12 < 9 and k % 4 != 3: 27 + 4 with k % 12 < 9, less the 7 with
# k % 4 == 3 (k = 3, 7, 15, 19, 27, 31, 39) = 24 of 40 per company, the documented "60% of the orders".
INVOICED_ORDERS = 24
# N quote rows per company; quote q has revisions 0, 1 and 2 when q % 5 == 1, else only revision 0. Five
# quotes make 7 rows, so 40 rows = quotes 0-24 (35 rows) + 25 (1) + 26 (3 revisions) + 27 (1): 28 quotes, of
# which 1, 6, 11, 16, 21 and 26 are revised (2 superseded revisions each: 28 + 6 x 2 = 40 rows).
QUOTES = 28
REVISED_QUOTES = (1, 6, 11, 16, 21, 26)
# Pinned draws (random line counts of seed 7, "about 4" per header):
ORDER_LINES = {USMF: 164, GBSI: 139}  # regular order lines; USMF also has the planted orphan line
# the lines of the 24 invoiced orders (an invoice repeats its order's lines; checked against raw below)
INVOICE_LINES = {USMF: 101, GBSI: 82}
QUOTE_LINES = {USMF: 155, GBSI: 176}  # lines of all quote revisions
SUPERSEDED_QUOTE_LINES = {USMF: 45, GBSI: 45}  # lines of revisions 0 and 1 of the 6 revised quotes

# Rows landed in raw.<entity>, per company (the Company column for the multi-company folder, else --company).
LANDED = {
    # + the two "Northwind Traders" customers (bad row 2) and "Relecloud" without a number (bad row 1)
    "account": {USMF: SCALE + 3, GBSI: SCALE},
    # + "Oskar Wikström" without a number (bad row 5); the ragged "Greta Ragnarsson" (bad row 6) is not landed
    "contact": {USMF: SCALE, GBSI: SCALE + 1},
    "product": {USMF: SCALE, GBSI: SCALE},
    # + the order ORD-0<1000+N> with an ambiguous (USMF, bad row 2) or unknown (GBSI, bad row 3) customer
    "salesorder": {USMF: SCALE + 1, GBSI: SCALE + 1},
    # + the USMF line of the missing order ORD-00999-XQZRWT (bad row 4); the two bad orders have no lines
    "salesorderdetail": {USMF: ORDER_LINES[USMF] + 1, GBSI: ORDER_LINES[GBSI]},
    "invoice": {USMF: INVOICED_ORDERS, GBSI: INVOICED_ORDERS},  # the two bad orders have no invoice
    "invoicedetail": INVOICE_LINES,
    "quote": {USMF: SCALE, GBSI: SCALE},  # N quote rows, revisions included
    "quotedetail": QUOTE_LINES,
}
# Rows the loader refuses (raw._rejects), per entity: only the ragged GBSI contact (bad row 6).
LOADER_REJECTED = {"contact": 1}

# Rows of each target table, per company.
TARGET = {
    # the two "Northwind Traders" are valid accounts (only an order naming them is ambiguous); not "Relecloud"
    ("dualwrite", "account"): {USMF: SCALE + 2, GBSI: SCALE},
    ("dualwrite", "contact"): {USMF: SCALE, GBSI: SCALE},  # GBSI: 41 landed - "Oskar Wikström"
    ("dualwrite", "salesorder"): {USMF: SCALE, GBSI: SCALE},  # 41 landed - the planted bad order
    ("dualwrite", "salesorderdetail"): ORDER_LINES,  # USMF: landed - the orphan line
    ("dualwrite", "quote"): {USMF: QUOTES, GBSI: QUOTES},  # one row per quote: its latest revision
    ("dualwrite", "quotedetail"): {
        company: QUOTE_LINES[company] - SUPERSEDED_QUOTE_LINES[company] for company in COMPANIES
    },
    ("archive", "invoice"): LANDED["invoice"],  # archive tables keep every landed row
    ("archive", "invoicedetail"): LANDED["invoicedetail"],
    ("archive", "product"): LANDED["product"],
}

# The planted bad rows in dualwrite_rejects: (entity, reason_code, company, business key). The six letters
# after a generated number (`ORD-01040-XXXXXX`) are drawn from the seed: keys are compared without them (see
# _unseeded); ORD-00999-XQZRWT is a literal of the generator and compared whole.
PLANTED_REJECTS = [
    ("account", "missing_key", USMF, None),  # bad row 1: "Relecloud" has an empty Account Number
    ("contact", "missing_key", GBSI, None),  # bad row 5: "Oskar Wikström" has an empty Contact Number
    # bad rows 2 and 3: the order after the regular ones, ORD-0<1000+N>
    ("salesorder", "ambiguous_customer", USMF, f"ORD-{1000 + SCALE:05d}"),  # "Northwind Traders": 2 accounts
    ("salesorder", "unknown_customer", GBSI, f"ORD-{1000 + SCALE:05d}"),  # "Wingtip Toys": no such customer
    # bad row 4: its first (only) line, sequence number 1
    ("salesorderdetail", "parent_order_not_initialized", USMF, "ORD-00999-XQZRWT line 1"),
]
# Every earlier revision of a revised quote is superseded by revision 2 (both companies): 2 x 6 x 2 = 24.
SUPERSEDED_QUOTES = [
    ("quote", "superseded", company, f"QUO-{1000 + quote:05d} rev {revision}")
    for company in COMPANIES
    for quote in REVISED_QUOTES
    for revision in (0, 1)
]

_SEEDED_SUFFIX = re.compile(r"\b([A-Z]{3}-0[1-9]\d{3})-[A-Z]{6}\b")  # numbers 01000+ carry a seeded suffix


def _unseeded(key: str | None) -> str | None:
    return None if key is None else _SEEDED_SUFFIX.sub(r"\1", key)


@dataclass(frozen=True)
class Chain:
    db: Path
    sample_dir: Path
    target: Path  # the build's dbt artifacts
    results: Mapping[str, SampleStep]

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def relation(self, table: str) -> str:
        """The audit models' schema may change (main, audit): find them by table name."""
        schemas = self.query(
            "select table_schema from information_schema.tables"
            " where table_name = ? and table_catalog = current_database()",
            [table],
        )
        assert len(schemas) == 1, f"{table}: expected in exactly one schema, found {schemas}"
        return f'"{schemas[0][0]}"."{table}"'

    def per_company(self, relation: str, company: str) -> dict[str, int]:
        return dict(self.query(f"select {company}, count(*) from {relation} group by all"))


@pytest.fixture(scope="module")
def chain(sample_build: SampleBuild) -> Chain:
    """The session's shared build (conftest's sample_build): every query here is read-only, on that file."""
    return Chain(
        db=sample_build.db,
        sample_dir=sample_build.sample_dir,
        target=sample_build.target,
        results=sample_build.steps,
    )


def test_every_command_exits_0(chain: Chain) -> None:
    assert list(chain.results) == ["sample", "load USMF", "load GBSI", "load multi-company", "build"]
    for name, result in chain.results.items():
        assert result.exit_code == 0, f"{name}:\n{result.output}\n{result.exception!r}"


def test_expected_figures_are_consistent() -> None:
    """The figures above agree with the generator's documented sizes (checks the test's own arithmetic)."""
    assert QUOTES + 2 * len(REVISED_QUOTES) == SCALE
    assert tuple(quote for quote in range(QUOTES) if quote % 5 == 1) == REVISED_QUOTES
    assert sum(1 for k in range(SCALE) if k % 12 < 9 and k % 4 != 3) == INVOICED_ORDERS


def test_landed_rows_per_entity_and_company(chain: Chain) -> None:
    landed = {
        entity: chain.per_company(f'raw."{entity}"', "coalesce(_company, msdyn_company)")
        for entity in ENTITIES
    }
    assert landed == LANDED


def test_target_rows_per_table_and_company(chain: Chain) -> None:
    tables = chain.query(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema in ('dualwrite', 'archive') and table_name not like 'dualwrite_%'"
    )
    assert set(tables) == set(TARGET)
    rows = {
        (schema, table): chain.per_company(f'{schema}."{table}"', "msdyn_company") for schema, table in TARGET
    }
    assert rows == TARGET


def test_planted_rows_are_where_they_belong(chain: Chain) -> None:
    # both "Northwind Traders" are initialized (2 accounts: the order naming them is the ambiguous one)
    accounts = chain.query(
        "select msdyn_company, name from dualwrite.account where name in ('Northwind Traders', 'Relecloud')"
    )
    assert sorted(accounts) == [(USMF, "Northwind Traders"), (USMF, "Northwind Traders")]
    (orphans,) = chain.query(
        "select count(*) from dualwrite.salesorderdetail where salesorderid = 'ORD-00999-XQZRWT'"
    )[0]
    assert orphans == 0
    # an invoice carries its order's lines: the archived invoice lines are the landed lines of invoiced orders
    lines_of_invoiced_orders = chain.query(
        "select line._company, count(*) from raw.salesorderdetail as line"
        " where line.salesorderid__ordernumber in"
        " (select invoice.salesorderid__ordernumber from raw.invoice as invoice"
        " where invoice._company = line._company)"
        " group by all"
    )
    assert dict(lines_of_invoiced_orders) == INVOICE_LINES


def test_loader_rejects_the_ragged_contact_row(chain: Chain) -> None:
    rows = chain.query("select file, sheet, data_row, reason, record from raw._rejects")
    assert len(rows) == sum(LOADER_REJECTED.values())
    ((file, sheet, data_row, reason, record),) = rows
    # GBSI contacts CSV, named after its view and export moment: 09:38:46 + 41 s (contacts are the second
    # export) + 7 min (the GBSI user exported later)
    assert Path(file) == chain.sample_dir / GBSI / "Mina aktiva kontakter 2026-11-25 09-46-27.csv"
    assert sheet is None
    assert data_row == SCALE + 2  # after the 40 regular contacts and "Oskar Wikström"
    assert reason.startswith("too many fields")  # a `;` typed into Business Phone, written unquoted
    assert "Greta Ragnarsson" in record


def test_rejects_are_exactly_the_planted_rows_and_superseded_revisions(chain: Chain) -> None:
    rejects = chain.relation("dualwrite_rejects")
    rows = chain.query(f"select entity, reason_code, company, business_key from {rejects}")
    # the superseded lines: every landed line of revisions 0 and 1 of a revised quote
    revised = [f"QUO-{1000 + quote:05d}-%" for quote in REVISED_QUOTES]
    superseded_lines = chain.query(
        "select msdyn_company, quoteid__quotenumber, quoteid__revisionnumber, sequencenumber"
        " from raw.quotedetail where quoteid__revisionnumber in ('0', '1')"
        f" and ({' or '.join(['quoteid__quotenumber like ?'] * len(revised))})",
        revised,
    )
    assert Counter(company for company, *_ in superseded_lines) == SUPERSEDED_QUOTE_LINES
    expected = (
        PLANTED_REJECTS
        + SUPERSEDED_QUOTES
        + [
            ("quotedetail", "superseded", company, f"{_unseeded(number)} rev {revision} line {sequence}")
            for company, number, revision, sequence in superseded_lines
        ]
    )
    actual = Counter((entity, code, company, _unseeded(key)) for entity, code, company, key in rows)
    missing, unexpected = Counter(expected) - actual, actual - Counter(expected)
    assert not missing and not unexpected, (
        f"missing: {sorted(missing, key=repr)}\nunexpected: {sorted(unexpected, key=repr)}"
    )


def test_rejects_have_reasons_and_provenance(chain: Chain) -> None:
    rejects = chain.relation("dualwrite_rejects")
    rows = chain.query(f"select entity, reason_code, reason, _source_file, _source_row from {rejects}")
    for entity, code, reason, file, row in rows:
        assert reason.startswith(code.replace("_", " ") + ": "), (entity, reason)
        assert file and row, (entity, reason)
        if code == "superseded":  # revision 2 is the latest of every revised quote
            assert "replaced by revision 2" in reason, reason
    # the keyless rejects can only be told by their file and row: the last row of each export
    keyless = chain.query(
        f"select entity, _source_file, _source_sheet, _source_row from {rejects} where business_key is null"
    )
    assert sorted(keyless) == [
        # USMF accounts workbook (first export, 9:38:46): 40 regular rows, 2 "Northwind Traders", "Relecloud"
        (
            "account",
            str(chain.sample_dir / USMF / "Active Accounts 11-25-2026 9-38-46 AM.xlsx"),
            "Active Accounts",
            SCALE + 3,
        ),
        # GBSI contacts CSV: 40 regular rows, then "Oskar Wikström" (then the ragged row, not landed)
        (
            "contact",
            str(chain.sample_dir / GBSI / "Mina aktiva kontakter 2026-11-25 09-46-27.csv"),
            None,
            SCALE + 1,
        ),
    ]


def test_reconciliation_balances_with_exact_figures(chain: Chain) -> None:
    reconciliation = chain.relation("dualwrite_reconciliation")
    rows = chain.query(
        "select entity, file_rows, loader_rejected_rows, source_rows, target_rows, rejected_rows, difference"
        f" from {reconciliation}"
    )
    rejected = Counter(entity for entity, *_ in PLANTED_REJECTS + SUPERSEDED_QUOTES)
    rejected["quotedetail"] += sum(SUPERSEDED_QUOTE_LINES.values())
    targets = {table: sum(per_company.values()) for (_, table), per_company in TARGET.items()}
    expected = {}
    for entity in ENTITIES:
        source = sum(LANDED[entity].values())
        loader = LOADER_REJECTED.get(entity, 0)
        expected[entity] = (source + loader, loader, source, targets[entity], rejected[entity], 0)
    # the sums of the tables above, spelled out:
    # entity: (file_rows, loader_rejected_rows, source_rows, target_rows, rejected_rows, difference)
    assert expected == {
        "account": (83, 0, 83, 82, 1, 0),
        "contact": (82, 1, 81, 80, 1, 0),
        "product": (80, 0, 80, 80, 0, 0),
        "salesorder": (82, 0, 82, 80, 2, 0),
        "salesorderdetail": (304, 0, 304, 303, 1, 0),
        "invoice": (48, 0, 48, 48, 0, 0),
        "invoicedetail": (183, 0, 183, 183, 0, 0),
        "quote": (80, 0, 80, 56, 24, 0),
        "quotedetail": (331, 0, 331, 241, 90, 0),
    }
    assert {entity: tuple(figures) for entity, *figures in rows} == expected


def test_same_account_number_in_two_companies(chain: Chain) -> None:
    # dual-write keys accounts by (accountnumber, company): a number may repeat across companies. Account
    # numbers are functions of the account's index (customers ACC-0<1000+sequence>-..., prospects
    # PRS-<index / 8 + 1>), so all 40 GBSI numbers exist in USMF too; USMF's planted "Northwind Traders"
    # (customer sequences N and N+1) do not.
    (shared,) = chain.query(
        "select count(*) from (select accountnumber from dualwrite.account"
        " group by accountnumber having count(distinct msdyn_company) = 2)"
    )[0]
    assert shared == SCALE
    (duplicates,) = chain.query(
        "select count(*) from (select accountnumber, msdyn_company from dualwrite.account"
        " group by accountnumber, msdyn_company having count(*) > 1)"
    )[0]
    assert duplicates == 0


def test_build_summary_printed(chain: Chain) -> None:
    output = chain.results["build"].output
    assert "target tables" in output
    assert "reconciliation" in output
    assert "OK  seeds:" in output


def test_every_dualwrite_model_declares_a_complete_contract(chain: Chain) -> None:
    contracts = read_contracts(load_artifacts(chain.target))
    # all six, in the upload's dependency order (parents before children)
    assert list(contracts) == ["account", "contact", "quote", "quotedetail", "salesorder", "salesorderdetail"]
    assert [problem for c in contracts.values() for problem in contract_problems(c)] == []


def _keyed_rows(chain: Chain, contract: TableContract) -> list[dict[str, Any]]:
    """Rows whose key is shared with another row in every column but one (the hard case for a trace that
    would keep only part of the key): per table the two rows that differ only in the last key column."""
    key = ", ".join((COMPANY_COLUMN, *contract.business_key))
    rid = contract.record_id_column
    columns = [COMPANY_COLUMN, *contract.business_key, rid, "_source_file", "_source_row"]
    rows = chain.query(
        f"select {', '.join(columns)} from {contract.relation.sql_name} order by {key} limit 2 offset 3"
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_trace_finds_exactly_one_row_by_its_whole_key_or_its_record_id(chain: Chain) -> None:
    artifacts = load_artifacts(chain.target)
    graph = compute_lineage(artifacts)
    contracts = read_contracts(artifacts)
    with duckdb.connect(str(chain.db), read_only=True) as con:
        for table, contract in contracts.items():
            rows = _keyed_rows(chain, contract)
            assert len(rows) == 2, table
            for row in rows:
                key = tuple(str(row[c]) for c in contract.business_key)
                by_key = trace_row(artifacts, con, table, RowSelector(row[COMPANY_COLUMN], key), graph)
                assert (by_key.key, by_key.source_file, by_key.source_row) == (
                    key,
                    row["_source_file"],
                    row["_source_row"],
                ), table
                if row[contract.record_id_column] is not None:
                    selector = RowSelector(record_id=str(row[contract.record_id_column]))
                    by_id = trace_row(artifacts, con, table, selector, graph)
                    assert (by_id.key, by_id.source_row) == (key, row["_source_row"]), table
            with pytest.raises(TraceError, match="give the company and"):
                trace_row(artifacts, con, table, RowSelector(USMF, ()), graph)


def test_trace_of_an_order_line_on_the_command_line(chain: Chain, tmp_path: Path) -> None:
    [(order, sequence)] = chain.query(
        "select salesorderid, sequencenumber from dualwrite.salesorderdetail"
        " where msdyn_company = 'USMF' and sequencenumber = 2 order by salesorderid limit 1"
    )
    # the trace runs `dbt compile` against --db when the build's manifest is older than the project (dbt opens
    # the file for writing): on a copy, the shared build stays untouched
    db = tmp_path / chain.db.name
    shutil.copyfile(chain.db, db)
    args = ["lineage", "trace", "salesorderdetail", USMF, order, str(sequence), "--db", str(db)]
    traced = CliRunner().invoke(app, [*args, "--target", str(chain.target)], env={"COLUMNS": "300"})
    assert traced.exit_code == 0, traced.output
    assert f"salesorderid={order}, sequencenumber={sequence} (USMF)" in traced.output
    partial = CliRunner().invoke(app, [*args[:-3], "--db", str(db), "--target", str(chain.target)])
    assert partial.exit_code == 2
    assert "found by company and salesorderid, sequencenumber" in partial.stderr


def test_the_contract_agrees_with_the_documented_schema(chain: Chain) -> None:
    """The model YAML (our contract) against the emulator's schema, which is generated from the reference
    material and never from the YAML: a wrong entity set, navigation property or target fails here."""
    documented = json.loads((Path(p2c.emulator.__file__).parent / "schema.json").read_text(encoding="utf-8"))
    tables = documented["tables"]
    entity_sets = {name: table["entity_set"] for name, table in tables.items()}
    disagreements = []
    for name, contract in read_contracts(load_artifacts(chain.target)).items():
        if entity_sets.get(name) != contract.entity_set:
            disagreements.append(
                f"{name}: entity set {contract.entity_set} (documented {entity_sets.get(name)})"
            )
            continue
        navigation = {
            (nav, entity_sets.get(target))
            for lookup in tables[name]["lookups"].values()
            for target, nav in lookup["targets"].items()
        }
        for lookup in contract.lookups.values():
            if (lookup.navigation_property, lookup.target_entity_set) not in navigation:
                disagreements.append(
                    f"{name}.{lookup.column}: {lookup.navigation_property} -> {lookup.target_entity_set}"
                    " is not a documented navigation property"
                )
        for column in contract.initialize:
            if column not in contract.lookups and column not in tables[name]["columns"]:
                disagreements.append(f"{name}.{column}: not a documented column")
    assert disagreements == []
