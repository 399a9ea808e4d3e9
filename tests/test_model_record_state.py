"""Each record's state and status reason travel from the export to dualwrite.* as information (lines
carry their parent's), decoded from labels in any language, never initialized, and counted per state."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from conftest import SampleBuild

from p2c.lineage.audit_tables import read_audit_tables
from p2c.lineage.pack_writer import write_audit_tables
from p2c.settings import project_dir, seed_path

OWN_STATE = ("account", "contact", "quote", "salesorder")
PARENT_STATE = {
    "quotedetail": ("quote", "quoteid", "msdyn_quotenumber"),
    "salesorderdetail": ("salesorder", "salesorderid", "msdyn_salesordernumber"),
}


def _query(build: SampleBuild, sql: str) -> list[tuple[Any, ...]]:
    if build.steps["build"].exit_code != 0:
        pytest.fail(f"the sample build failed: {build.steps['build'].output[-2000:]}")
    with duckdb.connect(str(build.db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _model_yaml(table: str) -> dict[str, Any]:
    path = project_dir() / "models" / "marts" / "dualwrite" / f"{table}.yml"
    (model,) = yaml.safe_load(path.read_text(encoding="utf-8"))["models"]
    return dict(model)


@pytest.mark.parametrize("table", OWN_STATE)
def test_every_exported_state_of_the_sample_decodes_in_english_and_swedish(
    sample_build: SampleBuild, table: str
) -> None:
    # the USMF workbooks write English labels, the GBSI CSVs Swedish ones: none may stay unread
    undecoded = _query(
        sample_build,
        f"select distinct statecode from raw.{table} where statecode is not null and _source_row not in ("
        f"  select _source_row from staging.stg_{table}s s where s.statecode is not null"
        f"  and s._source_file = raw.{table}._source_file)",
    )
    assert undecoded == []
    exported = _query(sample_build, f"select count(*) from raw.{table} where trim(statecode) != ''")[0][0]
    decoded = _query(sample_build, f"select count(*) from staging.stg_{table}s where statecode is not null")[
        0
    ][0]
    assert exported == decoded > 0
    # the target table carries the decoded state of every row that was exported with one
    assert _query(sample_build, f"select count(*) from dualwrite.{table} where statecode is null") == [(0,)]


@pytest.mark.parametrize("line_table", sorted(PARENT_STATE))
def test_lines_carry_the_state_of_their_initialized_parent(
    sample_build: SampleBuild, line_table: str
) -> None:
    parent, line_key, parent_key = PARENT_STATE[line_table]
    mismatched = _query(
        sample_build,
        f"select l.{line_key}, l.parent_statecode, p.statecode from dualwrite.{line_table} l"
        f" join dualwrite.{parent} p on l.msdyn_company = p.msdyn_company and l.{line_key} = p.{parent_key}"
        " where l.parent_statecode is distinct from p.statecode"
        " or l.parent_statuscode is distinct from p.statuscode",
    )
    assert mismatched == []
    states = _query(sample_build, f"select count(distinct parent_statecode) from dualwrite.{line_table}")
    assert states[0][0] > 1  # the sample's parents are in several states


def test_target_states_count_every_target_row_per_state(sample_build: SampleBuild) -> None:
    per_state = dict(
        _query(
            sample_build, "select entity, sum(target_rows) from audit.dualwrite_target_states group by entity"
        )
    )
    targets = {
        t: _query(sample_build, f"select count(*) from dualwrite.{t}")[0][0]
        for t in (*OWN_STATE, *PARENT_STATE)
    }
    assert per_state == targets
    won = _query(
        sample_build,
        "select target_rows from audit.dualwrite_target_states"
        " where entity = 'quote' and state_label = 'Won'",
    )
    assert won == _query(sample_build, "select count(*) from dualwrite.quote where statecode = 2")


@pytest.mark.parametrize("table", [*OWN_STATE, *PARENT_STATE])
def test_state_columns_are_information_never_initialized(table: str) -> None:
    model = _model_yaml(table)
    prefix = "" if table in OWN_STATE else "parent_"
    state_columns = {f"{prefix}statecode", f"{prefix}statuscode"}
    columns = {column["name"] for column in model["columns"]}
    assert state_columns <= columns
    initialize = set(model["config"]["meta"]["dataverse"]["initialize"])
    assert state_columns.isdisjoint(initialize)


def test_every_documented_status_reason_has_an_english_and_a_swedish_label() -> None:
    with seed_path("status_reasons.csv").open(encoding="utf-8", newline="") as handle:
        reasons = {(row["table_name"], int(row["statuscode"])) for row in csv.DictReader(handle)}
    with seed_path("choice_labels.csv").open(encoding="utf-8", newline="") as handle:
        labelled = {
            (row["table_name"], int(row["value"]), int(row["language_code"]))
            for row in csv.DictReader(handle)
            if row["logical_name"] == "statuscode"
        }
    assert {(t, v, lang) for t, v in reasons for lang in (1033, 1053)} <= labelled
    # the documented pairs (record-state.md): quote Won is reason 4, an Invoiced order 100003
    assert ("quote", 4) in reasons and ("salesorder", 100003) in reasons
    assert len({t for t, _ in reasons}) == len(OWN_STATE)


def test_audit_pack_writes_the_target_rows_per_state(sample_build: SampleBuild, tmp_path: Path) -> None:
    with duckdb.connect(str(sample_build.db), read_only=True) as con:
        tables = read_audit_tables(con)
    written = write_audit_tables(tmp_path, tables, {})
    assert tmp_path / "target_states.csv" in written
    with (tmp_path / "target_states.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["entity"] for row in rows} == {*OWN_STATE, *PARENT_STATE}
    assert {row["state_label"] for row in rows if row["entity"] == "quote"} >= {"Draft", "Won"}
