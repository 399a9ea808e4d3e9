"""Seed a new state file from a DuckDB file made by `p2c load`: the org as the migration leaves it
before step 8.

* Every exported record of `raw.account`, `raw.contact`, `raw.quote`, `raw.quotedetail`, `raw.salesorder`,
  `raw.salesorderdetail` (and `raw.invoice`, `raw.invoicedetail` when present) keeps its GUID and its standard
  columns. `msdynce_` columns went with the P2C solution and `msdyn_` (dual-write) columns are not set yet, so
  neither is copied. A row without a record id gets a deterministic minted GUID (counted in the report).
* Display values are turned back into stored values: choice labels through the project's `choice_labels.csv`
  seed, Yes/No labels to booleans, dates to ISO. Lookups exported as names are resolved to the record they
  name (by the exported key column such as `parentcustomerid__accountnumber`, else by primary name in the same
  company); values that cannot be resolved are left empty and counted.
* Reference data that dual-write's initial sync brings: one `cdm_company` per company seen, customer group
  `10` (the P2C default, reference §7.2) per company, currencies by ISO code, units, price lists, and the
  products of `raw.product` (`productnumber` = company code + number, the documented concatenation).
The DuckDB file is opened read-only and closed before the server starts. Lookups are found through in-memory
indexes and records inserted in bulk, table by table, in one transaction (about a million records in 90 s)."""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2c.emulator.record_state import seed_state
from p2c.emulator.records import GUID, Context, Records
from p2c.emulator.schema import Schema, Table
from p2c.emulator.seed_progress import SeedProgress, Stopwatch
from p2c.emulator.store import Store, Txn
from p2c.errors import DatabaseUnavailable

NAMESPACE = uuid.UUID("b3c1f0e2-2f0a-4d51-8a57-2c0e1d2c0e2c")
BUSINESS_TABLES = (
    "account",
    "contact",
    "quote",
    "salesorder",
    "quotedetail",
    "salesorderdetail",
    "invoice",
    "invoicedetail",
)
CUSTOMER_GROUP_DEFAULT = "10"
YES = {"yes", "true", "1", "ja", "oui", "sí", "si"}
NO = {"no", "false", "0", "nej", "non"}
CURRENCY_FALLBACK = {"us dollar": "USD", "euro": "EUR", "pound sterling": "GBP", "british pound": "GBP"}
SEED_CLIENT = "seed"


