"""Each record's status reason, exported next to its state as Dynamics 365 exports it: one of the status
reasons the documented state/status pairs give that state. The pairs are read from the emulator's generated
`schema.json` (`schema_gen`, from shared/reference), the same data the seeded emulator checks them against."""

from __future__ import annotations

from functools import lru_cache

from p2c.emulator.schema import load_schema

# the tables whose exports carry "Status Reason" next to "Status"
STATUS_TABLES = frozenset({"account", "contact", "quote", "salesorder"})
QUOTE_REVISED = 7  # Closed as Revised: what ReviseQuote leaves on the revision it supersedes


@lru_cache(maxsize=8)
def statuses_by_state(table: str) -> dict[int, tuple[int, ...]]:
    """statecode -> its status reasons, the state's default first."""
    found: dict[int, list[int]] = {}
    for status, state in load_schema().tables[table].columns["statuscode"].state_of_status:
        found.setdefault(state, []).append(status)
    return {state: tuple(statuses) for state, statuses in found.items()}


def status_reason(table: str, state: int, pick: int) -> int:
    """A status reason of `state` (`pick` chooses among several, deterministically)."""
    statuses = statuses_by_state(table)[state]
    return statuses[pick % len(statuses)]
