"""Records in read-only states, as Dataverse with Dynamics 365 Sales enforces them
(`shared/reference/record-state.md`).

* Quotes are editable only in Draft (statecode 0), orders only when Active (0) (CONFIRMED, metadata
  descriptions); quote and order lines follow their parent (UNCONFIRMED, expected). Only a caller with the
  System Administrator role may update the others (CONFIRMED); a Submitted order also an integration user when
  sales-order-processing integration is on (CONFIRMED). Everyone else gets 400 `0x8004022E` "The object cannot
  be updated because it is read-only." (code and text CONFIRMED in the error list) or, with
  `--read-only-error plugin`, `0x80040265` "Cannot perform the action because the record is read only" (the
  import path's text, CONFIRMED; its code UNCONFIRMED).
* `--locked-fields`: "changes will not reflect for the locked fields" for an admin (CONFIRMED); which fields
  are locked is not documented. The emulator's choice: `LOCKED_COLUMNS` (the customer, the ship-to address
  and the requested receipt date of a sale that is closed) do not change, the rest of the update does.
* `--inactive-read-only`: inactive accounts/contacts refuse updates with `0x80040230` (the pessimistic,
  CRM 2011-era reading; default off, as current Dataverse accepts them — third-party).
* A statuscode must belong to its statecode (`0x80048408`, third-party); a state that only a message reaches
  (WinQuote, CloseQuote, CancelSalesOrder, FulfillSalesOrder, ConvertSalesOrderToInvoice) is refused on an
  update (code UNCONFIRMED: `0x80040203`).
* Who the caller is: `systemusers(<id>)?$select=isintegrationuser&$expand=systemuserroles_association(...)`
  and `organizations?$select=issopintegrationenabled` (the standard Web API `$expand` of a collection-valued
  navigation property; the exact query is not in the reference: labelled UNCONFIRMED)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from p2c.emulator import metadata
from p2c.emulator.api_errors import ApiError
from p2c.emulator.schema import Schema, load_schema
from p2c.emulator.store import Row, Txn

READ_ONLY = ("0x8004022E", "The object cannot be updated because it is read-only.")
READ_ONLY_PLUGIN = ("0x80040265", "Cannot perform the action because the record is read only")
INACTIVE = ("0x80040230", "The object cannot be updated because it is inactive.")
SYSTEM_ADMINISTRATOR = "System Administrator"
# the role the other application users hold: reads and updates the Sales tables, not an administrator
SALES_ROLE = "Salesperson"


@dataclass(frozen=True)
class State:
    label: str
    statuses: tuple[int, ...]  # the first is the state's default status
    editable: bool


# the states in which Dynamics 365 Sales lets anyone update a record (record-state.md §1.1, §2.1, §3.3);
# which status reasons belong to which state is data, generated into schema.json (schema_gen)
EDITABLE_STATES: dict[str, frozenset[int]] = {
    "quote": frozenset({0}),  # Draft
    "salesorder": frozenset({0}),  # Active
    "account": frozenset({0, 1}),  # inactive ones only with --inactive-read-only
    "contact": frozenset({0, 1}),
}


def states_of(schema: Schema, table: str) -> dict[int, State]:
    """A table's states with their status reasons (the default first), as schema.json documents them."""
    columns = schema.tables[table].columns
    labels = dict(columns["statecode"].option_labels)
    statuses: dict[int, list[int]] = {code: [] for code in labels}
    for status, state in columns["statuscode"].state_of_status:
        statuses.setdefault(state, []).append(status)
    editable = EDITABLE_STATES[table]
    return {
        code: State(labels.get(code, str(code)), tuple(found), code in editable)
        for code, found in statuses.items()
    }


STATES: dict[str, dict[int, State]] = {table: states_of(load_schema(), table) for table in EDITABLE_STATES}
DEFAULT_STATE = 0  # seeding: a record exported without its statecode is taken to be Draft/Active
SUBMITTED_ORDER = 1
LINES = {"quotedetail": ("quoteid", "quote"), "salesorderdetail": ("salesorderid", "salesorder")}
MESSAGE_ONLY = {
    ("quote", 2): "WinQuote",
    ("quote", 3): "CloseQuote",
    ("salesorder", 2): "CancelSalesOrder",
    ("salesorder", 3): "FulfillSalesOrder",
    ("salesorder", 4): "ConvertSalesOrderToInvoice",
}
LOCKED_COLUMNS = frozenset(
    {
        "customerid",
        "shipto_country",
        "shipto_city",
        "shipto_line1",
        "shipto_postalcode",
        "msdyn_requestedreceiptdate",
    }
)
SYSTEMUSER = re.compile(r"^systemusers\(([0-9a-fA-F-]{36})\)$")


@dataclass(frozen=True)
class RecordStatePolicy:
    """Who may write read-only records, and how refusals look (the `p2c emulator` options)."""

    admins: frozenset[str] = frozenset()  # client ids holding System Administrator
    integration_users: frozenset[str] = frozenset()  # client ids with isintegrationuser = true
    sop_integration: bool = False  # organization.issopintegrationenabled
    plugin_error: bool = False  # answer 0x80040265 instead of 0x8004022E
    locked_fields: bool = False  # an admin's update leaves LOCKED_COLUMNS as they are
    inactive_read_only: bool = False  # inactive accounts/contacts refuse updates (0x80040230)


