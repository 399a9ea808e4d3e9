"""Update many existing records by id: UpdateMultiple, else `$batch`, else single PATCHes.

Every path here is an update that cannot create a record (and if the service has no `$batch` endpoint,
the rows go one PATCH at a time):
* single: `PATCH <set>(<guid>)` with `If-Match: *` (404 if the record is gone) or an ETag;
* `$batch`: the same PATCHes as parts of one batch, with `Prefer: odata.continue-on-error`;
* UpdateMultiple: `POST <set>/Microsoft.Dynamics.CRM.UpdateMultiple` with each target's primary key (the
  Update message behind it never creates; alternate keys are not supported there anyway).
There is no POST of a record and no upsert by alternate key anywhere in this module.

UpdateMultiple is all-or-nothing on standard tables, so a rejected request is split in halves until the
rows Dataverse refuses are isolated: one bad row costs about 2·log2(batch size) extra requests and never
fails its neighbours. `$batch` reports each row on its own. A 4xx is final for the row(s) it names;
429/5xx/dropped connections are retried (by `UserChannel`, and part by part inside a batch), never split;
a service gone past the outage budget raises `ServiceUnreachable` out of `update_many` (no row results).

Each row ends as exactly one `RowResult`, returned in the order the rows were given."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from p2c.dataverse.batch import (
    BatchOperation,
    batch_content_type,
    build_batch_body,
    new_boundary,
    parse_batch_response,
)
from p2c.dataverse.errors import (
    DataverseError,
    DataverseTerminalError,
    DataverseTransientError,
    error_for_status,
    is_retryable_status,
)
from p2c.dataverse.metadata import MetadataCache
from p2c.dataverse.odata import guid, record_path
from p2c.dataverse.options import BulkMode
from p2c.dataverse.results import EntityInfo, RequestStats, RowResult, RowStatus, UpdateRow, WriteMethod
from p2c.dataverse.throttle import Backoff, parse_retry_after
from p2c.dataverse.transport import Transport

_FORBIDDEN_KEYS = ("@odata.id", "@odata.type", "@odata.context")
# A whole $batch answered with one of these means the service (or an emulator) has no $batch endpoint;
# a missing record inside a batch is a 404 *part* in a 200 answer, never a 404 for the batch itself.
BATCH_UNAVAILABLE = (404, 405, 501)
log = logging.getLogger("p2c.dataverse")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Pending:
    """A row on its way: where its sends started and what they cost so far."""

    row: UpdateRow
    started_at: datetime
    stats: RequestStats


def valid_if_match(value: str) -> bool:
    """`*` or an entity tag (`W/"123"`, `"123"`); anything else (notably empty) could let a PATCH create."""
    return value == "*" or (value.startswith(('W/"', '"')) and value.endswith('"') and len(value) > 2)


class BulkWriter:
    def __init__(self, transport: Transport, metadata: MetadataCache) -> None:
        self._transport = transport
        self._metadata = metadata
        self._options = transport.options
        self._backoff = Backoff(self._options.backoff_base_s, self._options.backoff_cap_s)

    # -- results ------------------------------------------------------------------------------------------

    @staticmethod
    def _updated(p: _Pending, method: WriteMethod, status: int) -> RowResult:
        return RowResult(
            p.row.record_id, RowStatus.UPDATED, status, "", "", p.stats.attempts, p.stats.throttle_wait_s,
            p.started_at, utcnow(), method, p.stats.user,
        )  # fmt: skip

    @staticmethod
    def _failed(p: _Pending, method: WriteMethod, error: DataverseError) -> RowResult:
        return RowResult(
            p.row.record_id, RowStatus.FAILED, error.status, error.code, error.message, p.stats.attempts,
            p.stats.throttle_wait_s, p.started_at, utcnow(), method, p.stats.user, error.retryable,
        )  # fmt: skip

    # -- validation: rows that must not be sent --------------------------------------------------------------

    def _refusal(self, row: UpdateRow, primary_id: str | None) -> str | None:
        try:
            canonical = guid(row.record_id)
        except Exception:
            return f"{row.record_id!r} is not a record id (a GUID)"
        if not valid_if_match(row.if_match):
            return (
                f"If-Match {row.if_match!r} is neither '*' nor an ETag: an update must never create a record"
            )
        for key in row.values:
            if key in _FORBIDDEN_KEYS:
                return f"{key} does not belong in an update by record id"
        if primary_id and primary_id in row.values and str(row.values[primary_id]).lower() != canonical:
            return f"{primary_id} in the values differs from the record id"
        return None

    def _screen(
        self, rows: Sequence[UpdateRow], primary_id: str | None
    ) -> tuple[list[int], dict[int, RowResult]]:
        """Indexes of rows to send, and ready-made failures for the rest (bad input, repeated ids)."""
        sendable: list[int] = []
        refused: dict[int, RowResult] = {}
        seen: set[str] = set()
        for index, row in enumerate(rows):
            reason = self._refusal(row, primary_id)
            if reason is None:
                canonical = guid(row.record_id)
                if canonical in seen:
                    reason = "the same record id appears twice in one update; merge the values into one row"
                seen.add(canonical)
            if reason is None:
                sendable.append(index)
                continue
            now = utcnow()
            refused[index] = RowResult(
                row.record_id, RowStatus.FAILED, None, "", reason, 0, 0.0, now, now, WriteMethod.NOT_SENT
            )
        return sendable, refused

    # -- one row ------------------------------------------------------------------------------------------

    def update_one(self, entity_set: str, row: UpdateRow) -> RowResult:
        sendable, refused = self._screen([row], None)
        if not sendable:
            return refused[0]
        return self._single(entity_set, row)

    def _single(self, entity_set: str, row: UpdateRow, pending: _Pending | None = None) -> RowResult:
        pending = pending or _Pending(row, utcnow(), RequestStats())
        headers = {"If-Match": row.if_match, **self._options.write_headers()}
        try:
            exchange = self._transport.patch(
                record_path(entity_set, row.record_id), row.values, headers=headers,
                what=f"PATCH {entity_set}({row.record_id})", users=row.users,
            )  # fmt: skip
        except DataverseError as error:
            self._transport.events.answered(entity_set, 1, False)
            pending.stats.add(error.stats or RequestStats())
            return self._failed(pending, WriteMethod.SINGLE, error)
        self._transport.events.answered(entity_set, 1, True)
        pending.stats.add(exchange.stats)
        return self._updated(pending, WriteMethod.SINGLE, exchange.response.status_code)

    # -- many rows ------------------------------------------------------------------------------------------

    def choose_mode(self, entity: EntityInfo, mode: BulkMode) -> BulkMode:
        if mode in (BulkMode.BATCH, BulkMode.SINGLE):
            return mode
        supported = self._metadata.supports_message(entity.logical_name, "UpdateMultiple")
        if mode is BulkMode.UPDATE_MULTIPLE and not supported:
            raise DataverseTerminalError(
                f"{entity.logical_name} does not support UpdateMultiple here (per sdkmessagefilters)",
                hint="use bulk mode 'auto' or 'batch'",
            )
        return BulkMode.UPDATE_MULTIPLE if supported else BulkMode.BATCH

    def update_many(self, entity: EntityInfo, rows: Sequence[UpdateRow], mode: BulkMode) -> list[RowResult]:
        sendable, refused = self._screen(rows, entity.primary_id_attribute)
        results: dict[int, RowResult] = dict(refused)
        if sendable:
            chosen = self.choose_mode(entity, mode)
            tasks = self._plan(entity, rows, sendable, chosen)
            if len(tasks) > 1:
                try:
                    self._transport.learn_parallelism()
                except DataverseTransientError as exc:  # not fatal: run at the initial parallelism
                    log.warning("could not read x-ms-dop-hint: %s", exc)
            workers = max(1, min(len(tasks), self._transport.pool.max_total_parallel))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dataverse") as executor:
                for done in executor.map(lambda task: task(), tasks):
                    results.update(done)
        return [results[i] for i in range(len(rows))]

    def _plan(
        self, entity: EntityInfo, rows: Sequence[UpdateRow], sendable: list[int], mode: BulkMode
    ) -> list[Callable[[], dict[int, RowResult]]]:
        if mode is BulkMode.SINGLE:
            return [self._task_single(entity, rows, i) for i in sendable]
        # one request goes through one user: rows only some users may send travel with their own kind
        by_users: dict[frozenset[str] | None, list[int]] = {}
        for index in sendable:
            by_users.setdefault(rows[index].users, []).append(index)
        return [task for group in by_users.values() for task in self._plan_group(entity, rows, group, mode)]

    def _plan_group(
        self, entity: EntityInfo, rows: Sequence[UpdateRow], sendable: list[int], mode: BulkMode
    ) -> list[Callable[[], dict[int, RowResult]]]:
        size = self._options.batch_size
        if mode is BulkMode.UPDATE_MULTIPLE:
            # a row with an ETag precondition cannot travel in UpdateMultiple: send those in a $batch
            plain = [i for i in sendable if rows[i].if_match == "*"]
            guarded = [i for i in sendable if rows[i].if_match != "*"]
        else:
            plain, guarded = [], sendable
        tasks = [
            self._task_bulk(self._update_multiple, entity, rows, plain[s : s + size])
            for s in range(0, len(plain), size)
        ]
        tasks += [
            self._task_bulk(self._batch, entity, rows, guarded[s : s + size])
            for s in range(0, len(guarded), size)
        ]
        return tasks

    def _task_single(
        self, entity: EntityInfo, rows: Sequence[UpdateRow], index: int
    ) -> Callable[[], dict[int, RowResult]]:
        return lambda: {index: self._single(entity.entity_set_name, rows[index])}

    def _task_bulk(
        self,
        send: Callable[[EntityInfo, list[_Pending]], list[RowResult]],
        entity: EntityInfo,
        rows: Sequence[UpdateRow],
        indexes: list[int],
    ) -> Callable[[], dict[int, RowResult]]:
        def run() -> dict[int, RowResult]:
            started = utcnow()
            results = send(entity, [_Pending(rows[i], started, RequestStats()) for i in indexes])
            return dict(zip(indexes, results, strict=True))

        return run

    # -- UpdateMultiple with bisection ---------------------------------------------------------------------

    def _update_multiple(self, entity: EntityInfo, pendings: list[_Pending]) -> list[RowResult]:
        odata_type = f"Microsoft.Dynamics.CRM.{entity.logical_name}"
        targets = [
            {"@odata.type": odata_type, **p.row.values, entity.primary_id_attribute: guid(p.row.record_id)}
            for p in pendings
        ]
        path = f"{entity.entity_set_name}/Microsoft.Dynamics.CRM.UpdateMultiple"
        try:
            exchange = self._transport.update_multiple(
                path, targets, headers=self._options.write_headers(),
                what=f"UpdateMultiple {entity.entity_set_name} ({len(pendings)} rows)",
                users=pendings[0].row.users,
            )  # fmt: skip
        except DataverseError as error:
            self._transport.events.answered(entity.entity_set_name, len(pendings), False)
            for p in pendings:
                p.stats.add(error.stats or RequestStats())
            # a 401 survived a token refresh, a missing status is not about the rows: splitting cannot help
            if error.retryable or len(pendings) == 1 or error.status in (None, 401):
                return [self._failed(p, WriteMethod.UPDATE_MULTIPLE, error) for p in pendings]
            half = len(pendings) // 2
            # The halves are separate lists of the same _Pending objects: their stats keep accumulating.
            return self._update_multiple(entity, pendings[:half]) + self._update_multiple(
                entity, pendings[half:]
            )
        self._transport.events.answered(entity.entity_set_name, len(pendings), True)
        for p in pendings:
            p.stats.add(exchange.stats)
        return [
            self._updated(p, WriteMethod.UPDATE_MULTIPLE, exchange.response.status_code) for p in pendings
        ]

    # -- $batch ----------------------------------------------------------------------------------------------

    def _batch(self, entity: EntityInfo, pendings: list[_Pending]) -> list[RowResult]:
        done: dict[int, RowResult] = {}
        self._batch_rounds(entity, list(enumerate(pendings)), done, round_no=1)
        return [done[i] for i in range(len(pendings))]

    def _batch_rounds(
        self, entity: EntityInfo, todo: list[tuple[int, _Pending]], done: dict[int, RowResult], round_no: int
    ) -> None:
        api_path = f"/api/data/{self._options.api_version}/"
        write_headers = self._options.write_headers()
        while todo:
            boundary = new_boundary()
            operations = [
                BatchOperation(
                    "PATCH",
                    api_path + record_path(entity.entity_set_name, p.row.record_id),
                    {"If-Match": p.row.if_match, **write_headers},
                    p.row.values,
                )
                for _, p in todo
            ]
            headers = {
                "Content-Type": batch_content_type(boundary),
                "Prefer": "odata.continue-on-error",
                **write_headers,
            }
            what = f"$batch {entity.entity_set_name} ({len(todo)} rows)"
            try:
                exchange = self._transport.batch(
                    build_batch_body(operations, boundary), headers=headers, what=what, records=len(todo),
                    users=todo[0][1].row.users,
                )  # fmt: skip
            except DataverseError as refused:
                self._transport.events.answered(entity.entity_set_name, len(todo), False)
                for _, p in todo:
                    p.stats.add(refused.stats or RequestStats())
                if refused.status in BATCH_UNAVAILABLE:  # the endpoint itself is missing: one PATCH per row
                    log.warning(
                        "%s: $batch unavailable (HTTP %s); sending single updates", what, refused.status
                    )
                    done.update((i, self._single(entity.entity_set_name, p.row, p)) for i, p in todo)
                    return
                if refused.retryable or len(todo) == 1 or refused.status in (None, 401):
                    done.update((i, self._failed(p, WriteMethod.BATCH, refused)) for i, p in todo)
                    return
                half = len(todo) // 2  # the batch as a whole was refused: find the part that caused it
                self._batch_rounds(entity, todo[:half], done, round_no)
                self._batch_rounds(entity, todo[half:], done, round_no)
                return
            self._transport.events.answered(entity.entity_set_name, len(todo), True)
            for _, p in todo:
                p.stats.add(exchange.stats)
            try:
                parts = parse_batch_response(
                    exchange.response.text, exchange.response.headers.get("Content-Type", "")
                )
            except ValueError as exc:
                unreadable = DataverseTerminalError(f"{what}: unreadable response: {exc}", request=what)
                done.update((i, self._failed(p, WriteMethod.BATCH, unreadable)) for i, p in todo)
                return
            retry: list[tuple[int, _Pending]] = []
            hold = 0.0
            last_round = round_no >= self._options.max_attempts
            for position, (i, p) in enumerate(todo):
                if position >= len(parts):  # not processed: the service stopped before this part
                    if last_round:
                        skipped = DataverseTerminalError(
                            f"{what}: the service did not process this part", request=what
                        )
                        done[i] = self._failed(p, WriteMethod.BATCH, skipped)
                    else:
                        retry.append((i, p))
                    continue
                part = parts[position]
                if part.status < 400:
                    done[i] = self._updated(p, WriteMethod.BATCH, part.status)
                    continue
                if is_retryable_status(part.status) and not last_round:
                    retry.append((i, p))
                    if part.status == 429:
                        hold = max(hold, parse_retry_after(part.headers.get("retry-after")) or 1.0)
                    continue
                error = error_for_status(
                    part.status,
                    part.body,
                    request=f"PATCH {entity.entity_set_name}({p.row.record_id})",
                    reason=part.reason,
                )
                done[i] = self._failed(p, WriteMethod.BATCH, error)
            if not retry:
                return
            if hold:
                self._transport.hold_user(exchange.stats.user, hold)
            else:
                time.sleep(self._backoff.delay(round_no))
            todo = retry
            round_no += 1
