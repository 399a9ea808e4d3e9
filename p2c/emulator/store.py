"""The emulator's state: one SQLite file (`--state`), so records survive a restart.

Records are stored as JSON per (table, id) with a version number (the ETag); alternate keys live in their own
table under a UNIQUE constraint, so uniqueness holds even across threads. Every write runs inside
`Store.transaction()`: one writer at a time (a process lock plus SQLite's `BEGIN IMMEDIATE`), rolled back as a
whole on any error, which is what makes bulk messages and change sets all-or-nothing. Reads
(`Store.reading()`) do not take that lock: each runs in a read transaction on a connection of its own, a
snapshot of what is committed, beside the writer (the file is in WAL mode). A real service's GET does not
queue behind another request's write either, and a client that paces itself by the time its answers take
would otherwise count that queueing as work. Reads from other processes (tests, `EmulatorState`) are safe
for the same reason."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    createdon TEXT NOT NULL,
    modifiedon TEXT NOT NULL,
    UNIQUE (entity, id)
);
CREATE TABLE IF NOT EXISTS key_index (
    entity TEXT NOT NULL,
    key_name TEXT NOT NULL,
    key_value TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (entity, key_name, key_value)
);
CREATE INDEX IF NOT EXISTS key_index_by_id ON key_index (entity, id);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    operation TEXT NOT NULL,
    client_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token_sha256 TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

ORGANIZATION_ID = "organization_id"
# What a reset empties. Kept: `counters` (version numbers are never given twice, so an ETag read before the
# reset cannot match a reseeded record by chance) and `tokens` (Entra issued them, not the environment).
RESET_TABLES = ("records", "key_index", "writes", "meta")


@dataclass(frozen=True)
class Row:
    entity: str
    id: str
    version: int
    data: dict[str, Any]
    seq: int
    createdon: str
    modifiedon: str


class KeyConflict(Exception):
    """An alternate key value is already used by another record."""

    def __init__(self, key_name: str, other_id: str) -> None:
        super().__init__(key_name)
        self.key_name = key_name
        self.other_id = other_id


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    connection = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 30000")
    return connection


class Txn:
    """Reads and writes inside one transaction (or one locked read)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self.modified_at = ""
        # Kept per transaction, so that a bulk message's rows cost two or three statements each instead of
        # five: the records read (a lookup's target is read once, not once per row; dropped when written),
        # the version counter (read once, stored at the end) and the write log (one insert at the end).
        self._rows: dict[tuple[str, str], Row | None] = {}
        self._version: int | None = None
        self._version_dirty = False
        self._writes: list[tuple[float, str, str, str, str]] = []

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One part of this transaction that fails alone (a `$batch` request outside a change set): on an
        exception its statements are undone and the records it read or wrote are read again."""
        self._db.execute("SAVEPOINT part")
        logged = len(self._writes)
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO part")
            self._db.execute("RELEASE part")
            del self._writes[logged:]
            self._rows.clear()
            # the counter in memory may be ahead of the database's now: it is stored as it is (a version
            # number that no record got is harmless; one given twice would not be)
            self._version_dirty = self._version is not None
            raise
        self._db.execute("RELEASE part")

    # --- reads ---------------------------------------------------------------------------------------
    def get(self, entity: str, record_id: str) -> Row | None:
        key = (entity, record_id.lower())
        if key in self._rows:
            return self._rows[key]
        found = self._db.execute(
            "SELECT entity, id, version, data, seq, createdon, modifiedon FROM records WHERE "
            "entity=? AND id=?",
            key,
        ).fetchone()
        row = self._rows[key] = _row(found) if found else None
        return row

    def get_many(self, entity: str, record_ids: list[str]) -> list[Row]:
        """The records of these ids that exist, in the table's order (one query per 500 ids)."""
        rows: list[Row] = []
        wanted = list(dict.fromkeys(i.lower() for i in record_ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found = self._db.execute(
                "SELECT entity, id, version, data, seq, createdon, modifiedon FROM records WHERE "
                f"entity=? AND id IN ({','.join('?' * len(chunk))})",
                (entity, *chunk),
            ).fetchall()
            rows.extend(_row(f) for f in found)
        return sorted(rows, key=lambda row: row.seq)

    def scan(self, entity: str) -> Iterator[Row]:
        cursor = self._db.execute(
            "SELECT entity, id, version, data, seq, createdon, modifiedon FROM records WHERE "
            "entity=? ORDER BY seq",
            (entity,),
        )
        for found in cursor.fetchall():
            yield _row(found)

    def scan_where(self, entity: str, json_path: str, values: frozenset[str]) -> Iterator[Row]:
        """The records whose value at `json_path` may equal one of `values` (casefolded strings), in the
        table's order: a superset of the exact answer, as an index lookup is before the rest of a filter.
        SQLite's `lower` folds ASCII only, so a stored text with any other character, and every value that
        is not text (a number compares with a numeric string), is let through for the caller to judge."""
        marks = ",".join("?" * len(values))
        cursor = self._db.execute(
            "SELECT entity, id, version, data, seq, createdon, modifiedon FROM records WHERE entity=? AND ("
            "json_type(data, ?) IN ('integer', 'real', 'true', 'false', 'object', 'array') OR "
            "(json_type(data, ?) = 'text' AND (json_extract(data, ?) GLOB '*[^ -~]*' "
            f"OR lower(json_extract(data, ?)) IN ({marks})))) ORDER BY seq",
            (entity, json_path, json_path, json_path, json_path, *sorted(values)),
        )
        for found in cursor.fetchall():
            yield _row(found)

    def find_key(self, entity: str, key_name: str, key_value: str) -> str | None:
        found = self._db.execute(
            "SELECT id FROM key_index WHERE entity=? AND key_name=? AND key_value=?",
            (entity, key_name, key_value),
        ).fetchone()
        return str(found[0]) if found else None

    def meta(self, name: str) -> str | None:
        found = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return str(found[0]) if found else None

    def record_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    # --- writes --------------------------------------------------------------------------------------
    def next_version(self) -> int:
        if self._version is None:
            found = self._db.execute(
                "INSERT INTO counters(name, value) VALUES ('version', 1000) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value"
            ).fetchone()
            self._version = int(found[0])
        else:
            self._version += 1
            self._version_dirty = True
        return self._version

    def finish(self) -> None:
        """Store what the transaction kept in memory; called before it commits."""
        if self._version_dirty:
            self._db.execute("UPDATE counters SET value=? WHERE name='version'", (self._version,))
            self._version_dirty = False
        if self._writes:
            self._db.executemany(
                "INSERT INTO writes(at, entity, id, operation, client_id) VALUES (?,?,?,?,?)", self._writes
            )
            self._writes.clear()

    def insert(self, entity: str, record_id: str, data: dict[str, Any], client_id: str) -> int:
        version = self.next_version()
        now = _now_iso()
        self._db.execute(
            "INSERT INTO records(entity, id, version, data, createdon, modifiedon) VALUES (?,?,?,?,?,?)",
            (entity, record_id.lower(), version, json.dumps(data, sort_keys=True), now, now),
        )
        self._rows.pop((entity, record_id.lower()), None)
        self._log(entity, record_id, "create", client_id)
        return version

    def insert_many(self, entity: str, rows: list[tuple[str, dict[str, Any]]], client_id: str) -> None:
        """Insert new records in one statement (a seed): as `insert` row by row, with versions in order."""
        if not rows:
            return
        first = self.next_version()
        self._version = first + len(rows) - 1
        self._version_dirty = True
        now = _now_iso()
        self._db.executemany(
            "INSERT INTO records(entity, id, version, data, createdon, modifiedon) VALUES (?,?,?,?,?,?)",
            [
                (entity, record_id.lower(), first + offset, json.dumps(data, sort_keys=True), now, now)
                for offset, (record_id, data) in enumerate(rows)
            ],
        )
        self._rows.clear()
        at = time.time()
        self._writes.extend((at, entity, record_id.lower(), "create", client_id) for record_id, _ in rows)

    def add_keys(self, entity: str, rows: list[tuple[str, str, str]]) -> None:
        """Index (key name, key value, record id) entries known not to clash (a seed checks them itself)."""
        self._db.executemany(
            "INSERT INTO key_index(entity, key_name, key_value, id) VALUES (?,?,?,?)",
            [(entity, key_name, key_value, record_id.lower()) for key_name, key_value, record_id in rows],
        )

    def update(self, entity: str, record_id: str, data: dict[str, Any], client_id: str) -> int:
        version = self.next_version()
        self.modified_at = _now_iso()  # the record's new modifiedon
        self._db.execute(
            "UPDATE records SET version=?, data=?, modifiedon=? WHERE entity=? AND id=?",
            (version, json.dumps(data, sort_keys=True), self.modified_at, entity, record_id.lower()),
        )
        self._rows.pop((entity, record_id.lower()), None)
        self._log(entity, record_id, "update", client_id)
        return version

    def delete(self, entity: str, record_id: str, client_id: str) -> None:
        self._db.execute("DELETE FROM records WHERE entity=? AND id=?", (entity, record_id.lower()))
        self._db.execute("DELETE FROM key_index WHERE entity=? AND id=?", (entity, record_id.lower()))
        self._rows.pop((entity, record_id.lower()), None)
        self._log(entity, record_id, "delete", client_id)

    def set_keys(
        self,
        entity: str,
        record_id: str,
        values: dict[str, str | None],
        before: dict[str, str | None] | None = None,
    ) -> None:
        """Replace the record's alternate-key entries; a value used by another record raises KeyConflict.
        `before`: the entries as they were (an update that changes no key value then writes nothing)."""
        record_id = record_id.lower()
        if before is not None and before == values:
            return
        self._db.execute("DELETE FROM key_index WHERE entity=? AND id=?", (entity, record_id))
        for key_name, key_value in values.items():
            if key_value is None:
                continue
            try:
                self._db.execute(
                    "INSERT INTO key_index(entity, key_name, key_value, id) VALUES (?,?,?,?)",
                    (entity, key_name, key_value, record_id),
                )
            except sqlite3.IntegrityError:
                other = self.find_key(entity, key_name, key_value) or ""
                raise KeyConflict(key_name, other) from None

    def clear(self, table: str) -> None:
        """Empty one of the store's own tables (a reset)."""
        if table not in RESET_TABLES:
            raise ValueError(f"not a table a reset empties: {table}")
        self._db.execute(f"DELETE FROM {table}")
        self._rows.clear()

    def set_meta(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(name, value) VALUES (?,?) ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (name, value),
        )

    def _log(self, entity: str, record_id: str, operation: str, client_id: str) -> None:
        self._writes.append((time.time(), entity, record_id.lower(), operation, client_id))

    # --- tokens (only their SHA-256 is stored, never the token) ---------------------------------------
    def save_token(self, token_sha256: str, client_id: str, expires_at: float) -> None:
        self._db.execute("DELETE FROM tokens WHERE expires_at < ?", (time.time() - 3600,))
        self._db.execute(
            "INSERT OR REPLACE INTO tokens VALUES (?,?,?)", (token_sha256, client_id, expires_at)
        )

    def token(self, token_sha256: str) -> tuple[str, float] | None:
        found = self._db.execute(
            "SELECT client_id, expires_at FROM tokens WHERE token_sha256=?", (token_sha256,)
        ).fetchone()
        return (str(found[0]), float(found[1])) if found else None


def _row(found: tuple[Any, ...]) -> Row:
    entity, record_id, version, data, seq, createdon, modifiedon = found
    return Row(
        str(entity), str(record_id), int(version), json.loads(data), int(seq), str(createdon), str(modifiedon)
    )


class Store:
    """The state file, shared by the server's threads. Its folder must exist: a typo in the path must not
    scatter state files (the caller says so to the user; `sqlite3` would only say "unable to open")."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.created = not path.exists() or path.stat().st_size == 0
        self._db = connect(path)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(SCHEMA_SQL)
        self._lock = threading.RLock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()  # idle read connections
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()  # not the writer's lock: a read must not wait for a write
        self.organization_id = self._organization_id()

    def _organization_id(self) -> str:
        """The environment's identity (WhoAmI's OrganizationId): chosen once, when the state is created (or
        first opened by a version that has it), then kept, as a Dataverse environment keeps its own."""
        with self.transaction() as txn:
            found = txn.meta(ORGANIZATION_ID)
            if found is None:
                found = str(uuid.uuid4())
                txn.set_meta(ORGANIZATION_ID, found)
        return found

    def record_count(self) -> int:
        with self.reading() as txn:
            return txn.record_count()

    def seeded_from(self) -> str | None:
        with self.reading() as txn:
            return txn.meta("seeded_from")

    def reset(self) -> None:
        """Start over as an empty environment with a new identity (a sandbox reset at the same URL)."""
        with self.transaction() as txn:
            for table in RESET_TABLES:
                txn.clear(table)
            self.organization_id = str(uuid.uuid4())
            txn.set_meta(ORGANIZATION_ID, self.organization_id)

    @contextmanager
    def transaction(self) -> Iterator[Txn]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            txn = Txn(self._db)
            try:
                yield txn
                txn.finish()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[Txn]:
        """A snapshot of the committed state, without waiting for a write in progress."""
        try:
            connection = self._readers.get_nowait()
        except queue.Empty:
            connection = connect(self.path)
            with self._opened_lock:
                self._opened.append(connection)
        connection.execute("BEGIN")  # one snapshot for every statement of this read
        try:
            yield Txn(connection)
        finally:
            connection.execute("COMMIT")
            self._readers.put(connection)

    def close(self) -> None:
        with self._lock, self._opened_lock:
            for connection in self._opened:
                connection.close()
            self._db.close()
