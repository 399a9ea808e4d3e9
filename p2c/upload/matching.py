"""`--match TABLE=COLUMN[,COLUMN...]`: identify the rows exported without their record id by columns the
user names (a contact by `emailaddress1`, or by `firstname,lastname,parentcustomerid`), never by a guess.

* The rule is checked before any work: the table is a dualwrite table of the build, each column a column of
  its model (a lookup may be named by its Dataverse attribute, `parentcustomerid`) and of the environment's
  table, of a type that compares exactly (text, whole numbers, choices, yes/no, lookups); else a usage error.
* Only rows without a record id are matched, all of a table's before its first chunk, so that two rows
  naming one record are both seen whichever chunks they fall in.
* The values are compared in Dataverse by `$filter` (literals escaped by `odata.literal`; a lookup by the
  referenced record's id, `_parentcustomerid_value eq <guid>`), many rows per query (or-ed terms up to a
  URL budget), never an empty value: a row missing one of the columns is not identified by them.
* Exactly one record: identified, and then updated by id like a row exported with it. None: not found,
  with the columns and values tried. Several: `p2c:ambiguous_match`, with how many. A record two rows
  identify, or one another row carries as its exported record id: `p2c:match_shared`, none of them sent.
* Text is compared as Dataverse's default collation compares it (case, accents and trailing spaces
  ignored): the records a query returns are assigned to the rows by that same rule.
* `upload --plan`: the rules come back from the plan (each identified row records its rule), and a row now
  identified as another record than the plan's fails with `p2c:record_changed`."""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from loaders.catalog import cursor_of
from loaders.sql import quote_identifier
from p2c.contract.dataverse import PROVENANCE_PREFIX, Lookup, TableContract
from p2c.dataverse import DataverseClient
from p2c.dataverse.odata import equals_filter, query_string
from p2c.errors import UsageError
from p2c.upload.codes import AMBIGUOUS_MATCH, MATCH_SHARED, NOT_FOUND, NOT_IDENTIFIED, RECORD_CHANGED
from p2c.upload.prepare import Identity, RowPreparer, RowProblem, json_value
from p2c.upload.rows import TargetRow, rows_without_record_id

RULE_SYNTAX = "TABLE=COLUMN[,COLUMN...]"
# Column types whose values compare exactly; dates, money and floating numbers would match by accident
MATCHABLE_TYPES = frozenset(
    {"String", "Memo", "Integer", "BigInt", "Picklist", "State", "Status", "Boolean", "Lookup", "Customer",
     "Owner", "Uniqueidentifier"}
)  # fmt: skip
LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})
# Characters of `$filter` per query: the GET URL is limited to 32,768 (dataverse-web-api.md), and the
# entity set, `$select` and the host take the rest
FILTER_BUDGET = 24_000
QUERIES_AT_ONCE = 4
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class MatchRule:
    table: str
    columns: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.table}={','.join(self.columns)}"


@dataclass(frozen=True)
class MatchColumn:
    column: str  # the model column
    lookup: Lookup | None  # a lookup column: compared by the referenced record's id


def parse_match(options: Sequence[str]) -> dict[str, MatchRule]:
    """The `--match` options, one rule per table; a malformed one is a usage error naming it."""
    rules: dict[str, MatchRule] = {}
    for option in options:
        table, sep, rest = option.partition("=")
        table = table.strip().lower()
        columns = tuple(c.strip().lower() for c in rest.split(","))
        example = "e.g. --match contact=emailaddress1 or --match contact=firstname,lastname,parentcustomerid"
        if not sep or not table or not all(columns):
            raise UsageError(f"--match {option!r}: expected {RULE_SYNTAX}", hint=example)
        bad = [name for name in (table, *columns) if not _NAME.match(name)]
        if bad:
            raise UsageError(f"--match {option!r}: {bad[0]!r} is not a logical name", hint=example)
        if len(set(columns)) != len(columns):
            raise UsageError(f"--match {option!r} names a column twice")
        if table in rules:
            raise UsageError(
                f"--match names {table} twice ({rules[table]} and {option}): one column set per table"
            )
        rules[table] = MatchRule(table, columns)
    return rules


