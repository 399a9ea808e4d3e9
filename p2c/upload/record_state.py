"""Records in read-only Sales states (`shared/reference/record-state.md`): quotes are editable only in Draft,
orders only when Active, lines follow their parent. Dataverse refuses to update the others (0x8004022E) unless
the caller holds the System Administrator role, or, for a Submitted order, is an integration user while
sales-order-processing integration is on. This module reads each record's state (a line's from its parent),
who each application user is (WhoAmI, its roles, `isintegrationuser`, the organization's
`issopintegrationenabled`), and decides per row: editable (any user sends it), written by the users that may
write it (with several application users the row is routed to them: `writers_of`; then read back: locked
fields do not change), or not sent (`p2c:record_read_only`, with the remedy) when no user may. It never
reopens, revises, re-closes or converts a record."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from p2c.dataverse import DataverseClient
from p2c.dataverse.errors import ServiceUnreachable
from p2c.errors import P2CError
from p2c.upload.codes import LOCKED_FIELD, RECORD_READ_ONLY

# statecode -> label of the read-only states (CONFIRMED: metadata descriptions, Sales privacy page)
READ_ONLY_STATES: dict[str, dict[int, str]] = {
    "quote": {1: "Active", 2: "Won", 3: "Closed"},
    "salesorder": {1: "Submitted", 2: "Canceled", 3: "Fulfilled", 4: "Invoiced"},
}
EDITABLE_LABEL = {"quote": "Draft", "salesorder": "Active"}
SUBMITTED = 1
# line table -> (its parent's lookup as read, the parent table, its entity set, its id column)
PARENTS = {
    "quotedetail": ("_quoteid_value", "quote", "quotes", "quoteid"),
    "salesorderdetail": ("_salesorderid_value", "salesorder", "salesorders", "salesorderid"),
}
# the tables whose records (or whose parents) can be in a read-only state
READ_ONLY_STATE_TABLES = frozenset({*EDITABLE_LABEL, *PARENTS})
SYSTEM_ADMINISTRATOR = "System Administrator"
READ_BACKS_AT_ONCE = 8  # requests of one chunk's read-back in flight together
REMEDY = (
    "run it with an application user that holds the System Administrator role"
    " (for a Submitted order also: an integration user with sales-order-processing integration on)"
)
NOTE_PREFIX = "record state:"
EDITABLE = "editable"
ADMIN_ONLY = "writable only by an admin"
PRIVILEGED_ONLY = "writable only by an admin or an integration user"
NOT_WRITABLE = "not writable"
ANY_USER = "any user"


@dataclass(frozen=True)
class Caller:
    """One application user's rights over read-only records."""

    user: str
    admin: bool
    integration_user: bool
    sop_integration: bool

    def may_write(self, table: str, state: int) -> bool:
        if self.admin:
            return True
        return table == "salesorder" and state == SUBMITTED and self.integration_user and self.sop_integration


def read_callers(client: DataverseClient) -> list[Caller]:
    """Each application user's rights, asked the way an admin checks them through the Web API."""
    client.sign_in()
    callers = []
    for channel in client.pool.channels:
        get = partial(_get_json, channel)
        try:
            user_id = str(get("WhoAmI", "WhoAmI")["UserId"])
            # the standard $expand of the user's roles (N:N systemuserroles_association)
            user = get(
                f"systemusers({user_id})?$select=isintegrationuser"
                "&$expand=systemuserroles_association($select=name,roleid)",
                "the application user's roles",
            )
            organization = get("organizations?$select=issopintegrationenabled", "the organization")
        except ServiceUnreachable:
            raise
        except P2CError:
            # rights that cannot be read are no rights: read-only rows are then not sent (and say why)
            callers.append(Caller(channel.label, False, False, False))
            continue
        roles = {str(r.get("name")) for r in user.get("systemuserroles_association") or []}
        orgs = organization.get("value") or [{}]
        callers.append(
            Caller(
                channel.label,
                SYSTEM_ADMINISTRATOR in roles,
                bool(user.get("isintegrationuser")),
                bool(orgs[0].get("issopintegrationenabled")),
            )
        )
    return callers


def _get_json(channel: Any, path: str, what: str) -> dict[str, Any]:
    exchange = channel.send("GET", path, headers={"If-None-Match": "null"}, what=what)
    data: dict[str, Any] = exchange.response.json()
    return data


