"""The emulator's state file: reads beside a write in progress, and what a transaction keeps in memory
(records read, the version counter, the write log) stored exactly as statement by statement would."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from p2c.emulator.store import Store


def _seeded(tmp_path: Path, count: int = 3) -> Store:
    store = Store(tmp_path / "state.sqlite")
    with store.transaction() as txn:
        for i in range(count):
            txn.insert("account", f"00000000-0000-0000-0000-{i:012d}", {"name": f"A{i}"}, "seed")
    return store


def test_a_read_answers_while_a_write_is_in_progress_and_sees_only_what_is_committed(tmp_path: Path) -> None:
    store = _seeded(tmp_path)
    record = "00000000-0000-0000-0000-000000000001"
    writing, release = threading.Event(), threading.Event()

    def write() -> None:
        with store.transaction() as txn:
            row = txn.get("account", record)
            assert row is not None
            txn.update("account", record, {"name": "changed"}, "client")
            writing.set()
            release.wait(10)

    writer = threading.Thread(target=write)
    writer.start()
    assert writing.wait(10)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.append(_name(store, record)))
    reader.start()
    reader.join(5)  # with reads behind the writer's lock this waits for the whole write
    finished_beside_the_write = not reader.is_alive()
    release.set()
    writer.join(10)
    reader.join(10)
    assert finished_beside_the_write
    assert seen == ["A1"]  # the snapshot before the write committed
    assert _name(store, record) == "changed"
    store.close()


def _name(store: Store, record_id: str) -> str:
    with store.reading() as txn:
        row = txn.get("account", record_id)
        assert row is not None
        return str(row.data["name"])


def test_versions_the_write_log_and_records_read_stay_exact_across_transactions(tmp_path: Path) -> None:
    store = _seeded(tmp_path)
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(3)]
    versions: list[int] = []
    for round_ in range(2):
        with store.transaction() as txn:
            for record_id in ids:
                before = txn.get("account", record_id)
                assert before is not None
                versions.append(txn.update("account", record_id, {"name": f"r{round_}"}, "client"))
                after = txn.get("account", record_id)  # read again in the same transaction: the new values
                assert after is not None and after.data == {"name": f"r{round_}"}
                assert after.version == versions[-1]
    assert versions == sorted(set(versions)) and len(versions) == 6
    store.close()
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        [(counter,)] = db.execute("SELECT value FROM counters WHERE name='version'").fetchall()
        logged = db.execute("SELECT operation, count(*) FROM writes GROUP BY operation ORDER BY 1").fetchall()
        stored = dict(db.execute("SELECT id, version FROM records").fetchall())
    assert counter == versions[-1]  # the next transaction continues after the last version handed out
    assert logged == [("create", 3), ("update", 6)]
    assert stored == dict(zip(ids, versions[3:], strict=True))


def test_a_failed_transaction_leaves_no_version_and_no_log(tmp_path: Path) -> None:
    store = _seeded(tmp_path)
    record = "00000000-0000-0000-0000-000000000000"
    try:
        with store.transaction() as txn:
            txn.update("account", record, {"name": "lost"}, "client")
            raise RuntimeError("a later row of the bulk request failed")
    except RuntimeError:
        pass
    with store.transaction() as txn:
        version = txn.update("account", record, {"name": "kept"}, "client")
    store.close()
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        [(updates,)] = db.execute("SELECT count(*) FROM writes WHERE operation='update'").fetchall()
        [(counter,)] = db.execute("SELECT value FROM counters WHERE name='version'").fetchall()
    assert updates == 1 and counter == version


def test_many_ids_are_read_in_one_snapshot_in_the_table_order(tmp_path: Path) -> None:
    store = _seeded(tmp_path, count=1200)
    wanted = [f"00000000-0000-0000-0000-{i:012d}" for i in range(1199, -1, -2)]
    wanted += ["ffffffff-0000-0000-0000-000000000000", wanted[0].upper()]  # unknown, and one id twice
    with store.reading() as txn:
        rows = txn.get_many("account", wanted)
    assert [row.id for row in rows] == [f"00000000-0000-0000-0000-{i:012d}" for i in range(1, 1200, 2)]
    store.close()


def test_a_failed_part_of_a_transaction_is_undone_alone(tmp_path: Path) -> None:
    """A `$batch` of independent writes runs in one transaction, a savepoint per part: a part that fails
    after it wrote leaves no trace (its record, its log entry, what the transaction read), the parts before
    and after it stay, and no version number is handed out twice."""
    store = _seeded(tmp_path)
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(3)]
    versions: list[int] = []
    with store.transaction() as txn:
        with txn.savepoint():
            versions.append(txn.update("account", ids[0], {"name": "first"}, "client"))
        try:
            with txn.savepoint():
                txn.update("account", ids[1], {"name": "lost"}, "client")
                assert txn.get("account", ids[1]).data == {"name": "lost"}  # type: ignore[union-attr]
                raise RuntimeError("the part failed after its write")
        except RuntimeError:
            pass
        row = txn.get("account", ids[1])
        assert row is not None and row.data == {"name": "A1"}  # read again, not the undone write
        with txn.savepoint():
            versions.append(txn.update("account", ids[2], {"name": "third"}, "client"))
    with store.transaction() as txn:
        versions.append(txn.update("account", ids[1], {"name": "later"}, "client"))
    store.close()
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        names = dict(db.execute("SELECT id, json_extract(data, '$.name') FROM records").fetchall())
        stored = dict(db.execute("SELECT id, version FROM records").fetchall())
        logged = db.execute("SELECT id FROM writes WHERE operation='update' ORDER BY at, id").fetchall()
    assert names == {ids[0]: "first", ids[1]: "later", ids[2]: "third"}
    assert [i for (i,) in logged] == [ids[0], ids[2], ids[1]]
    assert len(set(stored.values())) == 3 and len(set(versions)) == 3
    assert stored == {ids[0]: versions[0], ids[2]: versions[1], ids[1]: versions[2]}
