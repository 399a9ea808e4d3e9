"""`$batch`: its parts run one by one through the same route table as top-level requests; change sets
in one transaction each (all or nothing), Content-ID references resolved. The multipart format itself is
read and written by `p2c/emulator/batch.py`."""

from __future__ import annotations

import contextlib
import re

from p2c.emulator.api_errors import ApiError
from p2c.emulator.api_result import ApiResult, batch_part
from p2c.emulator.batch import BatchRequest, ChangeSet, PartResponse, parse_batch, render_batch
from p2c.emulator.handlers.call import ApiCall, Service
from p2c.emulator.preferences import parse_prefer
from p2c.emulator.records import Context
from p2c.emulator.store import Txn

API_PREFIX = "/api/data/v9.2/"


def run_batch(call: ApiCall, match: re.Match[str]) -> ApiResult:
    service, ctx = call.service, call.ctx
    items = parse_batch(call.headers.get("content-type", ""), call.body)
    continue_on_error = "odata.continue-on-error" in parse_prefer(call.headers.get("prefer"))
    writes = sum(len(i.requests) if isinstance(i, ChangeSet) else int(i.method != "GET") for i in items)
    service.protection.charge_records(writes)
    responses: list[PartResponse | list[PartResponse]] = []
    failed = False
    # Consecutive writes outside change sets share one transaction, each in its own savepoint: each
    # still succeeds or fails alone, and a batch of 100 PATCHes commits once instead of 100 times. The
    # group is committed before a GET or a change set, so they see what the parts before them wrote.
    with contextlib.ExitStack() as group:
        txn: Txn | None = None
        for item in items:
            if isinstance(item, ChangeSet) or item.method == "GET":
                group.close()
                txn = None
            answer: PartResponse | list[PartResponse]
            if isinstance(item, ChangeSet):
                answer = _change_set(service, item, ctx)
            elif item.method == "GET":
                answer = batch_part(_read(service, item, ctx), None)
            else:
                if txn is None:
                    txn = group.enter_context(service.store.transaction())
                answer = batch_part(_single_write(service, item, ctx, txn), None)
            responses.append(answer)
            error = answer.status >= 400 if isinstance(answer, PartResponse) else False
            if error and not continue_on_error:
                failed = True
                break
    content_type, payload = render_batch(responses)
    return ApiResult(400 if failed else 200, {"Content-Type": content_type}, payload)


def _read(service: Service, item: BatchRequest, ctx: Context) -> ApiResult:
    from p2c.emulator.routes import execute  # the route table lists this handler: imported when used

    return execute(service, "GET", _target(item.url, ctx), item.headers, item.body, ctx, None)


def _single_write(service: Service, item: BatchRequest, ctx: Context, txn: Txn) -> ApiResult:
    from p2c.emulator.routes import dispatch

    # The batch already paid the cost of its writes; this one succeeds or fails alone.
    try:
        with txn.savepoint():
            return dispatch(service, item.method, _target(item.url, ctx), item.headers, item.body, ctx, txn)
    except ApiError as error:
        return ApiResult.error(error)


def _change_set(service: Service, change_set: ChangeSet, ctx: Context) -> PartResponse | list[PartResponse]:
    from p2c.emulator.routes import dispatch

    answers: list[PartResponse] = []
    current: BatchRequest | None = None
    try:
        with service.store.transaction() as txn:
            for request in change_set.requests:
                current = request
                body = request.body
                if request.content_id is not None or b'"$' in body:
                    body = _resolve_content_ids(body, ctx)
                result = dispatch(
                    service, request.method, _target(request.url, ctx), request.headers, body, ctx, txn
                )
                if request.content_id is not None and "__last__" in ctx.content_ids:
                    ctx.content_ids[f"${request.content_id}"] = ctx.content_ids["__last__"]
                answers.append(batch_part(result, request.content_id))
    except ApiError as error:
        # The whole change set rolled back: only the failing request's answer is returned.
        return batch_part(ApiResult.error(error), current.content_id if current else None)
    return answers


def _resolve_content_ids(body: bytes, ctx: Context) -> bytes:
    def replace(match: re.Match[bytes]) -> bytes:
        reference = match.group(1).decode()
        if reference not in ctx.content_ids:
            raise _unknown_content_id(reference)
        return b'"' + ctx.content_ids[reference].encode() + b'"'

    return re.sub(rb'"(\$\d+)"', replace, body)


def _target(url: str, ctx: Context) -> str:
    """A part's URL relative to the service root (absolute, rooted or `$1/...` Content-ID reference)."""
    if API_PREFIX in url:
        url = url.split(API_PREFIX, 1)[1]
    url = url.lstrip("/")
    match = re.match(r"^(\$\d+)(.*)$", url)
    if match:
        reference = match.group(1)
        if reference not in ctx.content_ids:
            raise _unknown_content_id(reference)
        url = ctx.content_ids[reference].split(API_PREFIX, 1)[1] + match.group(2)
    return url


def _unknown_content_id(reference: str) -> ApiError:
    return ApiError(400, "0x0", f"Content-ID Reference: '{reference}' does not exist in the batch context.")
