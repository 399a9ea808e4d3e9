"""Metadata answers: `EntityDefinitions(LogicalName='x')` (or `EntityDefinitions(<MetadataId>)`) with `/Keys`,
`/Attributes`, `/ManyToOneRelationships`, `/OneToManyRelationships`, `/ManyToManyRelationships` (as paths or
`$expand`ed), and the `sdkmessagefilters` a client probes to learn which tables take CreateMultiple and
UpdateMultiple (`dataverse-web-api.md` §2.4, §3.1, §7.2). All of it comes from `schema.json`."""

from __future__ import annotations

import uuid
from typing import Any

from p2c.emulator.schema import Schema, Table

NAMESPACE = uuid.UUID("6d1f5c1e-4a43-4d0b-9a43-1d2b6c0e2c01")
STANDARD_MESSAGES = ("Create", "Update", "Delete", "Retrieve", "RetrieveMultiple")
ATTRIBUTE_TYPES = {
    "string": "String",
    "memo": "Memo",
    "integer": "Integer",
    "decimal": "Decimal",
    "money": "Money",
    "boolean": "Boolean",
    "datetime": "DateTime",
    "dateonly": "DateTime",
    "choice": "Picklist",
}


def metadata_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


def entity_definition(table: Table) -> dict[str, Any]:
    return {
        "MetadataId": metadata_id("entity", table.logical_name),
        "LogicalName": table.logical_name,
        "SchemaName": table.logical_name.capitalize()
        if "_" not in table.logical_name
        else table.logical_name,
        "EntitySetName": table.entity_set,
        "PrimaryIdAttribute": table.primary_key,
        "PrimaryNameAttribute": table.primary_name,
        "IsCustomEntity": table.logical_name.startswith(("msdyn_", "cdm_")),
        "IsPrivate": False,  # Microsoft's Python SDK lists tables with `$filter=IsPrivate eq false`
    }


def keys(table: Table, extra: list[tuple[str, tuple[str, ...]]]) -> list[dict[str, Any]]:
    out = []
    for name, attributes in [(k.name, k.attributes) for k in table.keys] + extra:
        out.append(
            {
                "MetadataId": metadata_id("key", table.logical_name, name),
                "LogicalName": name.lower(),
                "SchemaName": name,
                "EntityLogicalName": table.logical_name,
                "KeyAttributes": list(attributes),
                "EntityKeyIndexStatus": "Active",
            }
        )
    return out


def many_to_one(table: Table, schema: Schema) -> list[dict[str, Any]]:
    out = []
    for attribute, targets in table.lookups.items():
        for target, navigation in targets.items():
            target_table = schema.tables[target]
            name = f"{target}_{table.logical_name}_{attribute}"
            out.append(
                {
                    "MetadataId": metadata_id("relationship", name),
                    "SchemaName": name,
                    "RelationshipType": "OneToManyRelationship",
                    "ReferencedEntity": target,
                    "ReferencedAttribute": target_table.primary_key,
                    "ReferencingEntity": table.logical_name,
                    "ReferencingAttribute": attribute,
                    "ReferencingEntityNavigationPropertyName": navigation,
                    "ReferencedEntityNavigationPropertyName": name,
                }
            )
    return out


def one_to_many(table: Table, schema: Schema) -> list[dict[str, Any]]:
    """The relationships in which other tables' lookups point at this one (the other side of
    `many_to_one`)."""
    return [
        relationship
        for other in schema.tables.values()
        for relationship in many_to_one(other, schema)
        if relationship["ReferencedEntity"] == table.logical_name
    ]


def collection(
    part: str, table: Table, schema: Schema, extra_keys: list[tuple[str, tuple[str, ...]]]
) -> list[dict[str, Any]] | None:
    """The rows of one collection of an EntityDefinition (`Keys`, `Attributes`, the relationships), as a path
    segment or an `$expand` names it; None for a name that is not one."""
    if part == "Keys":
        return keys(table, extra_keys)
    if part == "Attributes":
        return attributes(table)
    if part == "ManyToOneRelationships":
        return many_to_one(table, schema)
    if part == "OneToManyRelationships":
        return one_to_many(table, schema)
    if part == "ManyToManyRelationships":
        return []  # the emulated tables have no N:N relationship
    return None


def attributes(table: Table) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "MetadataId": metadata_id("attribute", table.logical_name, table.primary_key),
            "LogicalName": table.primary_key,
            "AttributeType": "Uniqueidentifier",
            "IsValidForUpdate": False,
        }
    ]
    for column in table.columns.values():
        entry: dict[str, Any] = {
            "MetadataId": metadata_id("attribute", table.logical_name, column.name),
            "LogicalName": column.name,
            "AttributeType": ATTRIBUTE_TYPES[column.type],
            "IsValidForCreate": not column.read_only,
            "IsValidForUpdate": not column.read_only and column.updatable,
        }
        if column.max_length is not None:
            entry["MaxLength"] = column.max_length
        if isinstance(column.minimum, int | float):
            entry["MinValue"] = column.minimum
        if isinstance(column.maximum, int | float):
            entry["MaxValue"] = column.maximum
        if column.options:
            entry["OptionValues"] = sorted(column.options)
        out.append(entry)
    for attribute, targets in table.lookups.items():
        out.append(
            {
                "MetadataId": metadata_id("attribute", table.logical_name, attribute),
                "LogicalName": attribute,
                "AttributeType": "Customer" if len(targets) > 1 else "Lookup",
                "Targets": sorted(targets),
                "IsValidForCreate": True,
                "IsValidForUpdate": attribute not in table.fixed_lookups,
            }
        )
    return out


def _label(text: str) -> dict[str, Any]:
    localized = {"Label": text, "LanguageCode": 1033}
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": localized}


def picklists(table: Table) -> list[dict[str, Any]]:
    """`Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`: each choice column and its OptionSet,
    labelled as schema.json labels it (English, 1033)."""
    return [
        {
            "@odata.type": "#Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            "MetadataId": metadata_id("attribute", table.logical_name, column.name),
            "LogicalName": column.name,
            "AttributeType": "Picklist",
            "OptionSet": {
                "MetadataId": metadata_id("optionset", table.logical_name, column.name),
                "Options": [
                    {"Value": value, "Label": _label(label)} for value, label in sorted(column.option_labels)
                ],
            },
        }
        for column in table.columns.values()
        if column.type == "choice"
    ]


def sdk_message_filters(schema: Schema) -> list[dict[str, Any]]:
    """One row per (message, table) the emulator supports; UpsertMultiple is never listed (§3.1)."""
    rows = []
    for table in schema.tables.values():
        for message in (*STANDARD_MESSAGES, *sorted(table.bulk_messages)):
            rows.append(
                {
                    "sdkmessagefilterid": metadata_id("filter", message, table.logical_name),
                    "primaryobjecttypecode": table.logical_name,
                    "sdkmessageid/name": message,
                    "_sdkmessageid_value": metadata_id("message", message),
                    "isvisible": True,
                }
            )
    return rows
