"""Functions and the caller's own records: `WhoAmI`, `systemusers(<id>)` (with its roles), `organizations`."""

from __future__ import annotations

import re

from p2c.emulator import metadata
from p2c.emulator.api_result import ApiResult
from p2c.emulator.handlers.call import ApiCall


def who_am_i(call: ApiCall, match: re.Match[str]) -> ApiResult:
    ctx = call.ctx
    return ApiResult.json(
        200,
        {
            "@odata.context": f"{ctx.service_root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": metadata.metadata_id("businessunit"),
            "UserId": metadata.metadata_id("systemuser", ctx.client_id),
            "OrganizationId": call.service.store.organization_id,  # each environment's own (see Store)
        },
    )


def caller_record(call: ApiCall, match: re.Match[str]) -> ApiResult:
    """`systemusers(<id>)` and `organizations`, as the record-state rules know them."""
    document = call.service.record_state.answer(call.method, call.resource, call.query, call.ctx.client_id)
    return ApiResult.json(200, {"@odata.context": f"{call.ctx.service_root}$metadata", **document})
