"""The target rows of one dualwrite table, streamed from DuckDB in chunks, ready to be turned into updates.

For every lookup to another migrated table (an order's customer, a line's order, a contact's parent account)
the query also brings the referenced row's record id, joined in DuckDB by the lookup's target key within the
same company: lookups to migrated records are bound by their record id, with no query to Dataverse. Every
row comes, done or not (each run compares every row with Dataverse): each carries what the earlier runs
against the same environment left of it — the values hash of its latest outcome when that was done, and
the intent of a write a killed run had in flight."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from loaders.catalog import cursor_of
from loaders.sql import quote_identifier
from p2c.contract.dataverse import COMPANY_COLUMN, TableContract
from p2c.upload.store import latest_outcome_sql, open_intents_sql

REF_PREFIX = "__ref__"  # column alias of a joined referenced record id
ROW_KEY = "__row_key"
DONE_HASH = "__done_hash"
DONE_RUN = "__done_run"
INTENT_HASH = "__intent_hash"
INTENT_RUN = "__intent_run"
_MEMORY = (DONE_HASH, DONE_RUN, INTENT_HASH, INTENT_RUN)


@dataclass(frozen=True)
class TargetRow:
    table: str
    row_key: str  # the record id, or file#sheet#row for a row exported without one
    record_id: str | None
    company: str | None
    business_key: str
    values: dict[str, Any]  # every column of the model
    referenced_ids: dict[str, str | None]  # lookup column -> record id of the migrated row it names
    done_hash: str | None = None  # the values an earlier run recorded done (updated/unchanged), latest
    done_run: str | None = None
    intent_hash: str | None = None  # the values a killed run was writing when it stopped
    intent_run: str | None = None


def row_key_sql(contract: TableContract, alias: str = "t") -> str:
    rid = f"{alias}.{quote_identifier(contract.record_id_column)}"
    provenance = (
        f"{alias}._source_file || '#' || coalesce({alias}._source_sheet, '') || '#' || "
        f"cast({alias}._source_row as varchar)"
    )
    return f"coalesce(lower(cast({rid} as varchar)), {provenance})"


def _migrated_joins(
    contract: TableContract, contracts: dict[str, TableContract]
) -> tuple[list[str], list[str]]:
    """Select items and joins bringing the record id of each lookup's migrated target row."""
    by_entity_set = {c.entity_set: c for c in contracts.values()}
    selects, joins = [], []
    for index, lookup in enumerate(contract.lookups.values()):
        target = by_entity_set.get(lookup.target_entity_set)
        if target is None:
            continue  # a reference table (company, customer group, ...): resolved in Dataverse
        alias = f"r{index}"
        conditions = [
            f"{alias}.{quote_identifier(lookup.target_key[0])} = t.{quote_identifier(lookup.column)}"
        ]
        if COMPANY_COLUMN in lookup.target_key[1:] and COMPANY_COLUMN in contract.columns:
            conditions.append(f"{alias}.{COMPANY_COLUMN} = t.{COMPANY_COLUMN}")
        joins.append(f"left join {target.relation.sql_name} {alias} on " + " and ".join(conditions))
        rid = quote_identifier(target.record_id_column)
        selects.append(f"cast({alias}.{rid} as varchar) as {quote_identifier(REF_PREFIX + lookup.column)}")
    return selects, joins


def count_rows(con: duckdb.DuckDBPyConnection, contract: TableContract) -> int:
    # fetchall, not fetchone: an unfinished result would block the next statement on this connection
    [total_row] = con.execute(f"select count(*) from {contract.relation.sql_name}").fetchall()
    return int(total_row[0] if total_row else 0)


