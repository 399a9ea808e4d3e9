"""Table metadata read from the service and kept for the life of the client (one per process).

* Entity set name and primary id: `EntityDefinitions(LogicalName='x')?$select=LogicalName,EntitySetName,
  PrimaryIdAttribute`. Entity set names are not derivable from logical names (`salesorder` ->
  `salesorders`, but `opportunityproduct` -> `opportunityproducts`, custom tables vary).
* Navigation properties for `@odata.bind`: `EntityDefinitions(LogicalName='x')/ManyToOneRelationships`.
  The bind name is `ReferencingEntityNavigationPropertyName`, case-sensitive and not the lookup column's
  name (dual-write's company lookup is `msdyn_Company` on some tables, `msdyn_company` on others), and a
  polymorphic lookup (`customerid`, `parentcustomerid`) has one relationship per target table.
* Alternate keys: `EntityDefinitions(LogicalName='x')/Keys` (`KeyAttributes`, `EntityKeyIndexStatus`).
* Columns and their types: `EntityDefinitions(LogicalName='x')/Attributes` (`LogicalName`, `AttributeType`):
  a lookup (`Lookup`, `Customer`, `Owner`) is read as `_<name>_value`, any other column by its name.
* Whether a table supports a bulk message: `sdkmessagefilters` filtered by message name and table, the
  probe Microsoft documents ("You should test"); a non-empty answer means supported."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from p2c.dataverse.errors import DataverseTerminalError
from p2c.dataverse.odata import literal, query_string
from p2c.dataverse.results import EntityInfo, EntityKey, LookupRelation
from p2c.dataverse.transport import Transport
from p2c.errors import UsageError

T = TypeVar("T")


class MetadataCache:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._cache: dict[tuple[str, ...], Any] = {}
        self._lock = threading.RLock()

    def _cached(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        with self._lock:  # one loader at a time: metadata requests are few, duplicates would waste quota
            if key not in self._cache:
                self._cache[key] = load()
            value: T = self._cache[key]
            return value

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    @staticmethod
    def _definition(logical_name: str) -> str:
        if not logical_name or not logical_name.replace("_", "").isalnum():
            raise UsageError(f"{logical_name!r} is not a table logical name")
        return f"EntityDefinitions(LogicalName={literal(logical_name.lower())})"

    def entity(self, logical_name: str) -> EntityInfo:
        """Entity set name and primary id column of a table."""

        def load() -> EntityInfo:
            path = (
                self._definition(logical_name)
                + "?"
                + query_string({"$select": "LogicalName,EntitySetName,PrimaryIdAttribute"})
            )
            try:
                data = self._transport.get_json(path, what=f"metadata of {logical_name}")
            except DataverseTerminalError as exc:
                if exc.status == 404:
                    raise UsageError(f"the environment has no table {logical_name!r}") from None
                raise
            return EntityInfo(
                str(data["LogicalName"]), str(data["EntitySetName"]), str(data["PrimaryIdAttribute"])
            )

        return self._cached(("entity", logical_name.lower()), load)

    def entity_by_set(self, entity_set: str) -> EntityInfo:
        """The table behind an entity set name (`EntityDefinitions?$filter=EntitySetName eq '...'`)."""

        def load() -> EntityInfo:
            path = "EntityDefinitions?" + query_string(
                {
                    "$select": "LogicalName,EntitySetName,PrimaryIdAttribute",
                    "$filter": f"EntitySetName eq {literal(entity_set)}",
                }
            )
            found = self._transport.get_json(path, what=f"metadata of {entity_set}").get("value") or []
            if len(found) != 1:
                raise UsageError(f"the environment has no entity set {entity_set!r}")
            data = found[0]
            return EntityInfo(
                str(data["LogicalName"]), str(data["EntitySetName"]), str(data["PrimaryIdAttribute"])
            )

        return self._cached(("entity_set", entity_set), load)

    def lookups(self, logical_name: str) -> tuple[LookupRelation, ...]:
        """Every many-to-one relationship of a table (its lookup columns)."""

        def load() -> tuple[LookupRelation, ...]:
            select = (
                "ReferencingAttribute,ReferencingEntityNavigationPropertyName,"
                "ReferencedEntity,ReferencedAttribute"
            )
            path = f"{self._definition(logical_name)}/ManyToOneRelationships?" + query_string(
                {"$select": select}
            )
            return tuple(
                LookupRelation(
                    str(item["ReferencingAttribute"]),
                    str(item["ReferencingEntityNavigationPropertyName"]),
                    str(item["ReferencedEntity"]),
                    str(item.get("ReferencedAttribute") or ""),
                )
                for item in self._transport.iter_pages(path, what=f"lookups of {logical_name}")
            )

        return self._cached(("lookups", logical_name.lower()), load)

    def navigation_property(self, logical_name: str, lookup_column: str, target: str | None = None) -> str:
        """The `@odata.bind` name for a lookup column (give `target` for a polymorphic lookup)."""
        matches = [r for r in self.lookups(logical_name) if r.referencing_attribute == lookup_column.lower()]
        if target is not None:
            matches = [r for r in matches if r.referenced_entity == target.lower()]
        if len(matches) == 1:
            return matches[0].navigation_property
        if not matches:
            where = f" to {target}" if target else ""
            raise UsageError(f"{logical_name}.{lookup_column} is not a lookup{where} in this environment")
        targets = ", ".join(sorted(r.referenced_entity for r in matches))
        raise UsageError(
            f"{logical_name}.{lookup_column} can point to several tables ({targets}): say which one",
        )

    def attributes(self, logical_name: str) -> dict[str, str]:
        """Every column of a table and its `AttributeType` (String, Picklist, Lookup, ...)."""

        def load() -> dict[str, str]:
            path = f"{self._definition(logical_name)}/Attributes?" + query_string(
                {"$select": "LogicalName,AttributeType"}
            )
            return {
                str(item["LogicalName"]): str(item.get("AttributeType") or "")
                for item in self._transport.iter_pages(path, what=f"columns of {logical_name}")
            }

        return self._cached(("attributes", logical_name.lower()), load)

    def keys(self, logical_name: str) -> tuple[EntityKey, ...]:
        """The table's alternate keys."""

        def load() -> tuple[EntityKey, ...]:
            path = f"{self._definition(logical_name)}/Keys?" + query_string(
                {"$select": "SchemaName,LogicalName,KeyAttributes,EntityKeyIndexStatus"}
            )
            return tuple(
                EntityKey(
                    str(item.get("SchemaName") or ""),
                    str(item.get("LogicalName") or ""),
                    tuple(str(a) for a in item.get("KeyAttributes") or ()),
                    str(item.get("EntityKeyIndexStatus") or ""),
                )
                for item in self._transport.iter_pages(path, what=f"keys of {logical_name}")
            )

        return self._cached(("keys", logical_name.lower()), load)

    def supports_message(self, logical_name: str, message: str) -> bool:
        """Whether `message` (CreateMultiple, UpdateMultiple) is available for the table, per the service."""

        def load() -> bool:
            # The documented probe, with parameter aliases so the values need no escaping in the filter.
            path = "sdkmessagefilters?" + query_string(
                {
                    "$select": "sdkmessagefilterid",
                    "$filter": "sdkmessageid/name eq @message and primaryobjecttypecode eq @table",
                    "@message": literal(message),
                    "@table": literal(logical_name.lower()),
                }
            )
            data = self._transport.get_json(path, what=f"{message} support for {logical_name}")
            return bool(data.get("value"))

        return self._cached(("message", logical_name.lower(), message), load)