@dataclass
class RecordStateGate:
    client: DataverseClient
    leave_read_only: bool = False  # `--leave-read-only`: never write them, even when allowed
    _callers: list[Caller] | None = None
    # per table: (state label, category, who writes those rows) -> rows
    _counts: dict[str, Counter[tuple[str, str, str]]] = field(default_factory=dict)
    _admin_written: set[str] = field(default_factory=set)  # record ids written in a read-only state
    # record id -> the users allowed to send it, when not every user may (the pool routes it to them)
    _writers: dict[str, frozenset[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def callers(self) -> list[Caller]:
        if self._callers is None:
            self._callers = read_callers(self.client)  # once per application user per run
        return self._callers

    @staticmethod
    def columns(table: str) -> list[str]:
        """What to read of the current records besides the initialized columns."""
        if table in READ_ONLY_STATES:
            return ["statecode", "statuscode"]
        if table in PARENTS:
            return [PARENTS[table][0]]
        return []

    def apply(self, table: str, judged: list[Any], current: dict[str, Any], notes: list[str]) -> None:
        """Turn the sendable rows in a state the callers may not write into `read_only` decisions."""
        from p2c.upload.prepare import SENDABLE, Decision

        governing, states = self._states(table, judged, current)
        if governing is None:
            return
        counts = self._counts.setdefault(table, Counter())
        for item in judged:
            state = states.get(str(item.prepared.record_id or ""))
            if state is None:
                continue
            label = READ_ONLY_STATES[governing].get(state)
            category, who = EDITABLE, ANY_USER
            if label is not None:
                callers = self.callers()
                writers = [c for c in callers if c.may_write(governing, state)]
                who = ", ".join(w.user for w in writers)
                if self.leave_read_only or not writers:
                    category, who = NOT_WRITABLE, ""
                    if item.decision in SENDABLE:
                        item.decision, item.code = Decision.READ_ONLY, RECORD_READ_ONLY
                        item.reason = self._reason(table, governing, label)
                else:
                    category = ADMIN_ONLY if all(w.admin for w in writers) else PRIVILEGED_ONLY
                    if item.decision in SENDABLE:
                        record_id = str(item.prepared.record_id)
                        with self._lock:
                            self._admin_written.add(record_id)
                            if len(writers) < len(callers):
                                self._writers[record_id] = frozenset(w.user for w in writers)
            counts[(label or EDITABLE_LABEL[governing], category, who)] += 1
        self._note(table, governing, notes)

    def writers_of(self, record_id: str | None) -> frozenset[str] | None:
        """The application users (labels) a row must be sent by; None when any user may send it."""
        return self._writers.get(str(record_id)) if record_id else None

    def _reason(self, table: str, governing: str, label: str) -> str:
        whose = "its" if table == governing else f"its {governing}'s"
        if self.leave_read_only:
            return f"{whose} state is {label} (read-only): left alone (--leave-read-only)"
        return (
            f"{whose} state is {label} (read-only) and no application user of this run may write it: not "
            f"sent; {REMEDY}"
        )

    def _states(
        self, table: str, judged: list[Any], current: dict[str, Any]
    ) -> tuple[str | None, dict[str, int]]:
        if table in READ_ONLY_STATES:
            return table, {
                rid: int(record.get("statecode") or 0)
                for rid, record in current.items()
                if record is not None
            }
        if table not in PARENTS:
            return None, {}
        lookup, parent, entity_set, id_column = PARENTS[table]
        parent_of = {
            rid: str(r.get(lookup) or "").lower() for rid, r in current.items() if r and r.get(lookup)
        }
        parents = self.client.get_many(entity_set, id_column, sorted(set(parent_of.values())), ["statecode"])
        return parent, {
            rid: int(parents[pid].get("statecode") or 0) for rid, pid in parent_of.items() if pid in parents
        }

    def _note(self, table: str, governing: str, notes: list[str]) -> None:
        counts = self._counts[table]
        text = f"{NOTE_PREFIX} " + "; ".join(
            f"{label}: {n} {category}" + (f" ({who})" if who else "")
            for (label, category, who), n in sorted(counts.items())
        )
        if table != governing:
            text += f" (by the state of its {governing})"
        with self._lock:
            for index, note in enumerate(notes):
                if note.startswith(NOTE_PREFIX):
                    notes[index] = text
                    return
            notes.append(text)

    def verify(self, entity_set: str, table: str, judged: list[Any], outcomes: list[Any]) -> None:
        """Read back the rows written in a read-only state: a value that did not stick (a locked field)
        fails the row with `p2c:locked_field` instead of reporting it updated."""
        from p2c.upload.prepare import same_value
        from p2c.upload.store import OutcomeStatus

        written = [
            (item, outcome)
            for item, outcome in zip(judged, outcomes, strict=True)
            if outcome is not None
            and outcome.status is OutcomeStatus.UPDATED
            and str(item.prepared.record_id) in self._admin_written
        ]
        if not written:
            return
        columns = sorted({attribute for item, _ in written for attribute in item.changes})
        id_column = f"{table}id"  # the primary key of each Sales table the tool initializes
        ids = [str(i.prepared.record_id) for i, _ in written]
        # a chunk's read-back holds a writer's place in the pipeline: its requests go out together, not
        # one after the other (each `get_many` of `ids_per_query` ids is one request)
        step = self.client.options.ids_per_query
        groups = [ids[start : start + step] for start in range(0, len(ids), step)]
        found: dict[str, dict[str, Any]] = {}
        with ThreadPoolExecutor(max_workers=min(len(groups), READ_BACKS_AT_ONCE)) as pool:
            for part in pool.map(
                lambda group: self.client.get_many(entity_set, id_column, group, columns), groups
            ):
                found.update(part)
        for item, outcome in written:
            record = found.get(str(item.prepared.record_id).lower(), {})
            stuck = [a for a, (_, new) in item.changes.items() if not same_value(record.get(a), new)]
            if stuck:
                outcome.status = OutcomeStatus.FAILED
                outcome.error_code = LOCKED_FIELD
                outcome.message = (
                    f"written as an admin in a read-only state, but {', '.join(sorted(stuck))} did not "
                    "change (locked fields): not initialized"
                )