def pending_rows(
    con: duckdb.DuckDBPyConnection,
    contract: TableContract,
    contracts: dict[str, TableContract],
    environment_id: str,
    run_id: str,
    chunk_size: int,
) -> Iterator[list[TargetRow]]:
    """Every row of the table, in chunks of `chunk_size`, with what earlier runs against `environment_id`
    (the environment's identity) recorded of it; streamed: no ORDER BY, which would make DuckDB materialize
    and sort every row before the first chunk (a million rows: hundreds of MiB)."""
    selects, joins = _migrated_joins(contract, contracts)
    row_key = row_key_sql(contract)
    sql = (
        f"select t.*, {row_key} as {ROW_KEY}"
        + "".join(f", {s}" for s in selects)
        + f", case when d.status in ('updated', 'unchanged') then d.values_hash end as {DONE_HASH}"
        + f", d.run_id as {DONE_RUN}, i.values_hash as {INTENT_HASH}, i.run_id as {INTENT_RUN}"
        + f" from {contract.relation.sql_name} t "
        + " ".join(joins)
        + f" left join ({latest_outcome_sql(contract.table)}) d on d.row_key = {row_key}"
        + f" left join ({open_intents_sql(contract.table)}) i on i.row_key = {row_key}"
    )
    # its own cursor: the caller records results on the connection while this one streams
    cursor = cursor_of(con)
    # The first chunks are small, so that the first writes go out after one round of reads instead of a
    # whole chunk's: 1/4, 1/2, then full chunks.
    size = max(1, chunk_size // 4)
    try:
        cursor.execute(sql, [environment_id, environment_id, run_id])
        names = [d[0] for d in cursor.description or []]
        while True:
            batch = cursor.fetchmany(size)
            size = min(chunk_size, size * 2)
            if not batch:
                return
            yield [_target_row(contract, dict(zip(names, values, strict=True))) for values in batch]
    finally:
        cursor.close()


def business_key_text(contract: TableContract, values: dict[str, Any]) -> str:
    return " ".join("" if values.get(c) is None else str(values[c]) for c in contract.business_key)


def _target_row(contract: TableContract, row: dict[str, Any]) -> TargetRow:
    referenced = {k[len(REF_PREFIX) :]: v for k, v in row.items() if k.startswith(REF_PREFIX)}
    values = {
        k: v for k, v in row.items() if not k.startswith(REF_PREFIX) and k != ROW_KEY and k not in _MEMORY
    }
    record_id = values.get(contract.record_id_column)
    company = values.get(COMPANY_COLUMN)
    return TargetRow(
        table=contract.table,
        row_key=str(row[ROW_KEY]),
        record_id=str(record_id).lower() if record_id else None,
        company=str(company) if company is not None else None,
        business_key=business_key_text(contract, values),
        values=values,
        referenced_ids=referenced,
        done_hash=row[DONE_HASH],
        done_run=row[DONE_RUN] if row[DONE_HASH] else None,
        intent_hash=row[INTENT_HASH],
        intent_run=row[INTENT_RUN],
    )


def rows_without_record_id(
    con: duckdb.DuckDBPyConnection,
    contract: TableContract,
    contracts: dict[str, TableContract],
    chunk_size: int = 2000,
) -> Iterator[TargetRow]:
    """The rows exported without their record id, with their lookups' referenced ids (as `pending_rows`
    brings them): what `--match` identifies, all of them before the table's first chunk (matching.py)."""
    selects, joins = _migrated_joins(contract, contracts)
    rid = quote_identifier(contract.record_id_column)
    sql = (
        f"select t.*, {row_key_sql(contract)} as {ROW_KEY}"
        + "".join(f", {s}" for s in selects)
        + "".join(f", null as {name}" for name in _MEMORY)
        + f" from {contract.relation.sql_name} t "
        + " ".join(joins)
        + f" where coalesce(cast(t.{rid} as varchar), '') = ''"
    )
    cursor = cursor_of(con)  # its own cursor: it may run beside the connection's other work
    try:
        cursor.execute(sql)
        names = [d[0] for d in cursor.description or []]
        while batch := cursor.fetchmany(chunk_size):
            yield from (_target_row(contract, dict(zip(names, values, strict=True))) for values in batch)
    finally:
        cursor.close()
