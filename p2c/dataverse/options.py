"""Tuning and behaviour switches of the Dataverse client, with defaults that are safe for a first load; why
each default is what it is: docs/requests.md."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from p2c.dataverse.throttle import HARD_MAX_PARALLEL
from p2c.errors import UsageError

BYPASS_VALUES = frozenset({"", "CustomSync", "CustomAsync", "CustomSync,CustomAsync"})


class BulkMode(StrEnum):
    """How `update_many` sends rows."""

    AUTO = "auto"  # UpdateMultiple where sdkmessagefilters says the table supports it, else $batch
    UPDATE_MULTIPLE = "update-multiple"  # insist on UpdateMultiple (still probed: fails if unsupported)
    BATCH = "batch"  # $batch with continue-on-error
    SINGLE = "single"  # one PATCH per row


@dataclass(frozen=True)
class ClientOptions:
    api_version: str = "v9.2"
    max_parallel_per_user: int = 16
    initial_parallel_per_user: int = 4
    max_attempts: int = 5  # sends of one request that fails on its own (5xx, dropped) while others answer
    # how long the client waits for a service that does not answer at all (refused, 502/503/504, timeouts)
    # before it gives up with ServiceUnreachable: a restart or failover of seconds must not stop a run
    outage_budget_s: float = 300.0
    max_throttle_retries: int = 20
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    batch_size: int = 100
    bulk_mode: BulkMode = BulkMode.AUTO
    page_size: int = 5000
    # Reads by id count against the same request budget as the writes (6,000 per 5 minutes): 250 ids per
    # GET, not 100, leave more of it to the writes (measured: 70-74% -> 77% of the benchmark's ceiling);
    # the URL stays well under the 32,768-character limit (tests/test_dataverse_reads.py)
    ids_per_query: int = 250
    # MSCRM.BypassBusinessLogicExecution: "", "CustomSync", "CustomAsync" or "CustomSync,CustomAsync"
    bypass_business_logic: str = ""
    # MSCRM.SuppressCallbackRegistrationExpanderJob: true (no Power Automate flow runs for these writes)
    suppress_flows: bool = False
    # a plan or a dry run: the transport refuses every write, so no code path can send one by mistake
    read_only: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.max_parallel_per_user <= HARD_MAX_PARALLEL:
            raise UsageError(f"max parallel requests per user must be 1..{HARD_MAX_PARALLEL}")
        if self.max_attempts < 1 or self.batch_size < 1 or self.page_size < 1 or self.ids_per_query < 1:
            raise UsageError("attempts, batch size, page size and ids per query must be at least 1")
        if self.outage_budget_s <= 0:
            raise UsageError("the outage budget must be a positive number of seconds")
        if self.batch_size > 1000:
            raise UsageError("a $batch holds at most 1000 requests: use a batch size of 1000 or less")
        if self.bypass_business_logic not in BYPASS_VALUES:
            raise UsageError(
                f"bypass_business_logic must be one of {sorted(BYPASS_VALUES)}, "
                f"not {self.bypass_business_logic!r}"
            )

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout_s, self.read_timeout_s)

    def write_headers(self) -> dict[str, str]:
        """The optional migration headers for writes (empty unless switched on)."""
        headers: dict[str, str] = {}
        if self.bypass_business_logic:
            headers["MSCRM.BypassBusinessLogicExecution"] = self.bypass_business_logic
        if self.suppress_flows:
            headers["MSCRM.SuppressCallbackRegistrationExpanderJob"] = "true"
        return headers
