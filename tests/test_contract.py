"""The model contract reader (p2c.contract.dataverse): a malformed block is refused with the model and key
named, and `contract_problems` finds each way a contract can be incomplete."""

from __future__ import annotations

from typing import Any

import pytest

from p2c.contract.artifacts import Relation
from p2c.contract.dataverse import Confidence, Lookup, contract_problems, table_contract
from p2c.errors import ContractError

COLUMNS = ["msdyn_company", "accountnumber", "msdyn_customergroupid", "name", "_source_record_id"]


def _relation(dataverse: dict[str, Any], columns: list[str] = COLUMNS) -> Relation:
    node = {
        "name": "account",
        "config": {"meta": {"dataverse": dataverse}, "materialized": "table"},
        "columns": {c: {"name": c} for c in columns},
    }
    return Relation("model.p.account", "model", "dualwrite", "account", node)


def _block(**changes: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "entity_set": "accounts",
        "alternate_key": ["accountnumber", "msdyn_company"],
        "alternate_key_confidence": "CONFIRMED",
        "initialize": ["msdyn_company", "msdyn_customergroupid"],
        "lookups": {
            "msdyn_company": {
                "navigation_property": "msdyn_company",
                "target_entity_set": "cdm_companies",
                "target_key": ["cdm_companycode"],
                "confidence": "UNCONFIRMED",
            },
            "msdyn_customergroupid": {
                "navigation_property": "msdyn_customergroupid",
                "target_entity_set": "msdyn_customergroups",
                "target_key": ["msdyn_groupid", "msdyn_company"],
                "confidence": "CONFIRMED",
            },
        },
    }
    block.update(changes)
    return block


def test_a_complete_contract_has_no_problem() -> None:
    contract = table_contract(_relation(_block()))
    assert contract_problems(contract) == []
    assert contract.business_key == ("accountnumber",)
    assert contract.written_columns == ("msdyn_company", "accountnumber", "msdyn_customergroupid", "name")
    assert contract.lookups["msdyn_customergroupid"].target_key == ("msdyn_groupid", "msdyn_company")


def test_each_gap_is_a_problem() -> None:
    lookups = _block()["lookups"]
    del lookups["msdyn_customergroupid"]  # a lookup column without its entry
    lookups["parentcustomerid"] = dict(lookups["msdyn_company"])  # an entry without its column
    block = _block(
        alternate_key=["accountnumber", "msdyn_company", "accountid"],
        lookups=lookups,
        initialize=["msdyn_company", "_source_record_id"],
    )
    problems = contract_problems(table_contract(_relation(block, [c for c in COLUMNS if c[0] != "_"])))
    assert problems == [
        "account: key column accountid is not a column of the model",
        "account: record id column _source_record_id is not a column of the model",
        "account: lookup parentcustomerid is not a column of the model",
        "account: initialized column _source_record_id is not a written column of the model",
        "account: column msdyn_customergroupid is named like a lookup but has no lookups entry "
        "(declare it under lookups, or under text_columns with the reason)",
    ]


def test_a_text_column_named_like_a_lookup_is_declared_with_its_reason() -> None:
    lookups = _block()["lookups"]
    del lookups["msdyn_customergroupid"]
    block = _block(lookups=lookups, text_columns={"msdyn_customergroupid": "a text copy"})
    assert contract_problems(table_contract(_relation(block))) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"entity_set": ""}, "meta.dataverse.entity_set must be a non-empty text"),
        ({"alternate_key": []}, "meta.dataverse.alternate_key must be a non-empty list"),
        ({"alternate_key_confidence": "SURE"}, "alternate_key_confidence must be one of"),
        ({"lookups": ["msdyn_company"]}, "lookups must be a mapping"),
    ],
)
def test_a_malformed_block_names_the_model_and_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ContractError, match=message) as raised:
        table_contract(_relation(_block(**changes)))
    assert str(raised.value).startswith("model account")


def test_a_lookup_without_a_navigation_property_is_refused() -> None:
    lookups = _block()["lookups"]
    del lookups["msdyn_company"]["navigation_property"]
    with pytest.raises(ContractError, match=r"lookup msdyn_company: meta\.dataverse\.navigation_property"):
        table_contract(_relation(_block(lookups=lookups)))


def test_a_split_customer_lookup_writes_the_customer_attribute() -> None:
    def lookup(column: str) -> Lookup:
        return Lookup(column, "nav", "accounts", ("accountnumber",), Confidence.CONFIRMED)

    assert lookup("customerid_account").attribute == "customerid"
    assert lookup("parentcustomerid_contact").attribute == "parentcustomerid"
    assert lookup("msdyn_company").attribute == "msdyn_company"  # not a split lookup
    assert lookup("transactioncurrencyid").attribute == "transactioncurrencyid"
