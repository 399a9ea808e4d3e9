"""Turn target rows into the updates initialization sends: which existing record (its id), and the
initialized columns with their lookups bound — plus the decision per row once its current state is known.

* The record: the id the export carried; a row exported without one is found by a query on its number
  (`IDENTITY_COLUMNS`), or, for a table the user gave `--match` columns for, by those columns (`matching.py`
  identifies every such row of the table before its first chunk and hands the outcome over as
  `identities`): exactly one match gives the id, none or several fail the row. Nothing is created.
* The values: only the columns the model contract lists under `initialize`, never the whole export row.
* Lookups: navigation property and target read from the environment's metadata (`ManyToOneRelationships`),
  the YAML being the documented default (used, and said in the run's notes, when the metadata has no such
  lookup or cannot be read; a difference between the two is noted too); a lookup to a migrated record is
  bound by that record's id, a lookup to reference data (company by code, customer group within the
  company...) by an id resolved once per value.
* The decision, against the record as Dataverse has it now: unchanged (nothing to send), update (only the
  columns that differ), not found (404), or a conflict: a company already set to another company (read-only
  once saved) is never overwritten; a key or party number another record already has (`uniqueness.py`).
* What earlier runs did: a row recorded done for exactly these values (`values_hash`) is "done before" when
  Dataverse still holds them, `done_but_differs` (sent again) when it does not; a row a killed run was
  writing is settled as that run's update when Dataverse holds the values it was sending."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from p2c.contract.dataverse import COMPANY_COLUMN, Lookup, TableContract
from p2c.dataverse import DataverseClient, DataverseError, Record, ResolutionStatus
from p2c.dataverse.errors import ServiceUnreachable
from p2c.errors import P2CError
from p2c.upload.codes import (
    COMPANY_CONFLICT,
    DONE_BUT_DIFFERS,
    IDENTITY_COLUMNS,
    NOT_FOUND,
    NOT_IDENTIFIED,
    RECORD_CHANGED,
    REFERENCE_MISSING,
)
from p2c.upload.record_state import RecordStateGate
from p2c.upload.rows import TargetRow

__all__ = [  # the codes stay importable from here, where they used to live
    "COMPANY_CONFLICT",
    "DONE_BUT_DIFFERS",
    "IDENTITY_COLUMNS",
    "NOT_FOUND",
    "NOT_IDENTIFIED",
    "RECORD_CHANGED",
    "REFERENCE_MISSING",
]


class Decision(StrEnum):
    UPDATE = "update"
    UNCHANGED = "unchanged"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    CANNOT_WRITE = "cannot_write"
    READ_ONLY = "read_only"  # a record in a state the caller may not write (record_state.py): not sent
    # recorded done for these values, but the record no longer holds them: sent again
    DONE_BUT_DIFFERS = "done_but_differs"


SENDABLE = (Decision.UPDATE, Decision.DONE_BUT_DIFFERS)  # the decisions an upload sends


@dataclass(frozen=True)
class Binding:
    """How one lookup column is written: `<navigation>@odata.bind: /<entity set>(<id>)`."""

    column: str
    attribute: str  # the lookup attribute in Dataverse (`customerid` for `customerid_account`)
    navigation_property: str
    entity_set: str
    target_table: str
    target_id_column: str


@dataclass(frozen=True)
class Identity:
    """How a row exported without its record id was identified by `--match` columns (matching.py), or why
    it was not (`record_id` None, with the code and the message)."""

    rule: str  # the --match rule, e.g. `contact=firstname,lastname,parentcustomerid`
    record_id: str | None = None
    # the Dataverse attribute -> the value compared (a lookup: the referenced record's id)
    values: dict[str, Any] = field(default_factory=dict)
    shown: str = ""  # the values as a person reads them: `emailaddress1 = 'ann@contoso.com'`
    code: str = ""
    message: str = ""

    def describe(self) -> str:
        return f"identified by {self.shown} (--match {self.rule})"

    def as_plan(self) -> dict[str, Any]:
        """What the plan records of it (`upload --plan` reads the rule back from there)."""
        return {"match": self.rule, "values": self.values, "record_id": self.record_id}


@dataclass
class Prepared:
    row: TargetRow
    record_id: str | None = None
    identity: Identity | None = None  # set when `--match` identified the row (no record id exported)
    # desired value per Dataverse attribute; a lookup as `_<attribute>_value` -> id
    desired: dict[str, Any] = field(default_factory=dict)
    bindings: dict[str, Binding] = field(default_factory=dict)  # `_<attribute>_value` -> binding
    problem_code: str = ""
    problem: str = ""

    def identity_note(self, message: str) -> str:
        """A result's message, saying how the row was identified when `--match` did it."""
        return f"{message} ({self.identity.describe()})" if self.identity else message

    @property
    def values_hash(self) -> str | None:
        """What "done" is recorded for: the desired values; None for a row that cannot be written."""
        return None if self.problem or self.record_id is None else values_hash(self.desired)


