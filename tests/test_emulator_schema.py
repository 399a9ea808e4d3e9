"""The committed schema.json is exactly what the generator makes from ../shared/reference."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from p2c.emulator.schema import SCHEMA_FILE, load_schema

# the generator is a build-time tool of the source tree (tools/), not part of the installed package
_GENERATOR = Path(__file__).resolve().parents[1] / "tools" / "emulator_schema_gen.py"
_spec = importlib.util.spec_from_file_location("emulator_schema_gen", _GENERATOR)
assert _spec is not None and _spec.loader is not None
schema_gen = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = schema_gen  # dataclasses look their module up by name
_spec.loader.exec_module(schema_gen)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the sibling shared/reference folder is not checked out")
def test_schema_regenerates_identically(tmp_path: Path) -> None:
    output = tmp_path / "schema.json"
    assert schema_gen.main(["--reference", str(REFERENCE), "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the sibling shared/reference folder is not checked out")
def test_a_fact_no_longer_in_the_reference_fails_generation(tmp_path: Path) -> None:
    copy = tmp_path / "reference"
    shutil.copytree(REFERENCE, copy)
    target = copy / "dualwrite-target-schema.md"
    target.write_text(
        target.read_text(encoding="utf-8").replace("`msdyn_Company`", "`msdyn_company`"), "utf-8"
    )
    with pytest.raises(schema_gen.ReferenceMismatch):
        schema_gen.build(schema_gen.Reference(copy))


def test_schema_holds_the_documented_facts() -> None:
    schema = load_schema()
    account = schema.tables["account"]
    assert account.columns["accountnumber"].max_length == 20
    assert ("accountnumber", "msdyn_company") in [k.attributes for k in account.keys]
    assert schema.tables["salesorder"].navigations["msdyn_Company"].target == "cdm_company"
    assert "msdyn_company" not in schema.tables["salesorder"].navigations
    assert 192350015 in schema.tables["salesorder"].columns["msdyn_language"].options
    assert "UpdateMultiple" in schema.tables["account"].bulk_messages
    assert not schema.tables["pricelevel"].bulk_messages
    assert schema.options == {"p2c_account_number_index": False, "company_read_only": False}


DOCUMENTED_PAIRS = {  # record-state.md §1.1, §2.1 (CONFIRMED); account/contact the standard pairs
    "quote": {0: (1,), 1: (2, 3), 2: (4,), 3: (5, 6, 7)},
    "salesorder": {0: (1, 2), 1: (3,), 2: (4,), 3: (100001, 100002), 4: (100003,)},
    "account": {0: (1,), 1: (2,)},
    "contact": {0: (1,), 1: (2,)},
}


@pytest.mark.parametrize("table", sorted(DOCUMENTED_PAIRS))
def test_state_and_status_pairs_are_generated_into_the_schema_file(table: str) -> None:
    """The committed file itself carries the pairs: the runtime adds nothing at load time."""
    import json

    raw = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["tables"][table]["columns"]
    assert raw["statecode"]["type"] == "choice"
    assert raw["statuscode"]["type"] == "choice"
    pairs: dict[int, list[int]] = {}
    for status, state in raw["statuscode"]["state_of_status"].items():
        pairs.setdefault(int(state), []).append(int(status))
    assert {s: tuple(sorted(v)) for s, v in pairs.items()} == DOCUMENTED_PAIRS[table]
    assert {int(v) for v in raw["statuscode"]["options"]} == {
        s for statuses in DOCUMENTED_PAIRS[table].values() for s in statuses
    }


def test_the_emulator_reads_its_state_pairs_from_the_schema() -> None:
    from p2c.emulator import record_state, schema

    assert not hasattr(record_state, "state_columns")  # no load-time patching of the schema
    loaded = load_schema()
    for table, pairs in DOCUMENTED_PAIRS.items():
        states = record_state.states_of(loaded, table)
        assert {code: state.statuses for code, state in states.items()} == pairs
        assert loaded.tables[table].columns["statuscode"].type == "choice"
    assert record_state.states_of(loaded, "quote")[0].editable
    assert not record_state.states_of(loaded, "salesorder")[1].editable
    assert "state_columns" not in vars(schema)