def check_rules(
    rules: Mapping[str, MatchRule], contracts: Mapping[str, TableContract], client: DataverseClient
) -> dict[str, tuple[MatchColumn, ...]]:
    """Each rule's columns as model columns, checked against the model contract and the environment's
    metadata before any row is read: a usage error names the table or column that does not fit."""
    checked: dict[str, tuple[MatchColumn, ...]] = {}
    for table, rule in rules.items():
        contract = contracts.get(table)
        if contract is None:
            raise UsageError(
                f"--match {rule}: {table} is not a dualwrite table of this build",
                hint=f"the tables are {', '.join(contracts)}",
            )
        attributes = client.metadata.attributes(table)
        checked[table] = tuple(_column(rule, contract, name, attributes) for name in rule.columns)
    return checked


def _column(
    rule: MatchRule, contract: TableContract, name: str, attributes: Mapping[str, str]
) -> MatchColumn:
    by_attribute = [lookup for lookup in contract.lookups.values() if lookup.attribute == name]
    if name in contract.lookups:
        lookup: Lookup | None = contract.lookups[name]
    elif name not in contract.columns and len(by_attribute) == 1:
        lookup = by_attribute[0]  # `parentcustomerid` for the model's `parentcustomerid_account`
    elif name in contract.columns and not name.startswith(PROVENANCE_PREFIX):
        lookup = None
    else:
        usable = sorted(c for c in contract.columns if not c.startswith(PROVENANCE_PREFIX))
        raise UsageError(
            f"--match {rule}: the {contract.table} model has no column {name}",
            hint=f"its columns: {', '.join(usable)}",
        )
    attribute = lookup.attribute if lookup is not None else name
    kind = attributes.get(attribute)
    if kind is None:
        where = f"the environment's {contract.table} table"
        raise UsageError(f"--match {rule}: {where} has no column {attribute}")
    if kind not in MATCHABLE_TYPES or (lookup is not None and kind not in LOOKUP_TYPES):
        raise UsageError(
            f"--match {rule}: {contract.table}.{attribute} is a {kind} column, whose values do not compare "
            "exactly: name text, whole-number, choice, yes/no or lookup columns"
        )
    return MatchColumn(lookup.column if lookup is not None else name, lookup)