@dataclass
class Judged:
    prepared: Prepared
    decision: Decision
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # attribute -> (current, new)
    payload: dict[str, Any] = field(default_factory=dict)  # what the update sends
    etag: str | None = None
    code: str = ""
    reason: str = ""
    done_before: bool = False  # recorded done for these values, and Dataverse still holds them
    settled_run: str | None = None  # the killed run whose write in flight Dataverse holds


def values_hash(desired: dict[str, Any]) -> str:
    """A stable hash of the values a row is to have in Dataverse (attribute names and values, any order)."""
    text = json.dumps(desired, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def lookup_value_attribute(attribute: str) -> str:
    return f"_{attribute}_value"


def json_value(value: Any) -> Any:
    """A DuckDB value as the Web API takes it: dates as ISO text, decimals as numbers."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def same_value(current: Any, desired: Any) -> bool:
    if current is None or desired is None:
        return current is desired
    if isinstance(desired, bool) or isinstance(current, bool):
        return bool(current) == bool(desired)
    if isinstance(desired, int | float) and isinstance(current, int | float):
        return float(current) == float(desired)
    current_text, desired_text = str(current), str(desired)
    if len(desired_text) == 10 and desired_text[4] == "-":  # a date: Dataverse may answer with a time
        return current_text[:10] == desired_text
    return (
        current_text.lower() == desired_text.lower()
        if _is_guid(desired_text)
        else current_text == desired_text
    )


def _is_guid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


class RowPreparer:
    """Prepares the rows of one table; caches the metadata and the reference ids it resolves."""

    def __init__(self, client: DataverseClient, contract: TableContract, contracts: dict[str, TableContract]):
        self.client = client
        self.contract = contract
        self.contracts_by_set = {c.entity_set: c for c in contracts.values()}
        self.entity = client.metadata.entity(contract.table)
        self._bindings: dict[str, Binding | str] = {}
        self._lock = threading.Lock()
        self.notes: list[str] = []  # for the run summary: e.g. a navigation property taken from the YAML
        # row key -> how `--match` identified the rows exported without a record id (None: no --match for
        # this table, its built-in IDENTITY_COLUMNS are used); set by matching.Identification.attach
        self.identities: dict[str, Identity] | None = None

    # -- metadata -------------------------------------------------------------------------------------

    def binding(self, lookup: Lookup) -> Binding:
        """The environment's navigation property for a lookup column (the YAML names the target)."""
        with self._lock:
            known = self._bindings.get(lookup.column)
        if isinstance(known, Binding):
            return known
        if isinstance(known, str):
            raise P2CError(known)
        try:
            found = self._find_binding(lookup)
        except ServiceUnreachable:
            raise  # an outage past the budget stops the run; it is no row's failure
        except P2CError as error:
            with self._lock:
                self._bindings[lookup.column] = str(error)
            raise
        with self._lock:
            self._bindings[lookup.column] = found
        return found

    def _find_binding(self, lookup: Lookup) -> Binding:
        """The environment's relationship for the lookup; the model contract's navigation property when the
        environment's metadata has none for it (or cannot be read), said in the run's notes."""
        table = self.contract.table
        attributes = {lookup.column, lookup.attribute}
        candidates = []
        try:
            for relation in self.client.metadata.lookups(table):
                if relation.referencing_attribute not in attributes:
                    continue
                target = self.client.metadata.entity(relation.referenced_entity)
                if target.entity_set_name == lookup.target_entity_set:
                    candidates.append((relation, target))
        except DataverseError as error:
            return self._contract_binding(lookup, f"the environment's lookups could not be read ({error})")
        if not candidates:
            return self._contract_binding(
                lookup, f"the environment's metadata has no lookup to {lookup.target_entity_set}"
            )
        if len(candidates) > 1:
            raise P2CError(
                f"{table}.{lookup.column}: the environment's metadata has several lookups to "
                f"{lookup.target_entity_set} (the model contract expects {lookup.navigation_property})"
            )
        relation, target = candidates[0]
        if lookup.navigation_property and relation.navigation_property != lookup.navigation_property:
            self._note(
                f"{table}.{lookup.column}: the environment's navigation property is "
                f"{relation.navigation_property}, the model contract says {lookup.navigation_property}: "
                "the environment's is used"
            )
        return Binding(
            column=lookup.column,
            attribute=relation.referencing_attribute,
            navigation_property=relation.navigation_property,
            entity_set=target.entity_set_name,
            target_table=target.logical_name,
            target_id_column=target.primary_id_attribute,
        )

    def _note(self, note: str) -> None:
        with self._lock:
            if note not in self.notes:
                self.notes.append(note)

    def _contract_binding(self, lookup: Lookup, why: str) -> Binding:
        """The documented default: the YAML's navigation property; Dataverse checks it on the first write
        (a wrong name fails those rows with 0x80048d19, the rest go on)."""
        table = self.contract.table
        if not lookup.navigation_property:
            raise P2CError(f"{table}.{lookup.column}: {why}, and the model contract names no navigation "
                           "property")  # fmt: skip
        try:
            target = self.client.metadata.entity_by_set(lookup.target_entity_set)
        except (DataverseError, P2CError) as error:
            where = f"{table}.{lookup.column}: {why}; its target {lookup.target_entity_set}"
            raise P2CError(f"{where}: {error}") from None
        self._note(
            f"{table}.{lookup.column}: {why}: the model contract's navigation property "
            f"{lookup.navigation_property} is used"
        )
        return Binding(
            column=lookup.column,
            attribute=lookup.attribute,
            navigation_property=lookup.navigation_property,
            entity_set=target.entity_set_name,
            target_table=target.logical_name,
            target_id_column=target.primary_id_attribute,
        )

    def read_columns(self) -> list[str]:
        """What to read of the current records to compare (lookups as `_<attribute>_value`)."""
        columns = []
        for column in self.contract.initialize:
            lookup = self.contract.lookups.get(column)
            if lookup is None:
                columns.append(column)
                continue
            try:
                columns.append(lookup_value_attribute(self.binding(lookup).attribute))
            except ServiceUnreachable:
                raise  # an outage past the budget stops the run; it is no row's failure
            except P2CError:
                continue  # each row with a value for it fails with the reason
        columns += RecordStateGate.columns(self.contract.table)  # its state, or its parent's id
        return sorted(set(columns))

    # -- one row ------------------------------------------------------------------------------------

    def prepare(self, row: TargetRow) -> Prepared:
        prepared = Prepared(row)
        try:
            company_id = self._company_id(row)
            for column in self.contract.initialize:
                value = row.values.get(column)
                lookup = self.contract.lookups.get(column)
                if lookup is None:
                    prepared.desired[column] = json_value(value)
                    continue
                if value is None:
                    continue  # left as it is (a customer is an account or a contact, not both)
                binding = self.binding(lookup)
                target_id = self._target_id(row, lookup, binding, value, company_id)
                attribute = lookup_value_attribute(binding.attribute)
                prepared.desired[attribute] = target_id
                prepared.bindings[attribute] = binding
            if row.record_id:
                prepared.record_id = row.record_id
            elif self.identities is not None:
                prepared.identity = self._matched(row)
                prepared.record_id = prepared.identity.record_id
            else:
                prepared.record_id = self._find_record(row)
        except RowProblem as problem:
            prepared.problem_code, prepared.problem = problem.code, problem.message
        except DataverseError as error:
            prepared.problem_code, prepared.problem = error.code or REFERENCE_MISSING, str(error)
        except ServiceUnreachable:
            raise  # an outage past the budget stops the run; it is no row's failure
        except P2CError as error:
            prepared.problem_code, prepared.problem = REFERENCE_MISSING, str(error)
        return prepared

    def _company_id(self, row: TargetRow) -> str | None:
        lookup = self.contract.lookups.get(COMPANY_COLUMN)
        if lookup is None or row.company is None:
            return None
        binding = self.binding(lookup)
        return self._reference(binding, {lookup.target_key[0]: row.company}, f"company {row.company}")

    def _reference(self, binding: Binding, match: dict[str, Any], what: str) -> str:
        resolution = self.client.references.resolve(binding.entity_set, match, binding.target_id_column)
        if resolution.status is ResolutionStatus.FOUND and resolution.record_id:
            return resolution.record_id.lower()
        found = "no" if resolution.status is ResolutionStatus.NONE else "more than one"
        raise RowProblem(REFERENCE_MISSING, f"{what}: {found} {binding.entity_set} record has {match}")

    def _target_id(
        self, row: TargetRow, lookup: Lookup, binding: Binding, value: Any, company_id: str | None
    ) -> str:
        if lookup.target_entity_set in self.contracts_by_set:
            # a migrated record: its id from the export (joined in DuckDB), else found by its number
            known = row.referenced_ids.get(lookup.column)
            if known:
                return known.lower()
            target = self.contracts_by_set[lookup.target_entity_set]
            identity = IDENTITY_COLUMNS.get(target.table, {})
            key_column = lookup.target_key[0]
            if key_column not in identity:
                raise RowProblem(
                    NOT_IDENTIFIED,
                    f"{lookup.column} = {value!r}: that {target.table} was exported without its record id "
                    "and cannot be found by a unique column",
                )
            match = {identity[key_column]: json_value(value)}
            return self._reference(binding, match, f"{lookup.column} = {value!r}")
        match = {lookup.target_key[0]: json_value(value)}
        if COMPANY_COLUMN in lookup.target_key[1:]:
            if company_id is None:
                raise RowProblem(
                    REFERENCE_MISSING, f"{lookup.column}: needs the row's company, which is empty"
                )
            match[lookup_value_attribute(COMPANY_COLUMN)] = uuid.UUID(company_id)  # a GUID literal, unquoted
        return self._reference(binding, match, f"{lookup.column} = {value!r}")

    def lookup_id(self, row: TargetRow, lookup: Lookup, value: Any) -> tuple[str, str]:
        """The Dataverse attribute (`_parentcustomerid_value`) and the referenced record's id of a lookup
        value, bound as an update would bind it; RowProblem when it cannot be."""
        try:
            company_id = self._company_id(row)
            binding = self.binding(lookup)
            return lookup_value_attribute(binding.attribute), self._target_id(
                row, lookup, binding, value, company_id
            )
        except DataverseError as error:
            raise RowProblem(error.code or REFERENCE_MISSING, str(error)) from None
        except RowProblem:
            raise
        except P2CError as error:
            raise RowProblem(REFERENCE_MISSING, str(error)) from None

    def _matched(self, row: TargetRow) -> Identity:
        identity = (self.identities or {}).get(row.row_key)
        if identity is None:  # a row that came after the identification (a build in between): not guessed
            raise RowProblem(NOT_IDENTIFIED, "exported without its record id, and not among the rows --match "
                             "identified before the table's upload")  # fmt: skip
        if identity.record_id is None:
            raise RowProblem(identity.code, identity.message)
        return identity

    def _find_record(self, row: TargetRow) -> str:
        identity = IDENTITY_COLUMNS.get(self.contract.table, {})
        if not identity:
            raise RowProblem(
                NOT_IDENTIFIED,
                f"exported without its record id; a {self.contract.table} has no unique column",
            )
        match: dict[str, Any] = {}
        for column, attribute in identity.items():
            value = row.values.get(column)
            if column in self.contract.lookups:
                parent = row.referenced_ids.get(column)
                value = uuid.UUID(parent) if parent else None
            if value is None:
                raise RowProblem(
                    NOT_IDENTIFIED, f"exported without its record id, and without {column} to find it by"
                )
            match[attribute] = json_value(value)
        resolution = self.client.resolve_id(
            self.entity.entity_set_name, match, self.entity.primary_id_attribute
        )
        if resolution.status is ResolutionStatus.FOUND and resolution.record_id:
            return resolution.record_id.lower()
        found = "no record" if resolution.status is ResolutionStatus.NONE else "several records"
        raise RowProblem(NOT_IDENTIFIED, f"exported without its record id, and {found} match {match}")

    # -- the decision --------------------------------------------------------------------------------

    def judge(self, prepared: Prepared, current: Record | None) -> Judged:
        judged = self._against(prepared, current)
        row, wanted = prepared.row, prepared.values_hash
        if wanted is None:
            return judged
        if judged.decision is Decision.UNCHANGED and row.intent_hash == wanted and row.intent_run:
            judged.settled_run = row.intent_run
        elif judged.decision is Decision.UNCHANGED and row.done_hash == wanted:
            judged.done_before = True
        elif judged.decision is Decision.UPDATE and row.done_hash == wanted:
            judged.decision, judged.code = Decision.DONE_BUT_DIFFERS, DONE_BUT_DIFFERS
            judged.reason = (
                f"recorded done by run {row.done_run}, but Dataverse now holds other values for "
                f"{', '.join(sorted(judged.changes))}: sent again"
            )
        return judged

    def _against(self, prepared: Prepared, current: Record | None) -> Judged:
        if prepared.problem_code == NOT_FOUND:  # no record has the --match values (matching.py)
            return Judged(prepared, Decision.NOT_FOUND, code=NOT_FOUND, reason=prepared.problem)
        if prepared.problem or prepared.record_id is None:
            return Judged(
                prepared, Decision.CANNOT_WRITE, code=prepared.problem_code, reason=prepared.problem
            )
        if current is None:
            return Judged(
                prepared,
                Decision.NOT_FOUND,
                code=NOT_FOUND,
                reason=f"record id {prepared.record_id} is not in Dataverse (deleted since the export?)",
            )
        company_attribute = lookup_value_attribute(COMPANY_COLUMN)
        current_company = current.values.get(company_attribute)
        wanted_company = prepared.desired.get(company_attribute)
        if current_company and wanted_company and str(current_company).lower() != wanted_company:
            return Judged(
                prepared,
                Decision.CONFLICT,
                code=COMPANY_CONFLICT,
                reason=f"company is already set to another company ({current_company}); it is read-only once "
                "saved and is never overwritten",
                etag=current.etag,
            )
        judged = Judged(prepared, Decision.UNCHANGED, etag=current.etag)
        for attribute, new in prepared.desired.items():
            old = current.values.get(attribute)
            if same_value(old, new):
                continue
            judged.changes[attribute] = (old, new)
            binding = prepared.bindings.get(attribute)
            if binding is not None:
                judged.payload[f"{binding.navigation_property}@odata.bind"] = f"/{binding.entity_set}({new})"
            else:
                judged.payload[attribute] = new
        if judged.changes:
            judged.decision = Decision.UPDATE
        return judged


class RowProblem(Exception):
    """Why one row cannot be written: its `p2c:` code and a message naming the column and the value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
