"""The emulator answers a filter on a few values of a column from those values (as the service's index on an
alternate key or a lookup does), and the answer is exactly the one a scan of every record gives."""

from __future__ import annotations

import itertools
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from p2c.emulator.odata_query import evaluate, parse_filter, required_values
from p2c.emulator.store import Row, Store

RECORDS: list[dict[str, Any]] = [
    {"accountnumber": "ACC-1", "msdyn_partynumber": "P1", "msdyn_company": {"id": "c1", "entity": "x"}},
    {"accountnumber": "acc-1", "msdyn_partynumber": "P2", "msdyn_company": {"id": "C2", "entity": "x"}},
    {"accountnumber": "ACC-2", "msdyn_partynumber": None, "msdyn_company": None},
    {"accountnumber": "Straße", "msdyn_partynumber": "P3"},  # casefolds to "strasse"
    {"accountnumber": "ſtop", "msdyn_partynumber": "P4"},  # the long s casefolds to "s": "stop"
    {"accountnumber": 42, "msdyn_partynumber": "P5"},  # a number equals the string '42'
    {"msdyn_partynumber": "P6"},  # no account number at all
    {"accountnumber": "", "msdyn_partynumber": "p1"},
]

FILTERS = [
    "accountnumber eq 'ACC-1'",
    "accountnumber eq 'acc-1' or accountnumber eq 'ACC-2'",
    "(accountnumber eq 'ACC-1' and _msdyn_company_value eq 'c1') or (accountnumber eq 'ACC-2')",
    "accountnumber eq 'stop'",
    "accountnumber eq 'strasse'",
    "accountnumber eq '42'",
    "accountnumber in ('ACC-2','42','none')",
    "msdyn_partynumber eq 'P1' and _msdyn_company_value eq 'C1'",
    "msdyn_partynumber eq 'p1' or accountnumber eq 'ACC-2'",  # no column both sides need: a scan
    "not (accountnumber eq 'ACC-1')",
    "accountnumber eq ''",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(Path(tmp_path_factory.mktemp("index")) / "state.sqlite")
    with store.transaction() as txn:
        for index, data in enumerate(RECORDS):
            txn.insert("account", f"00000000-0000-0000-0000-{index:012d}", data, "test")
    return store


def _value(row: Row, path: str) -> Any:
    if path == "_msdyn_company_value":
        stored = row.data.get("msdyn_company")
        return stored["id"] if stored else None
    return row.data.get(path)


def _matching(rows: list[Row], text: str) -> list[str]:
    node = parse_filter(text, {}, lambda name: None)
    return [row.id for row in rows if evaluate(node, partial(_value, row))]


@pytest.mark.parametrize("text", FILTERS)
def test_an_indexed_lookup_finds_exactly_what_a_scan_finds(store: Store, text: str) -> None:
    node = parse_filter(text, {}, lambda name: None)
    with store.reading() as txn:
        everything = list(txn.scan("account"))
        expected = _matching(everything, text)
        for prop, values in required_values(node).items():
            path = '$."msdyn_company".id' if prop == "_msdyn_company_value" else f'$."{prop}"'
            candidates = list(txn.scan_where("account", path, values))
            assert _matching(candidates, text) == expected, (prop, values)
            assert len(candidates) <= len(everything)


def test_the_values_a_filter_requires() -> None:
    def required(text: str) -> dict[str, set[str]]:
        node = parse_filter(text, {}, lambda name: None)
        return {prop: set(values) for prop, values in required_values(node).items()}

    assert required("a eq 'X' or a eq 'y'") == {"a": {"x", "y"}}
    assert required("(a eq 'x' and b eq 'z') or (a eq 'y' and c eq 'w')") == {"a": {"x", "y"}}
    assert required("a eq 'x' and a eq 'y'") == {"a": set()}  # nothing can match
    assert required("a eq 'x' or b eq 'y'") == {}
    assert required("a ne 'x'") == {}
    assert required("a eq 1") == {}
    assert required("not (a eq 'x')") == {}
    assert required("contains(a,'x')") == {}
    assert required("a in ('X','y')") == {"a": {"x", "y"}}


def test_a_keyed_filter_reads_only_the_records_it_names(store: Store) -> None:
    # the point of the index: a filter on 25 key values does not read every record of a large table
    with store.transaction() as txn:
        for index in range(2000):
            record_id = f"10000000-0000-0000-0000-{index:012d}"
            txn.insert("contact", record_id, {"emailaddress1": f"c{index}@x"}, "t")
    wanted = " or ".join(f"emailaddress1 eq 'C{i}@X'" for i in itertools.islice(range(0, 2000, 80), 25))
    node = parse_filter(wanted, {}, lambda name: None)
    values = required_values(node)["emailaddress1"]
    with store.reading() as txn:
        found = list(txn.scan_where("contact", '$."emailaddress1"', values))
    assert sorted(row.data["emailaddress1"] for row in found) == sorted(f"c{i}@x" for i in range(0, 2000, 80))
