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
