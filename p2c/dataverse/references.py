"""Reference records resolved once per run: a company by `cdm_companycode`, a customer group, a currency.

Initialization binds many rows to the same few reference records. `ReferenceResolver` asks Dataverse
once per distinct (entity set, column values) with `$filter` (never a key URL, so values with `/`, `&`,
`:` work) and keeps the answer, found or not, for the life of the client."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from p2c.dataverse.errors import AmbiguousReference, ReferenceNotFound
from p2c.dataverse.odata import bind, collection_path, equals_filter
from p2c.dataverse.results import Resolution, ResolutionStatus
from p2c.dataverse.transport import Transport


def resolve_id(transport: Transport, entity_set: str, match: Mapping[str, Any], id_column: str) -> Resolution:
    """Which record has these column values: exactly one id, none, or several (always by `$filter`)."""
    path = collection_path(entity_set, filter=equals_filter(match), select=[id_column], top=2)
    rows = list(transport.iter_pages(path, what=f"query {entity_set}"))
    ids = tuple(str(r[id_column]) for r in rows)
    if not ids:
        return Resolution(ResolutionStatus.NONE)
    if len(ids) > 1:
        return Resolution(ResolutionStatus.SEVERAL, candidates=ids)
    return Resolution(ResolutionStatus.FOUND, record_id=ids[0], candidates=ids)


class ReferenceResolver:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._cache: dict[tuple[Any, ...], Resolution] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(entity_set: str, match: Mapping[str, Any], id_column: str) -> tuple[Any, ...]:
        return (entity_set, id_column, tuple(sorted((k, repr(v)) for k, v in match.items())))

    def resolve(self, entity_set: str, match: Mapping[str, Any], id_column: str) -> Resolution:
        """The record `match` names (cached, including 'none' and 'several' answers)."""
        key = self._key(entity_set, match, id_column)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        resolution = resolve_id(self._transport, entity_set, match, id_column)
        with self._lock:
            return self._cache.setdefault(key, resolution)

    def require(self, entity_set: str, match: Mapping[str, Any], id_column: str) -> str:
        """The id of the one record `match` names; ReferenceNotFound / AmbiguousReference otherwise."""
        resolution = self.resolve(entity_set, match, id_column)
        described = ", ".join(f"{k}={v!r}" for k, v in match.items())
        if resolution.status is ResolutionStatus.NONE:
            raise ReferenceNotFound(f"no {entity_set} record has {described}")
        if resolution.status is ResolutionStatus.SEVERAL:
            raise AmbiguousReference(
                f"several {entity_set} records have {described}: {', '.join(resolution.candidates)}"
            )
        assert resolution.record_id is not None
        return resolution.record_id

    def bind(
        self, navigation_property: str, entity_set: str, match: Mapping[str, Any], id_column: str
    ) -> dict[str, str]:
        """`{"msdyn_company@odata.bind": "/cdm_companies(<guid>)"}` for the record `match` names."""
        return bind(navigation_property, entity_set, self.require(entity_set, match, id_column))

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
