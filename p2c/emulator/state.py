"""Read an emulator state file directly, for tests and inspection: rows, and counts of what was written.

`EmulatorState(path).rows("account")` returns the stored records as the API shows their columns (lookups as
`_<name>_value`), `writes("create", "account")` counts logged creates; the seed's own inserts are logged
under the client id "seed" and can be left out with `client_id=`. Opens the file read-only per call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from p2c.emulator.store import ORGANIZATION_ID, connect


class EmulatorState:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        connection = connect(self.path)  # read-write open: read-only cannot attach to a WAL file
        try:
            return list(connection.execute(sql, parameters).fetchall())
        finally:
            connection.close()

    def rows(self, table: str) -> list[dict[str, Any]]:
        out = []
        for record_id, version, data in self._query(
            "SELECT id, version, data FROM records WHERE entity=? ORDER BY seq", (table,)
        ):
            row: dict[str, Any] = {"id": record_id, "versionnumber": version}
            for name, value in json.loads(data).items():
                if isinstance(value, dict):
                    row[f"_{name}_value"] = value.get("id")
                else:
                    row[name] = value
            out.append(row)
        return out

    def row(self, table: str, record_id: str) -> dict[str, Any] | None:
        return next((r for r in self.rows(table) if r["id"] == record_id.lower()), None)

    def count(self, table: str) -> int:
        return int(self._query("SELECT count(*) FROM records WHERE entity=?", (table,))[0][0])

    def writes(self, operation: str, table: str | None = None, *, client_id: str | None = None) -> int:
        sql = "SELECT count(*) FROM writes WHERE operation=?"
        parameters: list[Any] = [operation]
        if table is not None:
            sql += " AND entity=?"
            parameters.append(table)
        if client_id is not None:
            sql += " AND client_id=?"
            parameters.append(client_id)
        return int(self._query(sql, tuple(parameters))[0][0])

    def api_writes(self, operation: str, table: str | None = None) -> int:
        """Writes made through the API (everything but the seed)."""
        return self.writes(operation, table) - self.writes(operation, table, client_id="seed")

    def organization_id(self) -> str | None:
        """The id WhoAmI answers as OrganizationId."""
        found = self._query("SELECT value FROM meta WHERE name=?", (ORGANIZATION_ID,))
        return str(found[0][0]) if found else None

    def seed_report(self) -> dict[str, Any] | None:
        found = self._query("SELECT value FROM meta WHERE name='seed_report'")
        return json.loads(found[0][0]) if found else None
