"""One record id landed twice: a consultant loads an older copy of the GBSI accounts export from another
folder, after an account number was fixed in Dynamics (so the fixed account is in both files, under two
numbers).

On a copy of the session's shared sample build (conftest's sample_build), the older copy is loaded with
`p2c load` and the project rebuilt with `p2c build` once; the tests read the result. The older copy holds
every GBSI account: 38 unchanged rows (exact duplicates: one copy kept), the fixed account with its old
number and an earlier modified-on (the later export wins although it was loaded first), and one account
whose phone differs under the same modified-on (nothing tells which copy is right: both are rejected)."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import SampleBuild
from typer.testing import CliRunner

from p2c.cli import app

GBSI_ACCOUNTS = "GBSI/Aktiva konton 2026-11-25 09-45-46.csv"
OLDER_COPY = "older-export/Aktiva konton 2026-11-20 16-02-11.csv"
FIXED_ROW = 2  # data row of the account whose number was fixed (Margie's Travel, ACC-01001-...)
CONFLICT_ROW = 3  # data row whose phone differs in the older copy under the same modified-on
OLD_NUMBER = "ACC-1001-MT"
OLDER_MODIFIEDON = "2026-05-01 10:00:00"
DUALWRITE = ("account", "contact", "quote", "quotedetail", "salesorder", "salesorderdetail")


@dataclass(frozen=True)
class Rebuilt:
    db: Path
    newer: Path  # the sample's GBSI accounts export
    older: Path  # the older copy, from another folder
    record_ids: dict[int, str]  # data row -> record id of the older copy's rows
    build_exit: int
    build_output: str

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


def _write_older_copy(newer: Path, older: Path) -> dict[int, str]:
    """The GBSI accounts export as it was before the fix, in the export's own encoding and layout."""
    with newer.open(encoding="utf-8-sig", newline="") as file:
        header, *rows = list(csv.reader(file, delimiter=";"))
    number, modified, phone = (
        header.index(name) for name in ("Kontonummer", "(Ändra inte) Ändrad den", "Huvudtelefon")
    )
    assert rows[FIXED_ROW - 1][number].startswith("ACC-01001-")
    rows[FIXED_ROW - 1][number] = OLD_NUMBER
    rows[FIXED_ROW - 1][modified] = OLDER_MODIFIEDON
    rows[CONFLICT_ROW - 1][phone] = "+44 20 7946 0000"
    older.parent.mkdir()
    with older.open("w", encoding="utf-8-sig", newline="") as file:
        csv.writer(file, delimiter=";", lineterminator="\r\n").writerows([header, *rows])
    return {index: row[0] for index, row in enumerate(rows, start=1)}


@pytest.fixture(scope="module")
def rebuilt(sample_build: SampleBuild, tmp_path_factory: pytest.TempPathFactory) -> Rebuilt:
    assert sample_build.steps["build"].exit_code == 0, sample_build.steps["build"].output
    root = tmp_path_factory.mktemp("duplicate-record-ids")
    db = root / "copy.duckdb"
    shutil.copyfile(sample_build.db, db)
    newer, older = sample_build.sample_dir / GBSI_ACCOUNTS, root / OLDER_COPY
    record_ids = _write_older_copy(newer, older)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_LOG_PATH", str(root / "logs"))
        loaded = runner.invoke(app, ["load", str(older.parent), "--company", "GBSI", "--db", str(db)])
        assert loaded.exit_code == 0, loaded.output
        built = runner.invoke(app, ["build", "--db", str(db)])
    return Rebuilt(db, newer, older, record_ids, built.exit_code, built.output)


def test_the_build_passes_with_the_older_copy_landed(rebuilt: Rebuilt) -> None:
    assert rebuilt.build_exit == 0, rebuilt.build_output