@dataclass
class SeedReport:
    records: dict[str, int] = field(default_factory=dict)
    minted_ids: dict[str, int] = field(default_factory=dict)
    unresolved_lookups: dict[str, int] = field(default_factory=dict)
    dropped_values: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def _mint(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


LANDED = "expected a DuckDB file landed by `p2c load` (its raw.account, raw.contact, ... tables)"
INSERT_CHUNK = 5000  # records per executemany: large enough to be fast, small enough for the progress bar


def check_seed_source(db_path: Path) -> None:
    """Refuse, before any state is made, a --seed-from that is missing, not a DuckDB file, or a DuckDB file
    `p2c load` did not make (DuckDB's own errors, such as a catalog error for a CSV file, say neither)."""
    import duckdb

    from loaders.catalog import connect_file
    from p2c.database import check_existing

    if not db_path.exists():
        raise DatabaseUnavailable(f"--seed-from {db_path}: no such file", hint=LANDED)
    try:
        check_existing(db_path)
    except DatabaseUnavailable as error:
        raise DatabaseUnavailable(f"--seed-from {error.message}", hint=LANDED) from None
    try:
        connection = connect_file(db_path, read_only=True)
    except duckdb.Error as error:
        raise DatabaseUnavailable(f"--seed-from {db_path}: cannot open it read-only ({error})") from None
    try:
        present = _raw_tables(connection)
    finally:
        connection.close()
    if not present & {*BUSINESS_TABLES, "product"}:
        raise DatabaseUnavailable(
            f"--seed-from {db_path} holds none of the tables `p2c load` lands "
            f"(raw.{', raw.'.join(BUSINESS_TABLES)}, raw.product)",
            hint=LANDED,
        )


def _raw_tables(connection: Any) -> set[str]:
    return {
        str(name)
        for (name,) in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchall()
    }


def _read_raw(db_path: Path) -> dict[str, list[dict[str, Any]]]:
    import duckdb

    from loaders.catalog import connect_file

    if not db_path.is_file():
        raise DatabaseUnavailable(f"--seed-from {db_path}: no such DuckDB file", hint="run `p2c load` first")
    try:
        # attached under the project's fixed catalog name: `raw."account"` is ambiguous in raw.duckdb
        connection = connect_file(db_path, read_only=True)
    except duckdb.Error as error:
        raise DatabaseUnavailable(f"--seed-from {db_path}: cannot open it read-only ({error})") from None
    try:
        present = {
            name
            for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
            ).fetchall()
        }
        tables: dict[str, list[dict[str, Any]]] = {}
        for name in (*BUSINESS_TABLES, "product", "_loads"):
            if name in present:
                cursor = connection.execute(f'SELECT * FROM raw."{name}"')
                columns = [d[0] for d in cursor.description]
                tables[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return tables
    finally:
        connection.close()


def _seed_csv(name: str) -> list[dict[str, str]]:
    """Sample reference data from the project's dbt seeds, when the project folder is there."""
    try:
        from loaders.project import seed_path

        path = seed_path(name)
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except Exception:  # an installed tool without the project folder: fall back to built-in defaults
        return []


class _Seeder:
    def __init__(self, schema: Schema, raw: dict[str, list[dict[str, Any]]]) -> None:
        self.schema = schema
        self.raw = raw
        self.report = SeedReport()
        self.rows: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # table -> id -> data
        # (table, columns) -> casefolded values -> ids: see `matching`
        self.indexes: dict[tuple[str, tuple[str, ...]], dict[tuple[str, ...], list[str]]] = {}
        self.company_of: dict[tuple[str, str], str | None] = {}
        self.labels: dict[tuple[str, str, str], int] = {}
        for entry in _seed_csv("choice_labels.csv"):
            if entry.get("value", "").lstrip("-").isdigit():
                self.labels[(entry["table_name"], entry["logical_name"], entry["label"].casefold())] = int(
                    entry["value"]
                )
        self.currencies = dict(CURRENCY_FALLBACK)
        for entry in _seed_csv("currency_codes.csv"):
            self.currencies[entry["currency_name"].casefold()] = entry["isocurrencycode"]

    def count(self, bucket: dict[str, int], name: str) -> None:
        bucket[name] = bucket.get(name, 0) + 1

    @staticmethod
    def company(row: dict[str, Any]) -> str | None:
        value = row.get("_company") or row.get("msdyn_company")
        return str(value) if value else None

    def add(self, table: str, record_id: str, data: dict[str, Any], company: str | None) -> None:
        self.rows[table][record_id] = data
        self.company_of[(table, record_id)] = company

    # --- reference data ------------------------------------------------------------------------------
    def reference_data(self) -> None:
        companies = sorted(
            {c for rows in self.raw.values() for row in rows if (c := self.company(row))}
            | {str(r["company"]) for r in self.raw.get("_loads", []) if r.get("company")}
        )
        groups = {(c, CUSTOMER_GROUP_DEFAULT) for c in companies}
        groups |= {
            (g["company"], g["customer_group_id"])
            for g in _seed_csv("customer_groups.csv")
            if g["company"] in companies
        }
        for code in companies:
            self.add(
                "cdm_company", _mint("cdm_company", code), {"cdm_companycode": code, "cdm_name": code}, code
            )
        for code, group in sorted(groups):
            self.add(
                "msdyn_customergroup",
                _mint("msdyn_customergroup", code, group),
                {
                    "msdyn_groupid": group,
                    "msdyn_company": {"id": _mint("cdm_company", code), "entity": "cdm_company"},
                },
                code,
            )
        names: set[str] = set()
        units: set[str] = set()
        price_lists: set[str] = set()
        for rows in self.raw.values():
            for row in rows:
                if row.get("transactioncurrencyid"):
                    names.add(str(row["transactioncurrencyid"]))
                for column in ("uomid", "defaultuomid"):
                    if row.get(column):
                        units.add(str(row[column]))
                if row.get("pricelevelid"):
                    price_lists.add(str(row["pricelevelid"]))
        for name in sorted(names):
            iso = self.currency_code(name)
            if iso and _mint("transactioncurrency", iso) not in self.rows["transactioncurrency"]:
                self.add(
                    "transactioncurrency",
                    _mint("transactioncurrency", iso),
                    {"isocurrencycode": iso, "currencyname": name},
                    None,
                )
        for unit in sorted(units):
            self.add("uom", _mint("uom", unit), {"name": unit, "msdyn_symbol": unit}, None)
        for price_list in sorted(price_lists):
            self.add("pricelevel", _mint("pricelevel", price_list), {"name": price_list}, None)
        product = self.schema.tables["product"]
        for index, row in enumerate(self.raw.get("product", [])):
            record_id = self.record_id("product", product, row, index)
            data = self.columns(product, row, include_dualwrite=False)
            number = row.get("productnumber")
            if number:
                data["msdyn_productnumber"] = str(number)
                data["productnumber"] = f"{self.company(row) or ''}{number}"
            self.add("product", record_id, data, self.company(row))

    def currency_code(self, name: str) -> str | None:
        if re.fullmatch(r"[A-Z]{3}", name):
            return name
        return self.currencies.get(name.casefold())

    # --- records -------------------------------------------------------------------------------------
    def matching(self, target: str, tests: list[tuple[str, Any]]) -> list[str]:
        """Ids of the `target` records whose columns equal these values (case-insensitive, as text), in
        their order. One index per (table, columns) instead of a scan per lookup: a scan made seeding time
        grow with the square of the records."""
        columns = tuple(column for column, _ in tests)
        index = self.indexes.get((target, columns))
        if index is None:
            index = self.indexes[(target, columns)] = defaultdict(list)
            for rid, data in self.rows[target].items():
                index[tuple(str(data.get(column, "")).casefold() for column in columns)].append(rid)
        return list(index.get(tuple(str(value).casefold() for _, value in tests), ()))

    def set_lookup(self, table: str, record_id: str, lookup: str, value: dict[str, str]) -> None:
        self.rows[table][record_id][lookup] = value
        for stale in [key for key in self.indexes if key[0] == table and lookup in key[1]]:
            del self.indexes[stale]  # an index on a lookup column would now be out of date

    def record_id(self, name: str, table: Table, row: dict[str, Any], index: int) -> str:
        value = row.get(table.primary_key)
        if isinstance(value, str) and GUID.match(value.strip()):
            return value.strip().lower()
        self.count(self.report.minted_ids, name)
        return _mint(name, row.get("_source_file"), row.get("_source_sheet"), row.get("_source_row"), index)

    def convert(self, table: Table, column: str, value: Any) -> Any:
        spec = table.columns[column]
        text = str(value).strip()
        if text == "":
            return None
        try:
            if spec.type in ("string", "memo", "any"):
                return text if spec.max_length is None or len(text) <= spec.max_length else None
            if spec.type == "integer":
                return int(float(text))
            if spec.type in ("decimal", "money"):
                return float(text)
            if spec.type == "boolean":
                return True if text.casefold() in YES else False if text.casefold() in NO else None
            if spec.type == "choice":
                if text.lstrip("-").isdigit():
                    number = int(text)
                else:
                    number = self.labels.get((table.logical_name, column, text.casefold()), -1)
                return number if number in spec.options else None
            if spec.type in ("datetime", "dateonly"):
                match = re.match(r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?))?", text)
                if not match:
                    return None
                if spec.type == "dateonly" or not match.group(2):
                    return match.group(1)
                clock = match.group(2) if len(match.group(2)) == 8 else match.group(2) + ":00"
                return f"{match.group(1)}T{clock}Z"
        except ValueError:
            return None
        return None

    def columns(self, table: Table, row: dict[str, Any], *, include_dualwrite: bool) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for column, value in row.items():
            if column not in table.columns or value is None or column.startswith("msdynce_"):
                continue
            if column.startswith("msdyn_") and not include_dualwrite:
                continue
            converted = self.convert(table, column, value)
            if converted is None:
                self.count(self.report.dropped_values, f"{table.logical_name}.{column}")
            else:
                data[column] = converted
        return data

    def business_records(self) -> list[tuple[str, str, dict[str, Any]]]:
        pending: list[tuple[str, str, dict[str, Any]]] = []
        for name in BUSINESS_TABLES:
            table = self.schema.tables[name]
            for index, row in enumerate(self.raw.get(name, [])):
                record_id = self.record_id(name, table, row, index)
                data = self.columns(table, row, include_dualwrite=False)
                seed_state(name, data)  # the exported state, else the table's default (record_state.py)
                if name == "contact" and not data.get("fullname"):
                    parts = [str(data[p]) for p in ("firstname", "lastname") if data.get(p)]
                    data["fullname"] = " ".join(parts) or None
                self.add(name, record_id, data, self.company(row))
                pending.append((name, record_id, row))
        return pending

    def resolve_lookups(self, pending: list[tuple[str, str, dict[str, Any]]]) -> None:
        # The lookups to resolve and their companion columns (`parentcustomerid__accountnumber`), worked out
        # once per table and set of exported columns rather than once per row: rows of a table share them.
        plans: dict[tuple[str, tuple[str, ...]], list[tuple[str, list[str], list[tuple[str, str]]]]] = {}
        for name, record_id, row in pending:
            plan = plans.get((name, tuple(row)))
            if plan is None:
                plan = plans[(name, tuple(row))] = self.lookup_plan(self.schema.tables[name], row)
            company = self.company_of[(name, record_id)]
            for lookup, targets, companion_columns in plan:
                companions = [(col, row[exported]) for exported, col in companion_columns if row[exported]]
                if not (row.get(lookup) or row.get(f"_{lookup}_value") or companions):
                    continue
                found = self.find_target(lookup, targets, row, company, companions)
                if found:
                    self.set_lookup(name, record_id, lookup, {"id": found[1], "entity": found[0]})
                else:
                    self.count(self.report.unresolved_lookups, f"{name}.{lookup}")

    @staticmethod
    def lookup_plan(table: Table, row: dict[str, Any]) -> list[tuple[str, list[str], list[tuple[str, str]]]]:
        """(lookup, its target tables, its companion columns as (exported name, target column)) per lookup
        the seed resolves: dual-write lookups (`msdyn_`) are left to the migration."""
        return [
            (
                lookup,
                list(targets),
                [(k, k.split("__", 1)[1]) for k in row if k.startswith(f"{lookup}__")],
            )
            for lookup, targets in table.lookups.items()
            if not lookup.startswith("msdyn_")
        ]

    def find_target(
        self,
        lookup: str,
        targets: list[str],
        row: dict[str, Any],
        company: str | None,
        companions: list[tuple[str, Any]],
    ) -> tuple[str, str] | None:
        guid = row.get(f"_{lookup}_value")
        if isinstance(guid, str) and GUID.match(guid.strip()):
            for target in targets:
                if guid.strip().lower() in self.rows[target]:
                    return target, guid.strip().lower()
        value = row.get(lookup)
        if lookup == "transactioncurrencyid" and value:
            iso = self.currency_code(str(value))
            return ("transactioncurrency", _mint("transactioncurrency", iso)) if iso else None
        for target in targets:
            primary_name = self.schema.tables[target].primary_name
            tests = companions or ([(primary_name, value)] if value else [])
            matches = self.matching(target, tests)
            if target == "product" and not matches and companions:
                matches = self.matching(target, [("msdyn_productnumber", v) for _, v in companions])
            same_company = [rid for rid in matches if self.company_of.get((target, rid)) in (company, None)]
            chosen = same_company if len(same_company) == 1 else matches if len(matches) == 1 else []
            if chosen:
                return target, chosen[0]
        return None


