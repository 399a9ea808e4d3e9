"""The pack's machine-readable forms: lineage.csv and lineage.json, a row per edge of each column's path."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from p2c.lineage.pack_contents import AuditPack, column_record

EDGE_FIELDS = (
    "target_table",
    "target_column",
    "hop_target",
    "source",
    "expression",
    "kind",
    "role",
    "rule",
    "tests",
)


def _tests_text(tests: list[Any]) -> str:
    return "; ".join(f"{t.name} [{t.status}]" for t in tests)


def edge_rows(pack: AuditPack) -> list[dict[str, str]]:
    """One row per hop of each dualwrite column's path, export header rows included (kind `header`).

    role `value`: the hop carries the value; `key`: it only explains where a join key comes from."""
    rows = []
    for column in pack.columns:
        for hop in column.hops:
            rows.append(
                {
                    "target_table": column.relation,
                    "target_column": column.column,
                    "hop_target": hop.target,
                    "source": hop.source,
                    "expression": hop.expression,
                    "kind": hop.kind,
                    "role": hop.role,
                    "rule": column.rule_id or "",
                    "tests": _tests_text(hop.tests),
                }
            )
    return rows


def write_csv(pack: AuditPack, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=EDGE_FIELDS)
        writer.writeheader()
        writer.writerows(edge_rows(pack))


def pack_document(pack: AuditPack) -> dict[str, Any]:
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tables": pack.tables(),
        "columns": [column_record(c) for c in pack.columns],
        "edges": edge_rows(pack),
        "findings": [str(f) for f in pack.findings],
        "untraced_models": pack.errors,
    }


def write_json(pack: AuditPack, path: Path) -> None:
    path.write_text(
        json.dumps(pack_document(pack), indent=1, ensure_ascii=False, default=str), encoding="utf-8"
    )
