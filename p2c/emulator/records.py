"""Record semantics of the Web API: keys in URLs, `@odata.bind`, validation, create/update/upsert/delete and
the bulk messages, all against one open `Txn` so the caller decides what is atomic.

Behaviour follows `dataverse-web-api.md`:
* PATCH is an upsert; `If-Match: *` never creates (404), `If-None-Match: *` never updates (412), an ETag
  `If-Match` that differs gives 412 (§2.2);
* navigation property names are case-sensitive: a wrong one is 0x80048d19; a bind to a missing row is
  0x80040217 (by id) or 0x80060891 (by key) (§2.4, §6.2);
* alternate keys are unique (0x80060892, 412), choice values are checked (0x8004431A), text lengths are
  checked
  (0x80044331) (§6.2, §3.2);
* Create/Update/UpsertMultiple on a standard table roll back as a whole (§3.1).
Where the reference gives no code, the choice is noted at the spot (UNCONFIRMED)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from p2c.emulator.api_errors import (
    ApiError,
    invalid_property,
    not_found_by_id,
    not_found_by_key,
    payload_error,
    resource_not_found,
    undeclared_navigation,
)
from p2c.emulator.record_state import RecordStateRules
from p2c.emulator.schema import Column, Key, Schema, Table
from p2c.emulator.store import KeyConflict, Row, Txn

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})?)?$")
# Control characters other than tab, line feed and carriage return: Dataverse refuses them in text
# (InvalidCharactersInField, reference §2.5).
INVALID_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# The reference documents 0x80044331 ("A validation error occurred.") only for a string too long. For a
# number out of range, a date before 1753 and invalid characters it gives no code: the emulator's choice
# is the same 400 0x80044331 (clients must treat any 400 validation error alike). UNCONFIRMED.
VALIDATION_ERROR = "0x80044331"
FORMATTED_VALUE = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION_PROPERTY = "Microsoft.Dynamics.CRM.associatednavigationproperty"
SYSTEM_COLUMNS = ("versionnumber", "createdon", "modifiedon")
P2C_ACCOUNT_NUMBER_KEY = Key("msdynce_AccountNumber", ("accountnumber",))
EDM_TYPES = {
    "string": "Edm.String",
    "memo": "Edm.String",
    "integer": "Edm.Int32",
    "decimal": "Edm.Decimal",
    "money": "Edm.Decimal",
    "boolean": "Edm.Boolean",
    "choice": "Edm.Int32",
    "datetime": "Edm.DateTimeOffset",
    "dateonly": "Edm.Date",
}


@dataclass(frozen=True)
class KeyRef:
    """How a URL names a record: by GUID, or by the values of one alternate key."""

    table: Table
    record_id: str | None = None
    key: Key | None = None
    values: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        if self.record_id:
            return self.record_id
        return ",".join(f"{name}={value!r}" for name, value in self.values)


@dataclass
class Context:
    """Who is writing and where: the client id (for the write log) and the service root URL."""

    client_id: str
    service_root: str  # https://127.0.0.1:P/api/data/v9.2/
    options: Mapping[str, bool] = field(default_factory=dict)
    content_ids: dict[str, str] = field(default_factory=dict)  # $batch Content-ID -> entity URL


def etag(version: int) -> str:
    return f'W/"{version}"'


def _split_key_segment(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts]


def _key_literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if GUID.match(text):
        return text.lower()
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    raise ApiError(
        400, "0x80060888", f"Bad Request - Error in query syntax: the key value '{text}' is not a literal."
    )


class Records:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._property_names: dict[str, frozenset[str]] = {}
        self.state_rules: RecordStateRules | None = None  # read-only Sales states (record_state.py)

    # --- names -----------------------------------------------------------------------------------------
    def table_by_set(self, entity_set: str) -> Table:
        table = self.schema.by_set.get(entity_set)
        if table is None:
            raise resource_not_found(entity_set)
        return table

    def keys_of(self, table: Table, options: Mapping[str, bool]) -> list[Key]:
        keys = list(table.keys)
        if table.logical_name == "account" and options.get("p2c_account_number_index"):
            keys.append(P2C_ACCOUNT_NUMBER_KEY)
        return keys

    def parse_key_ref(self, table: Table, segment: str, options: Mapping[str, bool]) -> KeyRef:
        """The text between the parentheses of `accounts(...)`."""
        segment = segment.strip()
        if GUID.match(segment):
            return KeyRef(table, record_id=segment.lower())
        pairs: dict[str, Any] = {}
        for part in _split_key_segment(segment):
            name, equals, value = part.partition("=")
            if not equals:
                raise self._bad_key(table)
            name = name.strip()
            match = re.fullmatch(r"_(\w+)_value", name)
            if match and match.group(1) in table.lookups:
                name = match.group(1)
            pairs[name] = _key_literal(value.strip())
        if list(pairs) == [table.primary_key] and isinstance(pairs[table.primary_key], str):
            return KeyRef(table, record_id=str(pairs[table.primary_key]).lower())
        for key in self.keys_of(table, options):
            if set(key.attributes) == set(pairs):
                return KeyRef(table, key=key, values=tuple((a, pairs[a]) for a in key.attributes))
        raise self._bad_key(table)

    @staticmethod
    def _bad_key(table: Table) -> ApiError:
        return ApiError(
            400,
            "0x80060890",
            "The key in the request URI is not valid for resource "
            f"'Microsoft.Dynamics.CRM.{table.logical_name}'. "
            "Ensure that the names and number of key properties match the declared or alternate key "
            "properties "
            f"for the resource 'Microsoft.Dynamics.CRM.{table.logical_name}'.",
        )

    def parse_entity_url(self, text: str, ctx: Context) -> KeyRef:
        """`/accounts(<id>)`, `accounts(k='v')`, a full URL, or a `$n` Content-ID reference."""
        text = text.strip()
        if text.startswith("$") and text[1:].isdigit():
            if text not in ctx.content_ids:
                raise ApiError(
                    400, "0x0", f"Content-ID Reference: '{text}' does not exist in the batch context."
                )
            text = ctx.content_ids[text]
        if "/api/data/" in text:
            text = text.split("/api/data/", 1)[1].split("/", 1)[1]
        text = text.lstrip("/")
        match = re.fullmatch(r"(\w+)\((.+)\)", text)
        if not match:
            raise ApiError(400, "0x80048d19", f"The URI '{text}' is not a valid entity reference.")
        table = self.table_by_set(match.group(1))
        return self.parse_key_ref(table, match.group(2), ctx.options)

    # --- finding ---------------------------------------------------------------------------------------
    def key_value(self, table: Table, key: Key, values: Mapping[str, Any]) -> str | None:
        normalised: list[Any] = []
        for attribute in key.attributes:
            value = values.get(attribute)
            if isinstance(value, dict):  # a stored lookup
                value = value.get("id")
            if value is None:
                return None  # Dataverse key indexes leave out rows with an empty key column (derived)
            normalised.append(value.casefold() if isinstance(value, str) else value)
        return json.dumps(normalised)

    def find(self, txn: Txn, ref: KeyRef) -> Row | None:
        if ref.record_id:
            return txn.get(ref.table.logical_name, ref.record_id)
        assert ref.key is not None
        value = self.key_value(ref.table, ref.key, dict(ref.values))
        found = txn.find_key(ref.table.logical_name, ref.key.name, value) if value else None
        return txn.get(ref.table.logical_name, found) if found else None

    def not_found(self, ref: KeyRef, code: str = "0x80040217") -> ApiError:
        if ref.record_id:
            return not_found_by_id(ref.table.logical_name, ref.record_id, code)
        return not_found_by_key(ref.table.logical_name)

    def entity_url(self, ctx: Context, table: Table, record_id: str) -> str:
        return f"{ctx.service_root}{table.entity_set}({record_id})"

    # --- validation ------------------------------------------------------------------------------------
    def _check_value(self, table: Table, column: Column, value: Any) -> Any:
        if value is None:
            return None
        kind = column.type

        def invalid(detail: str) -> ApiError:
            return ApiError(400, VALIDATION_ERROR, f"A validation error occurred.  {detail}")

        def out_of_range() -> ApiError:
            return invalid(
                f"The value {value} of '{column.name}' on record of type '{table.logical_name}' is outside "
                f"the valid range. Accepted range: {column.minimum} to {column.maximum}."
            )

        def wrong_type() -> ApiError:
            return payload_error(
                table.entity_set,
                f"Cannot convert the literal '{value}' to the expected type "
                f"'{EDM_TYPES.get(kind, 'Edm.String')}'.",
            )

        if kind in ("string", "memo"):
            if not isinstance(value, str):
                raise wrong_type()
            if column.max_length is not None and len(value) > column.max_length:
                raise ApiError(
                    400,
                    "0x80044331",
                    f"A validation error occurred.  The length of the '{column.name}' attribute of the "
                    f"'{table.logical_name}' entity exceeded the maximum allowed length of "
                    f"'{column.max_length}'.",
                )
            if INVALID_TEXT.search(value):
                raise invalid(
                    f"The '{column.name}' attribute of the '{table.logical_name}' entity contains invalid "
                    "characters (InvalidCharactersInField)."
                )
        elif kind in ("integer", "choice"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong_type()
            if kind == "integer" and not _within(value, column):
                raise out_of_range()
            if kind == "choice" and value not in column.options:
                accepted = ",".join(str(v) for v in sorted(column.options))
                raise ApiError(
                    400,
                    "0x8004431A",
                    f"A validation error occurred. The value {value} of '{column.name}' on record of type "
                    f"'{table.logical_name}' is outside the valid range. Accepted Values: {accepted}",
                )
        elif kind in ("decimal", "money"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise wrong_type()
            if not _within(value, column):
                raise out_of_range()
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise wrong_type()
        elif kind == "datetime":
            if not isinstance(value, str) or not DATETIME.match(value) or ("Z" in value and "+" in value):
                raise wrong_type()
        elif kind == "dateonly" and (not isinstance(value, str) or not DATE.match(value)):
            raise wrong_type()
        elif kind not in ("datetime", "dateonly"):
            raise wrong_type()  # a type the emulator does not know: refuse rather than store unchecked
        if (
            kind in ("datetime", "dateonly")
            and isinstance(column.minimum, str)
            and value[:10] < column.minimum
        ):
            raise invalid(
                f"The value '{value}' of '{column.name}' on record of type '{table.logical_name}' is before "
                f"the minimum date and time value {column.minimum}."
            )
        return value

    def _resolve_bind(
        self, txn: Txn, ctx: Context, table: Table, navigation: str, value: Any
    ) -> dict[str, str] | None:
        nav = table.navigations.get(navigation)
        if nav is None:
            raise undeclared_navigation(table.entity_set, navigation)
        if value is None:
            return None
        if not isinstance(value, str):
            raise payload_error(
                table.entity_set, f"The value of '{navigation}@odata.bind' must be a URI string."
            )
        ref = self.parse_entity_url(value, ctx)
        if ref.table.logical_name != nav.target:
            raise payload_error(
                table.entity_set,
                f"A resource reference of type 'Microsoft.Dynamics.CRM.{ref.table.logical_name}' does "
                "not match "
                f"the type 'Microsoft.Dynamics.CRM.{nav.target}' of the navigation property '{navigation}'.",
            )
        target = self.find(txn, ref)
        if target is None:
            raise self.not_found(ref)
        return {"id": target.id, "entity": nav.target}

    def prepare(
        self, txn: Txn, ctx: Context, table: Table, body: Mapping[str, Any], *, creating: bool
    ) -> dict[str, Any]:
        """The stored values a request body sets, validated; annotations other than binds are ignored."""
        values: dict[str, Any] = {}
        bound_attributes: dict[str, str] = {}
        for name, value in body.items():
            if name.endswith("@odata.bind"):
                navigation = name[: -len("@odata.bind")]
                resolved = self._resolve_bind(txn, ctx, table, navigation, value)
                attribute = table.navigations[navigation].attribute
                if not creating and attribute in table.fixed_lookups:
                    # Not valid for update (schema.json says why it is UNCONFIRMED); same code as columns.
                    raise ApiError(
                        400,
                        "0x80040203",
                        f"The '{attribute}' attribute is not valid for update on '{table.logical_name}'.",
                    )
                if attribute in bound_attributes:
                    raise payload_error(
                        table.entity_set,
                        f"'{attribute}' is bound twice ({bound_attributes[attribute]}, {navigation}).",
                    )
                bound_attributes[attribute] = navigation
                values[attribute] = resolved
                continue
            if "@" in name:
                continue  # @odata.type, @odata.id, @odata.etag and instance annotations
            if name == table.primary_key:
                if not isinstance(value, str) or not GUID.match(value):
                    raise payload_error(
                        table.entity_set, f"Cannot convert the literal '{value}' to 'Edm.Guid'."
                    )
                if creating:
                    values[name] = value.lower()
                continue
            column = table.columns.get(name)
            if column is None:
                # A lookup is set only through `<navigation>@odata.bind`, never as a plain property.
                raise invalid_property(table.logical_name, name)
            if column.read_only or name in SYSTEM_COLUMNS:
                # The reference gives no code for writing a read-only column:
                # UNCONFIRMED, 0x80040203 (InvalidArgument) is used.
                raise ApiError(
                    400, "0x80040203", f"The '{name}' attribute of '{table.logical_name}' is read-only."
                )
            if not creating and not column.updatable:
                raise ApiError(
                    400,
                    "0x80040203",
                    f"The '{name}' attribute is not valid for update on '{table.logical_name}'.",
                )
            values[name] = self._check_value(table, column, value)
        return values

    # --- writes ----------------------------------------------------------------------------------------
    def _computed(self, table: Table, data: dict[str, Any]) -> None:
        if table.logical_name == "contact" and ("firstname" in data or "lastname" in data):
            data["fullname"] = " ".join(p for p in (data.get("firstname"), data.get("lastname")) if p) or None

    def index_keys(
        self,
        txn: Txn,
        ctx: Context,
        table: Table,
        record_id: str,
        data: Mapping[str, Any],
        before: Mapping[str, Any] | None = None,
    ) -> None:
        """Index the record's alternate-key values (`before`: its data before an update)."""
        keys = self.keys_of(table, ctx.options)
        old = None if before is None else {k.name: self.key_value(table, k, before) for k in keys}
        try:
            txn.set_keys(
                table.logical_name, record_id, {k.name: self.key_value(table, k, data) for k in keys}, old
            )
        except KeyConflict as conflict:
            key = next(k for k in keys if k.name == conflict.key_name)
            raise ApiError(
                412,
                "0x80060892",
                f"Entity Key {key.name} violated. A record with the same value for "
                f"{', '.join(key.attributes)} already exists. A duplicate record cannot be created. "
                "Try again with a different value for the key attributes.",
            ) from None

    def create(
        self,
        txn: Txn,
        ctx: Context,
        table: Table,
        body: Mapping[str, Any],
        *,
        record_id: str | None = None,
        key_values: Mapping[str, Any] | None = None,
    ) -> Row:
        data = self.prepare(txn, ctx, table, body, creating=True)
        record_id = (record_id or data.pop(table.primary_key, None) or str(uuid.uuid4())).lower()
        data.pop(table.primary_key, None)
        for attribute, value in (key_values or {}).items():
            if table.is_lookup(attribute):
                target = next(iter(table.lookups[attribute]))
                if txn.get(target, str(value)) is None:
                    raise not_found_by_id(target, str(value))
                data[attribute] = {"id": str(value).lower(), "entity": target}
            else:
                data[attribute] = self._check_value(table, table.columns[attribute], value)
        if txn.get(table.logical_name, record_id) is not None:
            raise ApiError(412, "0x80040237", "A record with matching key values already exists.")
        self._computed(table, data)
        txn.insert(table.logical_name, record_id, data, ctx.client_id)
        self.index_keys(txn, ctx, table, record_id, data)
        created = txn.get(table.logical_name, record_id)
        assert created is not None
        return created

    def update(
        self,
        txn: Txn,
        ctx: Context,
        table: Table,
        row: Row,
        body: Mapping[str, Any],
        *,
        ignore: tuple[str, ...] = (),
    ) -> Row:
        changes = self.prepare(
            txn, ctx, table, {k: v for k, v in body.items() if k not in ignore}, creating=False
        )
        if self.state_rules is not None:
            changes = self.state_rules.check_update(txn, table.logical_name, row, changes, ctx.client_id)
        data = dict(row.data)
        if ctx.options.get("company_read_only") and "msdyn_company" in changes:
            old, new = data.get("msdyn_company"), changes["msdyn_company"]
            if old and (new is None or new["id"] != old["id"]):
                # The UI makes Company read-only once saved; whether the API refuses is UNCONFIRMED (option).
                raise ApiError(
                    400, "0x80040203", "The 'msdyn_company' attribute is read-only once it is set."
                )
        data.update(changes)
        self._computed(table, data)
        version = txn.update(table.logical_name, row.id, data, ctx.client_id)
        self.index_keys(txn, ctx, table, row.id, data, before=row.data)
        return replace(row, version=version, data=data, modifiedon=txn.modified_at)

    def upsert(
        self,
        txn: Txn,
        ctx: Context,
        ref: KeyRef,
        body: Mapping[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> tuple[Row, bool]:
        """PATCH: update or create; returns (row, created)."""
        table = ref.table
        existing = self.find(txn, ref)
        if if_match is not None:
            if existing is None:
                # §2.2 quotes this 404 with an empty code for the GUID case.
                raise self.not_found(ref, code="")
            self._check_version(existing, if_match)
        if if_none_match is not None and if_none_match.strip() == "*" and existing is not None:
            raise ApiError(412, "", "A record with matching key values already exists.")
        key_attributes = tuple(name for name, _ in ref.values)
        if existing is not None:
            # Alternate-key values in the body are ignored on update (§2.2).
            ignore = key_attributes + tuple(
                f"{table.lookups[a][t]}@odata.bind"
                for a in key_attributes
                if a in table.lookups
                for t in table.lookups[a]
            )
            return self.update(txn, ctx, table, existing, body, ignore=ignore), False
        return self.create(txn, ctx, table, body, record_id=ref.record_id, key_values=dict(ref.values)), True

    @staticmethod
    def _check_version(existing: Row, if_match: str) -> None:
        if if_match.strip() != "*" and if_match.strip() != etag(existing.version):
            raise ApiError(
                412,
                "0x80060882",
                "The version of the existing record doesn't match the RowVersion property provided.",
            )

    def delete(self, txn: Txn, ctx: Context, ref: KeyRef, *, if_match: str | None = None) -> None:
        """DELETE; an ETag `If-Match` that is no longer the record's is 412, as for an update (§2.2)."""
        existing = self.find(txn, ref)
        if existing is None:
            raise self.not_found(ref)
        if if_match is not None:
            self._check_version(existing, if_match)
        txn.delete(ref.table.logical_name, existing.id, ctx.client_id)

    # --- bulk messages (one transaction, so all-or-nothing) ---------------------------------------------
    def _targets(self, table: Table, message: str, body: Any) -> list[dict[str, Any]]:
        needed = {"UpsertMultiple": {"CreateMultiple", "UpdateMultiple"}}.get(message, {message})
        if not needed <= table.bulk_messages:
            # Third-party wording of the refusal ("does not support entities of type"); code UNCONFIRMED.
            raise ApiError(
                400,
                "0x80040203",
                f"The '{message}' method does not support entities of type '{table.logical_name}'.",
            )
        targets = body.get("Targets") if isinstance(body, dict) else None
        if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
            raise payload_error(table.entity_set, f"{message} needs a 'Targets' array of records.")
        expected = f"Microsoft.Dynamics.CRM.{table.logical_name}"
        for target in targets:
            if target.get("@odata.type") != expected:
                raise payload_error(
                    table.entity_set,
                    f'Each item in Targets must set "@odata.type": "{expected}" (found '
                    f"{target.get('@odata.type')!r}).",
                )
        return targets

    def create_multiple(self, txn: Txn, ctx: Context, table: Table, body: Any) -> list[str]:
        return [self.create(txn, ctx, table, t).id for t in self._targets(table, "CreateMultiple", body)]

    def update_multiple(self, txn: Txn, ctx: Context, table: Table, body: Any) -> int:
        seen: set[str] = set()
        for target in self._targets(table, "UpdateMultiple", body):
            record_id = target.get(table.primary_key)
            if not isinstance(record_id, str) or not GUID.match(record_id):
                raise payload_error(
                    table.entity_set,
                    f"UpdateMultiple needs the primary key '{table.primary_key}' in every target "
                    "(alternate keys are not supported with UpdateMultiple).",
                )
            if record_id.lower() in seen:
                continue  # "the operation is performed on the first record only" (§3.1)
            seen.add(record_id.lower())
            row = txn.get(table.logical_name, record_id)
            if row is None:
                raise not_found_by_id(table.logical_name, record_id)
            self.update(txn, ctx, table, row, {k: v for k, v in target.items() if k != table.primary_key})
        return len(seen)

    def upsert_multiple(self, txn: Txn, ctx: Context, table: Table, body: Any) -> int:
        seen: set[str] = set()
        targets = self._targets(table, "UpsertMultiple", body)
        for target in targets:
            if "@odata.id" in target:
                ref = self.parse_entity_url(str(target["@odata.id"]), ctx)
                if ref.table is not table:
                    raise payload_error(table.entity_set, "@odata.id names a record of another table.")
            elif isinstance(target.get(table.primary_key), str):
                ref = KeyRef(table, record_id=str(target[table.primary_key]).lower())
            else:
                raise payload_error(
                    table.entity_set, "Each UpsertMultiple target needs @odata.id or its primary key."
                )
            identity = f"{ref.record_id}|{ref.values!r}"
            if identity in seen:
                raise ApiError(
                    400, "0x80040237", f"UpsertMultiple: duplicate target {ref.describe()} in Targets."
                )
            seen.add(identity)
            existing = self.find(txn, ref)
            fields = {k: v for k, v in target.items() if k != "@odata.id"}
            if existing is None and ref.key is not None and any(a in fields for a, _ in ref.values):
                # Key both in the body and in @odata.id on the create path: the Python SDK saw 400 0x80040216.
                raise ApiError(
                    400,
                    "0x80040216",
                    "An unexpected error occurred: a key attribute is set in the body and in @odata.id.",
                )
            self.upsert(txn, ctx, ref, fields)
        return len(seen)

    # --- representation --------------------------------------------------------------------------------
    def view(
        self,
        table: Table,
        row: Row,
        *,
        annotations: Callable[[str], bool] | None = None,
        select: list[str] | None = None,
    ) -> dict[str, Any]:
        """The record as the Web API shows it: every property, or the etag, the id and the `$select`ed
        ones, in the table's order; with the annotations `annotations` includes (`Prefer:
        odata.include-annotations`): a lookup's with its `_<lookup>_value`, a choice's or yes/no's
        formatted value (its label) after it."""
        keep = None if select is None else set(select)
        out: dict[str, Any] = {"@odata.etag": etag(row.version), table.primary_key: row.id}
        data = row.data
        formatted = annotations is not None and annotations(FORMATTED_VALUE)
        for name, column in table.columns.items():
            if keep is None or name in keep:
                value = out[name] = data.get(name)
                if formatted and value is not None:
                    label = _formatted(column, value)
                    if label is not None:
                        out[f"{name}@{FORMATTED_VALUE}"] = label
        for lookup, targets in table.lookups.items():
            value_name = f"_{lookup}_value"
            if keep is not None and value_name not in keep:
                continue
            stored = data.get(lookup)
            out[value_name] = stored["id"] if stored else None
            if annotations is not None and stored:
                if annotations(LOOKUP_LOGICAL_NAME):
                    out[f"{value_name}@{LOOKUP_LOGICAL_NAME}"] = stored["entity"]
                if annotations(NAVIGATION_PROPERTY):
                    out[f"{value_name}@{NAVIGATION_PROPERTY}"] = targets[stored["entity"]]
        for name, value in (
            ("versionnumber", row.version),
            ("createdon", row.createdon),
            ("modifiedon", row.modifiedon),
        ):
            if keep is None or name in keep:
                out[name] = value
        return out

    def property_names(self, table: Table) -> frozenset[str]:
        names = self._property_names.get(table.logical_name)
        if names is None:  # asked once per property of every $filter and $select: made once per table
            names = frozenset(
                {
                    table.primary_key,
                    *table.columns,
                    *(f"_{lookup}_value" for lookup in table.lookups),
                    *SYSTEM_COLUMNS,
                }
            )
            self._property_names[table.logical_name] = names
        return names


def _formatted(column: Column, value: Any) -> str | None:
    """A choice's label as schema.json labels it (English); yes/no as the default Yes/No labels
    (UNCONFIRMED per column: a table can relabel them). Other types carry no formatted value here."""
    if column.type == "choice":
        return dict(column.option_labels).get(value) if isinstance(value, int) else None
    if column.type == "boolean" and isinstance(value, bool):
        return "Yes" if value else "No"
    return None


def _within(value: float, column: Column) -> bool:
    low, high = column.minimum, column.maximum
    return not (isinstance(low, int | float) and value < low) and not (
        isinstance(high, int | float) and value > high
    )
