"""The bulk messages `<set>/Microsoft.Dynamics.CRM.CreateMultiple|UpdateMultiple|UpsertMultiple`."""

from __future__ import annotations

import re

from p2c.emulator.api_result import ApiResult
from p2c.emulator.handlers.call import ApiCall, json_body


def bulk_message(call: ApiCall, match: re.Match[str]) -> ApiResult:
    service, ctx = call.service, call.ctx
    entity_set, message = match.group(1), match.group(2)
    table = service.records.table_by_set(entity_set)
    body = json_body(call.body, entity_set)
    targets = body.get("Targets")
    count = len(targets) if isinstance(targets, list) else 0
    if message == "CreateMultiple":
        ids = service.write(call.txn, count, lambda t: service.records.create_multiple(t, ctx, table, body))
        return ApiResult.json(
            200,
            {
                "@odata.context": f"{ctx.service_root}$metadata#"
                "Microsoft.Dynamics.CRM.CreateMultipleResponse",
                "Ids": ids,
            },
        )
    if message == "UpdateMultiple":
        service.write(call.txn, count, lambda t: service.records.update_multiple(t, ctx, table, body))
    else:
        service.write(call.txn, count, lambda t: service.records.upsert_multiple(t, ctx, table, body))
    return ApiResult(204)
