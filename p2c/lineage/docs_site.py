"""The dbt docs site for the pack, with every column described.

A column without a YAML description gets one written from its computed lineage (SQLMesh does the same for
pass-through columns), raw columns get their export headers. The site is written as dbt's own index.html +
manifest.json + catalog.json (needs an HTTP server) and as static_index.html with both inlined (offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from p2c.contract.artifacts import Artifacts
from p2c.lineage.column_evidence import LANGUAGE_NAMES, Header, vocabulary_headers
from p2c.lineage.graph import LineageGraph
from p2c.lineage.pack_contents import AuditPack

MANIFEST_PLACEHOLDER = '"MANIFEST.JSON INLINE DATA"'
CATALOG_PLACEHOLDER = '"CATALOG.JSON INLINE DATA"'


def _describe_model_column(graph: LineageGraph, relation: str, column: str) -> str:
    edges = graph.edges_into(relation, column)
    if not edges:
        return "Computed column (no upstream column)."
    parts = sorted({f"{e.kind} of {e.source}" for e in edges})
    return "Lineage: " + "; ".join(parts) + "."


def _describe_raw_column(headers: list[Header]) -> str:
    if not headers:
        return "Export column (not in the header vocabulary: an unknown header kept as text)."
    shown = ", ".join(
        f'"{h.header}" ({LANGUAGE_NAMES.get(h.language_code, h.language_code)})' for h in headers[:3]
    )
    more = max(len(headers) - 3, 0)
    return f"Export column, header {shown} and {more} more languages; text exactly as exported."


def describe_all_columns(manifest: dict[str, Any], catalog: dict[str, Any] | None, pack: AuditPack) -> int:
    """Fill every empty column description in place; returns how many were written."""
    vocabulary = vocabulary_headers(Artifacts(Path("."), manifest, catalog, None))
    graph = pack.graph
    written = 0
    for name, relation in graph.relations.items():
        node = manifest.get("nodes", {}).get(relation.unique_id) or manifest.get("sources", {}).get(
            relation.unique_id
        )
        if node is None:
            continue
        columns = node.setdefault("columns", {})
        for column in graph.columns.get(name, []):
            entry = columns.setdefault(column, {"name": column, "description": "", "meta": {}, "tags": []})
            if str(entry.get("description") or "").strip():
                continue
            if relation.resource_type == "model":
                entry["description"] = _describe_model_column(graph, name, column)
            elif relation.resource_type == "source":
                entry["description"] = _describe_raw_column(vocabulary.get((relation.identifier, column), []))
            elif relation.resource_type == "seed":
                entry["description"] = f"Configuration: column {column} of seed {relation.identifier}."
            else:
                continue
            written += 1
    return written


def write_docs_site(docs_target: Path, out_dir: Path, pack: AuditPack) -> dict[str, int]:
    """Copy dbt's docs (from `dbt docs generate` into docs_target) to out_dir, every column described."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((docs_target / "manifest.json").read_text(encoding="utf-8"))
    catalog_path = docs_target / "catalog.json"
    catalog = json.loads(catalog_path.read_text(encoding="utf-8")) if catalog_path.is_file() else None
    written = describe_all_columns(manifest, catalog, pack)
    manifest_text = json.dumps(manifest)
    catalog_text = json.dumps(catalog or {"nodes": {}, "sources": {}})
    (out_dir / "manifest.json").write_text(manifest_text, encoding="utf-8")
    (out_dir / "catalog.json").write_text(catalog_text, encoding="utf-8")
    index = docs_target / "index.html"
    if index.is_file():
        shutil.copyfile(index, out_dir / "index.html")
        html = index.read_text(encoding="utf-8")
        static = html.replace(MANIFEST_PLACEHOLDER, manifest_text).replace(CATALOG_PLACEHOLDER, catalog_text)
        (out_dir / "static_index.html").write_text(static, encoding="utf-8")
    return {"descriptions_written": written}