def seed_store(
    store: Store,
    schema: Schema,
    db_path: Path,
    options: dict[str, bool] | None = None,
    progress: SeedProgress | None = None,
) -> SeedReport:
    """Fill a new state file; raises DatabaseUnavailable when the DuckDB file cannot be read."""
    progress = progress or SeedProgress()
    clock = Stopwatch()
    progress.start(f"reading {db_path.name}", 1)
    raw = _read_raw(db_path)
    progress.finish(f"read {sum(len(rows) for rows in raw.values()):,} rows from {db_path} in {clock}")
    clock = Stopwatch()
    seeder = _Seeder(schema, raw)
    progress.start("preparing records and resolving lookups", 1)
    seeder.reference_data()
    pending = seeder.business_records()
    seeder.resolve_lookups(pending)
    progress.finish(f"prepared {sum(len(rows) for rows in seeder.rows.values()):,} records in {clock}")
    records = Records(schema)
    ctx = Context(SEED_CLIENT, "", dict(options or {}))
    with store.transaction() as txn:
        _insert_all(txn, records, ctx, schema, seeder, progress)
        txn.set_meta("seeded_from", str(db_path))
        txn.set_meta("seed_report", seeder.report.as_json())
    return seeder.report


def _insert_all(
    txn: Txn, records: Records, ctx: Context, schema: Schema, seeder: _Seeder, progress: SeedProgress
) -> None:
    """Insert table by table in bulk (one statement per chunk, not per record): the state is new, so an
    alternate-key value is checked against the ones seeded before it, in memory."""
    for name, rows in seeder.rows.items():
        clock = Stopwatch()
        progress.start(f"seeding {name}", len(rows))
        table = schema.tables[name]
        keys = records.keys_of(table, ctx.options)
        used: set[tuple[str, str]] = set()
        items = list(rows.items())
        for start in range(0, len(items), INSERT_CHUNK):
            chunk = items[start : start + INSERT_CHUNK]
            key_rows: list[tuple[str, str, str]] = []
            for record_id, data in chunk:
                for key in keys:
                    value = records.key_value(table, key, data)
                    if value is None:
                        continue
                    if (key.name, value) in used:
                        # as a create through the API would: the record's later keys stay unindexed too
                        dropped = f"{name}: duplicate alternate key (key left unindexed)"
                        seeder.count(seeder.report.dropped_values, dropped)
                        break
                    used.add((key.name, value))
                    key_rows.append((key.name, value, record_id))
            txn.insert_many(name, chunk, SEED_CLIENT)
            txn.add_keys(name, key_rows)
            progress.advance(len(chunk))
        if items:
            seeder.report.records[name] = len(items)
        progress.finish(f"seeded {name}: {len(items):,} records in {clock}")