@pytest.mark.parametrize("table", DUALWRITE)
def test_each_record_id_is_in_a_dualwrite_table_at_most_once(rebuilt: Rebuilt, table: str) -> None:
    twice = rebuilt.query(
        f'select lower(_source_record_id), count(*) from dualwrite."{table}"'
        " where _source_record_id is not null group by all having count(*) > 1"
    )
    assert twice == []


def test_the_later_export_wins_although_it_was_loaded_first(rebuilt: Rebuilt) -> None:
    record_id = rebuilt.record_ids[FIXED_ROW]
    kept = rebuilt.query(
        "select accountnumber, _source_file, _source_row from dualwrite.account where _source_record_id = ?",
        [record_id],
    )
    assert len(kept) == 1
    ((number, file, row),) = kept
    assert (number.startswith("ACC-01001-"), file, row) == (True, str(rebuilt.newer), FIXED_ROW)
    [(reason_code, reason)] = rebuilt.query(
        "select reason_code, reason from audit.dualwrite_rejects where _source_file = ? and _source_row = ?",
        [str(rebuilt.older), FIXED_ROW],
    )
    assert reason_code == "older_copy"
    assert f"{rebuilt.newer} row {FIXED_ROW}" in reason and record_id in reason, reason
    assert OLDER_MODIFIEDON in reason, reason


def test_copies_that_differ_under_one_modified_on_are_all_rejected(rebuilt: Rebuilt) -> None:
    record_id = rebuilt.record_ids[CONFLICT_ROW]
    assert rebuilt.query("select * from dualwrite.account where _source_record_id = ?", [record_id]) == []
    rejects = rebuilt.query(
        "select _source_file, reason_code, reason from audit.dualwrite_rejects where _source_record_id = ?",
        [record_id],
    )
    assert sorted(file for file, *_ in rejects) == sorted([str(rebuilt.newer), str(rebuilt.older)])
    for _, code, reason in rejects:  # every copy is named, in each reason
        assert code == "conflicting_copies"
        assert (
            f"{rebuilt.newer} row {CONFLICT_ROW}" in reason
            and f"{rebuilt.older} row {CONFLICT_ROW}" in reason
        )


def test_unchanged_rows_keep_one_copy_and_name_it(rebuilt: Rebuilt) -> None:
    rows = rebuilt.query(
        "select reason_code, _source_file, _source_row, reason from audit.dualwrite_rejects"
        " where _source_file in (?, ?)",
        [str(rebuilt.newer), str(rebuilt.older)],
    )
    codes = Counter((code, file == str(rebuilt.older)) for code, file, *_ in rows)
    # 40 rows in each file: the fixed one (older copy), the conflicting one (both files), 38 unchanged. Equal
    # copies keep the last loaded: the 38 rows of the newer export are the rejected ones, naming their twin
    assert codes == {
        ("older_copy", True): 1,
        ("conflicting_copies", True): 1,
        ("conflicting_copies", False): 1,
        ("exact_duplicate", False): 38,
    }
    for code, _, row, reason in rows:
        if code == "exact_duplicate":
            assert reason.endswith(f"with the same values in {rebuilt.older} row {row}, which is kept"), (
                reason
            )


def test_reconciliation_balances_and_counts_the_duplicates(rebuilt: Rebuilt) -> None:
    columns = "entity, source_rows, target_rows, rejected_rows, duplicate_rows, difference"
    rows = {
        entity: rest
        for entity, *rest in rebuilt.query(f"select {columns} from audit.dualwrite_reconciliation")
    }
    # accounts: 83 + 40 landed; 82 - the conflicting account initialized; Relecloud + 38 + 1 + 2 rejected
    assert rows["account"] == [123, 81, 42, 41, 0]
    assert all(figures[-1] == 0 for figures in rows.values()), rows
    rejected = Counter(
        dict(rebuilt.query("select entity, count(*) from audit.dualwrite_rejects group by all"))
    )
    assert {entity: figures[2] for entity, figures in rows.items() if figures[2]} == dict(rejected)