class Identification:
    """The `--match` rules of a run; `attach` identifies a table's rows without a record id once, when the
    runner prepares its first chunk, and hands the outcome to the table's RowPreparer."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        client: DataverseClient,
        contracts: Mapping[str, TableContract],
        rules: Mapping[str, MatchRule],
        columns: Mapping[str, tuple[MatchColumn, ...]],
        planned: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.con = con
        self.client = client
        self.contracts = dict(contracts)
        self.rules = dict(rules)
        self.columns = dict(columns)
        self.planned = dict(planned or {})  # (table, row key) -> the record id the applied plan identified

    def attach(self, preparer: RowPreparer) -> None:
        rule = self.rules.get(preparer.contract.table)
        if rule is not None and preparer.identities is None:
            preparer.identities = self.identify(preparer, rule)

    def identify(self, preparer: RowPreparer, rule: MatchRule) -> dict[str, Identity]:
        """Row key -> how each row of the table exported without a record id is identified, or why not."""
        contract = preparer.contract
        outcome: dict[str, Identity] = {}
        wanted: dict[str, tuple[tuple[Any, ...], Identity]] = {}
        terms: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows_without_record_id(self.con, contract, self.contracts):
            try:
                tried = self._tried(preparer, rule, row)
            except RowProblem as problem:
                outcome[row.row_key] = Identity(str(rule), code=problem.code, message=problem.message)
                continue
            key = _key(tried.values.values())
            wanted[row.row_key] = (key, tried)
            terms.setdefault(key, _filter_values(tried.values))
        found = self._records(preparer, terms)
        claims: dict[str, list[str]] = defaultdict(list)
        for row_key, (key, tried) in wanted.items():
            ids = found.get(key, set())
            if not ids:
                outcome[row_key] = _failed(tried, NOT_FOUND, f"no {contract.table} has {tried.shown}")
            elif len(ids) > 1:
                outcome[row_key] = _failed(
                    tried,
                    AMBIGUOUS_MATCH,
                    f"{len(ids)} {contract.table} records have {tried.shown}: a match must be unique, none "
                    "is guessed",
                )
            else:
                claims[next(iter(ids))].append(row_key)
        exported = self._exported_with_id(contract, list(claims))
        for record_id, row_keys in claims.items():
            for row_key in row_keys:
                tried = wanted[row_key][1]
                others = [k for k in row_keys if k != row_key]
                if others:
                    outcome[row_key] = _failed(
                        tried,
                        MATCH_SHARED,
                        f"{tried.shown} identifies {contract.table} {record_id}, which row(s) "
                        f"{', '.join(others)} identify too: two rows of the export for one record, none "
                        "is sent",
                    )
                elif record_id in exported:
                    outcome[row_key] = _failed(
                        tried,
                        MATCH_SHARED,
                        f"{tried.shown} identifies {contract.table} {record_id}, which row "
                        f"{exported[record_id]} carries as its exported record id: two rows of the export "
                        "for one record, not sent",
                    )
                else:
                    outcome[row_key] = self._identified(contract.table, row_key, tried, record_id)
        return outcome

    def _identified(self, table: str, row_key: str, tried: Identity, record_id: str) -> Identity:
        planned = self.planned.get((table, row_key))
        if planned is not None and planned != record_id:
            return _failed(
                tried,
                RECORD_CHANGED,
                f"{tried.shown} now identifies {table} {record_id}, the plan's record was {planned}: the "
                "environment changed since the plan",
            )
        return Identity(tried.rule, record_id, tried.values, tried.shown)

    def _tried(self, preparer: RowPreparer, rule: MatchRule, row: TargetRow) -> Identity:
        """The values the row is looked up by (a lookup: its referenced record's id); RowProblem for an
        empty one, which identifies nothing."""
        values: dict[str, Any] = {}
        shown: list[str] = []
        for match in self.columns[rule.table]:
            value = row.values.get(match.column)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise RowProblem(
                    NOT_IDENTIFIED,
                    f"exported without its record id, and its {match.column} is empty: an empty value "
                    f"identifies no record (--match {rule})",
                )
            if match.lookup is None:
                values[match.column] = json_value(value)
                shown.append(f"{match.column} = {json_value(value)!r}")
                continue
            try:
                attribute, target_id = preparer.lookup_id(row, match.lookup, value)
            except RowProblem as problem:
                raise RowProblem(
                    problem.code, f"{problem.message} (needed by --match {rule}: not identified)"
                ) from None
            values[attribute] = target_id
            shown.append(f"{match.column} = {value!r} ({match.lookup.target_entity_set} {target_id})")
        return Identity(str(rule), values=values, shown=" and ".join(shown))

    def _records(
        self, preparer: RowPreparer, terms: Mapping[tuple[Any, ...], dict[str, Any]]
    ) -> dict[tuple[Any, ...], set[str]]:
        """The ids of the records having each term's values, many terms per query."""
        if not terms:
            return {}
        entity = preparer.entity
        attributes = list(next(iter(terms.values())))
        select = list(dict.fromkeys([entity.primary_id_attribute, *attributes]))

        def read(group: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
            condition = " or ".join(f"({equals_filter(terms[key])})" for key in group)
            return list(self.client.query(entity.entity_set_name, filter=condition, select=select))

        found: dict[tuple[Any, ...], set[str]] = {key: set() for key in terms}
        groups = list(_groups(terms))
        workers = min(QUERIES_AT_ONCE, len(groups))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="p2c-match") as pool:
            for records in pool.map(read, groups):
                for record in records:
                    key = _key(record.get(a) for a in attributes)
                    if key in found:
                        found[key].add(str(record[entity.primary_id_attribute]).lower())
        return found

    def _exported_with_id(self, contract: TableContract, record_ids: list[str]) -> dict[str, str]:
        """Record id -> the row key of the row of the table exported with it, for these ids."""
        if not record_ids:
            return {}
        rid = f"lower(cast(t.{quote_identifier(contract.record_id_column)} as varchar))"
        cursor = cursor_of(self.con)
        try:
            found = cursor.execute(
                f"select {rid}, t._source_file || '#' || coalesce(t._source_sheet, '') || '#' || "
                f"cast(t._source_row as varchar) from {contract.relation.sql_name} t "
                f"where {rid} in (select unnest(?))",
                [record_ids],
            ).fetchall()
        finally:
            cursor.close()
        return {str(record_id): str(where) for record_id, where in found}


def _failed(tried: Identity, code: str, message: str) -> Identity:
    return Identity(tried.rule, None, tried.values, tried.shown, code, f"{message} (--match {tried.rule})")


def _filter_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """OData literals' Python values: a lookup's id as a GUID (unquoted), the rest as they are."""
    return {a: uuid.UUID(v) if a.startswith("_") and a.endswith("_value") else v for a, v in values.items()}


def _groups(terms: Mapping[tuple[Any, ...], dict[str, Any]]) -> Iterator[list[tuple[Any, ...]]]:
    """The terms in groups whose or-ed `$filter` stays within FILTER_BUDGET characters, URL-encoded."""
    group: list[tuple[Any, ...]] = []
    size = 0
    for key, values in terms.items():
        length = len(query_string({"f": f"({equals_filter(values)}) or "}))
        if group and size + length > FILTER_BUDGET:
            yield group
            group, size = [], 0
        group.append(key)
        size += length
    if group:
        yield group


def _key(values: Iterator[Any] | Any) -> tuple[Any, ...]:
    return tuple(_normal(value) for value in values)


def _normal(value: Any) -> Any:
    """A value as Dataverse's default collation compares it: text without case, accents or trailing spaces;
    numbers as numbers; GUIDs in lower case."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().rstrip()


# -- the plan: `upload --plan` takes the rules back from the rows the plan identified -----------------------

_IDENTIFIED = re.compile(r'"identified_by": \{')


def plan_identities(
    path: Path, document: dict[str, Any] | None = None
) -> tuple[dict[str, MatchRule], dict[tuple[str, str], str]]:
    """The `--match` rules a plan was made with and the record each identified row was given: from the
    plan's `document` when it was read already, else read row by row (a plan writes one row a line; a plan
    laid out otherwise is read whole)."""
    rules: dict[str, MatchRule] = {}
    planned: dict[tuple[str, str], str] = {}
    rows: list[dict[str, Any] | None]
    if document is not None:
        rows = list(_rows_of(document))
    else:
        try:
            with path.open(encoding="utf-8") as lines:
                rows = [_row(line) for line in lines if _IDENTIFIED.search(line)]
        except (OSError, UnicodeDecodeError):
            return rules, planned  # load_plan says what is wrong with the file
        if any(row is None for row in rows):
            rows = list(_every_row(path))
    for row in rows:
        identified = row.get("identified_by") if row else None
        if not isinstance(identified, dict) or not row:
            continue
        [rule] = parse_match([str(identified.get("match") or "")]).values()
        if rules.setdefault(rule.table, rule) != rule:
            both = f"{rules[rule.table]}, {rule}"
            raise UsageError(f"{path}: the plan identifies {rule.table} rows by two rules ({both})")
        if identified.get("record_id"):
            planned[(rule.table, str(row.get("row_key")))] = str(identified["record_id"]).lower()
    return rules, planned


def _row(line: str) -> dict[str, Any] | None:
    start = line.find('{"row_key"')
    if start < 0:
        return None
    try:
        row, _ = json.JSONDecoder().raw_decode(line, start)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def _every_row(path: Path) -> Iterator[dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    yield from _rows_of(document)


def _rows_of(document: Any) -> Iterator[dict[str, Any]]:
    tables = document.get("tables") if isinstance(document, dict) else None
    for entry in (tables or {}).values():
        for row in (entry.get("rows") if isinstance(entry, dict) else None) or []:
            if isinstance(row, dict):
                yield row
