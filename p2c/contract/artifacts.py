"""dbt's artifacts (manifest, catalog, run results): read once, looked up by relation.

The one reader of dbt's target files: the build summary, the lineage, the row provenance and the uploader all
find models, their relations and their columns here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loaders.sql import quote_identifier
from p2c.errors import ArtifactsMissing

__all__ = ["CATALOG", "MANIFEST", "RUN_RESULTS"]
__all__ += ["Artifacts", "ArtifactsMissing", "Relation", "load_artifacts"]

MANIFEST = "manifest.json"
CATALOG = "catalog.json"
RUN_RESULTS = "run_results.json"


@dataclass(frozen=True)
class Relation:
    """A relation as the lineage names it: `<schema>.<identifier>` (`raw.contact`, `dualwrite.contact`)."""

    unique_id: str
    resource_type: str  # model | source | seed | snapshot
    schema: str
    identifier: str
    node: dict[str, Any] = field(repr=False, hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.identifier}"

    @property
    def sql_name(self) -> str:
        """The relation quoted for SQL (`"dualwrite"."account"`)."""
        return f"{quote_identifier(self.schema)}.{quote_identifier(self.identifier)}"

    @property
    def model_name(self) -> str:
        return str(self.node.get("name") or self.identifier)

    @property
    def materialized(self) -> str:
        return str((self.node.get("config") or {}).get("materialized") or "")

    @property
    def meta(self) -> dict[str, Any]:
        """The node's `meta` (dbt >= 1.10 keeps it under config.meta; older manifests at the top)."""
        config_meta = (self.node.get("config") or {}).get("meta") or {}
        return dict(config_meta or self.node.get("meta") or {})

    def yaml_columns(self) -> list[str]:
        """The columns the model's YAML declares, in order (an enforced contract makes them the table's)."""
        return [str(name).lower() for name in (self.node.get("columns") or {})]


@dataclass(frozen=True)
class Artifacts:
    target_dir: Path
    manifest: dict[str, Any]
    catalog: dict[str, Any] | None
    run_results: dict[str, Any] | None

    def relations(self) -> dict[str, Relation]:
        """Every model, seed, snapshot and source, by `<schema>.<identifier>` in lower case."""
        found: dict[str, Relation] = {}
        nodes = list(self.manifest.get("nodes", {}).values()) + list(
            self.manifest.get("sources", {}).values()
        )
        for node in nodes:
            kind = node.get("resource_type")
            if kind not in {"model", "seed", "snapshot", "source"}:
                continue
            identifier = node.get("identifier") if kind == "source" else node.get("alias")
            relation = Relation(
                unique_id=node["unique_id"],
                resource_type=kind,
                schema=str(node["schema"]).lower(),
                identifier=str(identifier or node["name"]).lower(),
                node=node,
            )
            found[relation.name] = relation
        return found

    def models(self) -> dict[str, Relation]:
        """Every built (non-ephemeral) model by model name."""
        return {
            relation.model_name: relation
            for relation in self.relations().values()
            if relation.resource_type == "model" and relation.materialized != "ephemeral"
        }

    def catalog_columns(self, unique_id: str) -> list[str] | None:
        """Column names in the warehouse per catalog.json (ordered by index), or None when not catalogued."""
        if not self.catalog:
            return None
        entry = self.catalog.get("nodes", {}).get(unique_id) or self.catalog.get("sources", {}).get(unique_id)
        if not entry:
            return None
        columns = sorted(entry.get("columns", {}).values(), key=lambda c: c.get("index", 0))
        return [str(c["name"]).lower() for c in columns]


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


def load_artifacts(target_dir: Path) -> Artifacts:
    manifest = _read_json(target_dir / MANIFEST)
    if manifest is None:
        raise ArtifactsMissing(f"no {MANIFEST} in {target_dir}: run `dbt compile` or `p2c build` first")
    return Artifacts(
        target_dir=target_dir,
        manifest=manifest,
        catalog=_read_json(target_dir / CATALOG),
        run_results=_read_json(target_dir / RUN_RESULTS),
    )
