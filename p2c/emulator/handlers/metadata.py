"""The service document and table metadata: `EntityDefinitions` (with `$expand` of its collections, by
`LogicalName='x'` or MetadataId, `/Attributes(...)`, the picklist cast) and `sdkmessagefilters`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from p2c.emulator import metadata
from p2c.emulator.api_errors import ApiError, query_error, resource_not_found
from p2c.emulator.api_result import ApiResult
from p2c.emulator.handlers.call import ApiCall
from p2c.emulator.odata_query import filter_and_select, parse_expand
from p2c.emulator.request_checks import check_query_options
from p2c.emulator.schema import Table

DEFINITION_COLLECTIONS = frozenset(
    {"Keys", "Attributes", "ManyToOneRelationships", "OneToManyRelationships", "ManyToManyRelationships"}
)
PICKLIST_CAST = "Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
ATTRIBUTE = re.compile(r"^Attributes\(LogicalName='(\w+)'\)$")
# what a metadata collection answers: its rows filtered, selected and (EntityDefinitions) expanded
METADATA_OPTIONS = frozenset({"$select", "$filter"})


def service_document(call: ApiCall, match: re.Match[str]) -> ApiResult:
    sets = [
        {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
        for t in call.service.schema.tables.values()
    ]
    return ApiResult.json(200, {"@odata.context": f"{call.ctx.service_root}$metadata", "value": sets})


def entity_definitions(call: ApiCall, match: re.Match[str]) -> ApiResult:
    check_query_options(call.query, METADATA_OPTIONS | {"$expand"})
    expand = _expansions(call.query)
    rows = [
        _expanded(call, metadata.entity_definition(t), t, expand) for t in call.service.schema.tables.values()
    ]
    return _virtual_collection(call, "EntityDefinitions", rows, keep=("MetadataId", *expand))


def sdk_message_filters(call: ApiCall, match: re.Match[str]) -> ApiResult:
    check_query_options(call.query, METADATA_OPTIONS)
    return _virtual_collection(call, "sdkmessagefilters", metadata.sdk_message_filters(call.service.schema))


def entity_definition(call: ApiCall, match: re.Match[str]) -> ApiResult:
    """`EntityDefinitions(LogicalName='x')` or `EntityDefinitions(<MetadataId>)`, and what lies below it."""
    table = _definition_table(call, match.group(1), match.group(2))
    part, query = match.group(3), call.query
    context = f"{call.ctx.service_root}$metadata#EntityDefinitions('{table.logical_name}')"
    if part is None:
        check_query_options(query, {"$select", "$expand"})
        expand = _expansions(query)
        document = filter_and_select(
            "EntityDefinitions",
            [metadata.entity_definition(table)],
            {"$select": query.get("$select", "")},
            keep=("MetadataId",),
        )[0]
        document = _expanded(call, document, table, expand)
        return ApiResult.json(200, {"@odata.context": f"{context}/$entity", **document})
    if part == f"Attributes/{PICKLIST_CAST}":
        return _picklists(call, table, context)
    attribute = ATTRIBUTE.match(part)
    if attribute:
        check_query_options(query, {"$select"})
        found = [a for a in metadata.attributes(table) if a["LogicalName"] == attribute.group(1)]
        if not found:
            raise ApiError(
                404,
                "0x80040217",
                f"Could not find an attribute '{attribute.group(1)}' on {table.logical_name}.",
            )
        document = filter_and_select(part, found, query, keep=("MetadataId",))[0]
        return ApiResult.json(200, {"@odata.context": f"{context}/{part}/$entity", **document})
    rows = metadata.collection(part, table, call.service.schema, _extra_keys(call, table))
    if rows is None:
        raise resource_not_found(part.split("/")[0])
    check_query_options(query, METADATA_OPTIONS)
    return _virtual_collection(
        call, f"EntityDefinitions('{table.logical_name}')/{part}", rows, keep=("MetadataId",)
    )


def _picklists(call: ApiCall, table: Table, context: str) -> ApiResult:
    # The documented cast (Microsoft's Python SDK reads choice labels this way): the choice columns
    # with their OptionSet. `$expand=OptionSet(...)` is always answered with the whole OptionSet.
    check_query_options(call.query, {"$select", "$expand"})
    select = [s for s in (call.query.get("$select") or "").split(",") if s]
    option_set = call.query.get("$expand") or ""
    if option_set and not option_set.startswith("OptionSet"):
        raise ApiError(400, "0x80060888", f"Could not find a property named '{option_set}' to expand.")
    shaped = [
        {
            "MetadataId": row["MetadataId"],
            **{k: v for k, v in row.items() if not select or k in select},
            **({"OptionSet": row["OptionSet"]} if option_set else {}),
        }
        for row in metadata.picklists(table)
    ]
    return ApiResult.json(200, {"@odata.context": f"{context}/Attributes/{PICKLIST_CAST}", "value": shaped})


def _definition_table(call: ApiCall, logical_name: str | None, metadata_id: str | None) -> Table:
    """The table an `EntityDefinitions(LogicalName='x')` or `EntityDefinitions(<MetadataId>)` names."""
    for table in call.service.schema.tables.values():
        if table.logical_name == logical_name or (
            metadata_id and metadata.entity_definition(table)["MetadataId"] == metadata_id.lower()
        ):
            return table
    named = f"the logical name '{logical_name}'" if logical_name else f"the MetadataId '{metadata_id}'"
    raise ApiError(404, "0x80040217", f"Could not find an entity with {named}.")


def _expansions(query: Mapping[str, str]) -> dict[str, dict[str, str]]:
    expand = dict(parse_expand(query.get("$expand")))
    for name, options in expand.items():
        if name not in DEFINITION_COLLECTIONS:
            raise query_error(f"Could not find a property named '{name}' on type EntityMetadata.")
        check_query_options(options, METADATA_OPTIONS)
    return expand


def _extra_keys(call: ApiCall, table: Table) -> list[tuple[str, tuple[str, ...]]]:
    """The keys a schema option adds (`p2c_account_number_index`), beside the table's own."""
    keys = call.service.records.keys_of(table, call.ctx.options)
    return [(k.name, k.attributes) for k in keys if k not in table.keys]


def _expanded(
    call: ApiCall, document: dict[str, Any], table: Table, expand: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    for name, options in expand.items():
        rows = metadata.collection(name, table, call.service.schema, _extra_keys(call, table)) or []
        document[name] = filter_and_select(
            f"{table.logical_name}/{name}", rows, options, keep=("MetadataId",)
        )
    return document


def _virtual_collection(
    call: ApiCall, name: str, rows: list[dict[str, Any]], keep: tuple[str, ...] = ()
) -> ApiResult:
    shaped = filter_and_select(name, rows, call.query, keep)
    return ApiResult.json(
        200, {"@odata.context": f"{call.ctx.service_root}$metadata#{name}", "value": shaped}
    )