def seed_state(table: str, data: dict[str, Any]) -> None:
    """A seeded record keeps its exported state and status reason; without a state, the state its status
    reason belongs to, else the table's default; a status reason that is missing or not of its state
    becomes the state's default status (every Dataverse record has both)."""
    states = STATES.get(table)
    if states is None:
        return
    code = data.get("statecode")
    if code not in states:
        owners = [c for c, state in states.items() if data.get("statuscode") in state.statuses]
        code = data["statecode"] = owners[0] if len(owners) == 1 else DEFAULT_STATE
    if data.get("statuscode") not in states[code].statuses:
        data["statuscode"] = states[code].statuses[0]


@dataclass
class RecordStateRules:
    policy: RecordStatePolicy = field(default_factory=RecordStatePolicy)
    clients: tuple[str, ...] = ()

    # --- writes --------------------------------------------------------------------------------------
    def check_update(
        self, txn: Txn, table: str, row: Row, changes: dict[str, Any], client_id: str
    ) -> dict[str, Any]:
        """The changes an update may make, or the refusal Dataverse gives."""
        states = STATES.get(table)
        if states is not None and ("statecode" in changes or "statuscode" in changes):
            self._check_transition(table, row, changes, states)
            if set(changes) <= {"statecode", "statuscode"}:
                return changes  # a state change by update (SetState's successor), not an edit of the record
        governing, state = self._governing_state(txn, table, row)
        if governing is None or state is None:
            return changes
        if governing in ("account", "contact"):
            if state == 1 and self.policy.inactive_read_only:
                raise ApiError(400, *INACTIVE)
            return changes
        if STATES[governing][state].editable:
            return changes
        if governing == "salesorder" and state == SUBMITTED_ORDER and self._integration(client_id):
            return changes
        if client_id not in self.policy.admins:
            raise ApiError(400, *(READ_ONLY_PLUGIN if self.policy.plugin_error else READ_ONLY))
        if self.policy.locked_fields:
            return {k: v for k, v in changes.items() if k not in LOCKED_COLUMNS}
        return changes

    def _integration(self, client_id: str) -> bool:
        return self.policy.sop_integration and client_id in self.policy.integration_users

    def _governing_state(self, txn: Txn, table: str, row: Row) -> tuple[str | None, int | None]:
        if table in STATES:
            return table, _state_of(row.data)
        line = LINES.get(table)
        if line is None:
            return None, None
        lookup, parent_table = line
        parent = row.data.get(lookup)
        if not isinstance(parent, dict):
            return None, None
        found = txn.get(parent_table, str(parent["id"]))
        return (parent_table, _state_of(found.data)) if found is not None else (None, None)

    @staticmethod
    def _check_transition(table: str, row: Row, changes: dict[str, Any], states: dict[int, State]) -> None:
        old = _state_of(row.data)
        new = changes.get("statecode", old)
        if new not in states:
            return  # the choice check of the column answers it
        if new != old and (table, new) in MESSAGE_ONLY:
            message = MESSAGE_ONLY[(table, new)]
            label = states[new].label
            raise ApiError(
                400,
                "0x80040203",
                f"This message can not be used to set the state of {table} to {label}. In order to set state "
                f"of {table} to {label}, use the {message} message instead.",
            )
        if "statuscode" in changes:
            status = changes["statuscode"]
            if status is not None and status not in states[new].statuses:
                raise ApiError(
                    400,
                    "0x80048408",
                    f"{status} is not a valid status code for state code {table.capitalize()}State."
                    f"{states[new].label} on {table} with Id {row.id}.",
                )
        elif new != old:
            changes["statuscode"] = states[new].statuses[0]  # the new state's default status

    # --- who the caller is ---------------------------------------------------------------------------
    def user_id(self, client_id: str) -> str:
        return metadata.metadata_id("systemuser", client_id)

    def answer(self, method: str, resource: str, query: Mapping[str, str], client_id: str) -> Any:
        """The document of a `systemusers(<id>)` or `organizations` read; None for any other request."""
        if method != "GET":
            return None
        if resource == "organizations":
            return {
                "value": [
                    {
                        "organizationid": metadata.metadata_id("organization"),
                        "issopintegrationenabled": self.policy.sop_integration,
                    }
                ]
            }
        match = SYSTEMUSER.match(resource)
        if not match:
            return None
        user = next(
            (c for c in (*self.clients, client_id) if self.user_id(c) == match.group(1).lower()), None
        )
        if user is None:
            raise ApiError(404, "0x80040217", f"systemuser With Id = {match.group(1)} Does Not Exist")
        role = SYSTEM_ADMINISTRATOR if user in self.policy.admins else SALES_ROLE
        document: dict[str, Any] = {
            "systemuserid": self.user_id(user),
            "isintegrationuser": user in self.policy.integration_users,
        }
        if "systemuserroles_association" in (query.get("$expand") or ""):
            document["systemuserroles_association"] = [
                {"name": role, "roleid": metadata.metadata_id("role", role)}
            ]
        return document


def _state_of(data: Mapping[str, Any]) -> int:
    code = data.get("statecode")
    return code if isinstance(code, int) else DEFAULT_STATE


def check_policy(policy: RecordStatePolicy, users: Mapping[str, str]) -> None:
    """--admin and --integration-user name application users the emulator serves."""
    from p2c.errors import UsageError

    for option, named in (("--admin", policy.admins), ("--integration-user", policy.integration_users)):
        unknown = sorted(set(named) - set(users))
        if unknown:
            raise UsageError(f"{option} {', '.join(unknown)}: not a --client-id of this emulator")
