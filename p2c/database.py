"""Open the DuckDB file of a migration, or say in words why not: one place for every command.

Two ways in:

- `open_existing(path, read_only=...)`: the file must already be a DuckDB database (`p2c build`, `lineage`,
  `rejects`, and the coming `plan`/`upload`/`results`). `check_existing(path)` runs the same checks without
  opening the file, for commands that hand the file to another program (dbt).
- `open_or_create(path)`: `p2c load`, the one command that may create the database.

Every refusal is a `DatabaseUnavailable` (exit 2) naming the file and what to do: missing file, a folder, a
0-byte file, a file that is not DuckDB, a read-only file or folder, a lock held by another process. The checks
run before DuckDB touches the file, so a refused file is left exactly as it was (DuckDB would otherwise create
a missing file, or a `.wal` beside it).

Every connection sees the file as catalog CATALOG (`migration`), whatever it is called (loaders.catalog):
DuckDB would otherwise name it after the file's stem, and a file called `p2c.duckdb` or `raw.duckdb` would
make the two-part names `p2c.builds` or `raw._loads` ambiguous."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from loaders.catalog import CATALOG, connect_file
from p2c.errors import DatabaseUnavailable

__all__ = [
    "CATALOG",
    "DUCKDB_MAGIC",
    "DatabaseUnavailable",
    "check_existing",
    "check_writable_folder",
    "connect_error",
    "open_existing",
    "open_or_create",
    "reading",
    "writing",
]

# A DuckDB file starts with an 8-byte checksum, then the magic bytes.
DUCKDB_MAGIC = b"DUCK"
_MAGIC_OFFSET = 8
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
_ANOTHER_DB_HINT = "check --db (default: $P2C_DB, else ./p2c.duckdb)"


def _is_read_only(path: Path) -> bool:
    """No write permission for this user, or no write bit at all (root may write anyway, but a folder or file
    someone made read-only is refused as such, not written behind their back)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not os.access(path, os.W_OK) or not stat.S_IMODE(mode) & 0o222


def check_existing(path: Path, *, for_writing: bool = False) -> None:
    """Refuse anything that is not an existing, readable DuckDB file (and, for writing, a writable one in a
    writable folder: DuckDB writes a `.wal` beside it). Reads at most the file's first 12 bytes."""
    if path.is_dir():
        raise DatabaseUnavailable(f"{path} is a folder, not a DuckDB file", hint=_ANOTHER_DB_HINT)
    if not path.exists():
        raise DatabaseUnavailable(
            f"no database at {path}", hint=f"run `p2c load ... --db {path}` first, or {_ANOTHER_DB_HINT}"
        )
    if not path.is_file():
        raise DatabaseUnavailable(f"{path} is not a regular file", hint=_ANOTHER_DB_HINT)
    try:
        with path.open("rb") as handle:
            head = handle.read(_MAGIC_OFFSET + len(DUCKDB_MAGIC))
    except OSError as error:
        raise DatabaseUnavailable(f"cannot read {path}: {error.strerror or error}") from None
    if not head:
        raise DatabaseUnavailable(
            f"{path} is empty (0 bytes), not a DuckDB database",
            hint="delete it and run `p2c load` again, or give the right --db; it was left as it is",
        )
    if head[_MAGIC_OFFSET:] != DUCKDB_MAGIC:
        raise DatabaseUnavailable(
            f"{path} is not a DuckDB database",
            hint=f"{_ANOTHER_DB_HINT}; the file was left as it is",
        )
    if for_writing:
        if _is_read_only(path):
            raise DatabaseUnavailable(
                f"{path} is read-only",
                hint="make it writable (chmod u+w), or copy it and give the copy as --db",
            )
        check_writable_folder(path.parent, purpose=f"DuckDB writes {path.name}.wal there")


def check_writable_folder(folder: Path, *, purpose: str) -> None:
    """The folder (or, when missing, its nearest existing parent) must be writable."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DatabaseUnavailable(f"{existing} is a file, not a folder ({purpose})")
    if _is_read_only(existing):
        raise DatabaseUnavailable(
            f"the folder {existing} is read-only ({purpose})",
            hint="choose a writable folder, or make this one writable",
        )


def connect_error(path: Path, error: duckdb.Error, *, for_writing: bool) -> DatabaseUnavailable:
    """DuckDB's refusal to open `path` in words: most often another process holds the lock."""
    text = str(error)
    holder = _LOCK_HOLDER.search(text)
    if holder is not None or "Could not set lock" in text:
        who = f"process {holder['pid']} ({Path(holder['program']).name})" if holder else "another process"
        return DatabaseUnavailable(
            f"cannot open {path}: {who} has it open"
            + (" (DuckDB allows one writer at a time)" if for_writing else ""),
            hint="wait for the other p2c command to finish, or close the program that holds it (a DuckDB UI)",
        )
    first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return DatabaseUnavailable(f"cannot open {path}: {first_line}")


def open_existing(path: Path, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to an existing DuckDB file; DatabaseUnavailable (exit 2) when it cannot be."""
    check_existing(path, for_writing=not read_only)
    try:
        return connect_file(path, read_only=read_only)
    except duckdb.Error as error:
        raise connect_error(path, error, for_writing=not read_only) from None


def open_or_create(path: Path) -> duckdb.DuckDBPyConnection:
    """`p2c load`: open the database for writing, creating it (and its folder) when it does not exist yet.
    A file DuckDB could not open is removed again only when this call created it."""
    if path.exists():
        return open_existing(path, read_only=False)
    check_writable_folder(path.parent, purpose=f"to create the database {path.name}")
    created_folder = not path.parent.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return connect_file(path)
    except (duckdb.Error, OSError) as error:
        for leftover in (path, path.with_name(path.name + ".wal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        if created_folder:
            with contextlib.suppress(OSError):
                path.parent.rmdir()
        if isinstance(error, duckdb.Error):
            raise connect_error(path, error, for_writing=True) from None
        raise DatabaseUnavailable(f"cannot create {path}: {error.strerror or error}") from None


@contextmanager
def reading(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """`with reading(db) as con:` a read-only connection, closed at the end."""
    con = open_existing(path, read_only=True)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def writing(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """`with writing(db) as con:` a read-write connection to an existing database, closed at the end."""
    con = open_existing(path, read_only=False)
    try:
        yield con
    finally:
        con.close()
