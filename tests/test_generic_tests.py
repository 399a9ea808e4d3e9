"""Each generic data test in data-tests/generic, run by dbt on good and on bad fixture rows.

One tiny dbt project (generated in a tmp dir) holds the project's generic tests and small seeds; every test is
applied once to a seed it must accept and once to a seed it must reject, and the number of failing rows is
asserted exactly. A single `dbt build` runs them all, to keep the suite fast."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from p2c.build.dbt import DbtOutcome, dbt_args, invoke_dbt
from p2c.settings import project_dir

PROJECT_DIR = project_dir()

GENERIC_TESTS_DIR = PROJECT_DIR / "data-tests" / "generic"

PROJECT_YML = """\
name: generic_tests_fixture
version: "1.0"
config-version: 2
profile: generic_tests_fixture
seed-paths: [seeds]
test-paths: [tests]
model-paths: [models]
macro-paths: [macros]
flags:
  send_anonymous_usage_stats: false
  require_generic_test_arguments_property: true
seeds:
  generic_tests_fixture:
    # every column as text, like raw.* and most dualwrite columns; counts are typed below
    +column_types: {}
"""

PROFILES_YML = """\
generic_tests_fixture:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{{ env_var('P2C_DB') }}"
      threads: 2
      keep_open: false
"""


def _csv(header: str, *rows: str) -> str:
    return "\n".join((header, *rows)) + "\n"


# name -> CSV text. Empty fields are NULL.
SEEDS: dict[str, str] = {
    # Same account number in two companies is fine; twice in one company is not.
    "accounts_good": _csv(
        "accountnumber,msdyn_company,name",
        "A1,USMF,Contoso",
        "A1,GBSI,Contoso UK",
        "A2,USMF,Fabrikam",
        ",USMF,x",
        ",GBSI,y",
    ),
    "accounts_bad": _csv(
        "accountnumber,msdyn_company,name",
        "A1,USMF,Contoso",
        "A1,USMF,Contoso again",
        "A2,GBSI,Fabrikam",
        "A3,,p",
        "A3,,q",
    ),
    # max length counts characters, not bytes: 'Åäö' is 3 characters (6 bytes in UTF-8).
    "names_good": _csv("name", "abc", "Åäö", "abcde", ""),
    "names_bad": _csv("name", "abc", "abcdef", "ÅäöÅäö"),
    "orders": _csv("salesordernumber,msdyn_company", "SO1,USMF", "SO2,GBSI", "SO3,"),
    "lines_good": _csv("salesorderid,msdyn_company", "SO1,USMF", "SO1,USMF", "SO2,GBSI", ",USMF", "SO3,"),
    # SO1 exists only in USMF; SO9 nowhere; SO3 only without company
    "lines_bad": _csv("salesorderid,msdyn_company", "SO1,GBSI", "SO9,USMF", "SO1,USMF", "SO3,USMF"),
    "number_sequences": _csv(
        "company,kind,pattern", "USMF,customer,C[0-9]{6}", "GBSI,customer,GB-[0-9]+", ",prospect,P[0-9]{6}"
    ),
    # GB-1 in USMF is outside USMF's customer sequence; XC000001 and C0000012 only contain a customer number.
    "prospects_good": _csv(
        "accountnumber,msdyn_company", "P000001,USMF", "GB-1,USMF", "XC000001,USMF", "C0000012,USMF", ",GBSI"
    ),
    "prospects_bad": _csv("accountnumber,msdyn_company", "C000001,USMF", "GB-7,GBSI", "P000002,GBSI"),
    "customers_bad": _csv("accountnumber,msdyn_company", "P123456,GBSI", "C000001,USMF"),
    "reconciliation_good": _csv(
        "entity,source_rows,target_rows,rejected_rows", "account,10,8,2", "contact,0,0,0"
    ),
    "reconciliation_bad": _csv(
        "entity,source_rows,target_rows,rejected_rows", "account,10,8,1", "contact,5,,0", "product,3,3,0"
    ),
    "quantities_good": _csv("quantity,priceperunit", "1,10.5", "3,0", ",1"),
    "quantities_bad": _csv("quantity,priceperunit", "0,10.5", "-2,1", "4,-1"),
    # one record id per row: case and braces do not make another id; rows without one are not compared
    "record_ids_good": _csv(
        "accountid,_source_file", "A1,a.csv", "a2,a.csv", "{A3},a.csv", ",a.csv", ",b.csv"
    ),
    "record_ids_bad": _csv(
        "accountid,_source_file",
        "A1,a.csv",
        "a1,b.csv",
        "{A1},c.csv",
        "B2,a.csv",
        "B2,a.csv",
        "C3,a.csv",
        ",a.csv",
    ),
    "customers_split_good": _csv("customerid_account,customerid_contact", "acc-1,", ",con-1"),
    "customers_split_bad": _csv("customerid_account,customerid_contact", "acc-1,con-1", ",", "acc-2,"),
    # status_reason_in_state reads the pairs from ref('status_reasons'), as in the project
    "status_reasons": _csv(
        "table_name,statecode,statuscode", "quote,0,1", "quote,1,2", "quote,1,3", "quote,2,4"
    ),
    # unknown state or reason is not checked here (staging reports unreadable labels)
    "quote_states_good": _csv(
        "msdyn_company,msdyn_quotenumber,statecode,statuscode,_source_file,_source_row",
        "USMF,Q1,0,1,a.csv,1",
        "USMF,Q2,1,3,a.csv,2",
        "USMF,Q3,,4,a.csv,3",
        "USMF,Q4,2,,a.csv,4",
    ),
    "quote_states_bad": _csv(
        "msdyn_company,msdyn_quotenumber,statecode,statuscode,_source_file,_source_row",
        "USMF,Q1,0,2,a.csv,1",
        "GBSI,Q2,2,4,b.csv,2",
        "GBSI,Q3,3,5,b.csv,3",
    ),
}

COLUMN_TYPES = {
    "reconciliation_good": {"source_rows": "bigint", "target_rows": "bigint", "rejected_rows": "bigint"},
    "reconciliation_bad": {"source_rows": "bigint", "target_rows": "bigint", "rejected_rows": "bigint"},
    "quantities_good": {"quantity": "decimal(18,4)", "priceperunit": "decimal(18,4)"},
    "quantities_bad": {"quantity": "decimal(18,4)", "priceperunit": "decimal(18,4)"},
    "status_reasons": {"table_name": "varchar", "statecode": "integer", "statuscode": "integer"},
    **{
        name: {
            "msdyn_company": "varchar",
            "msdyn_quotenumber": "varchar",
            "statecode": "integer",
            "statuscode": "integer",
            "_source_file": "varchar",
            "_source_row": "bigint",
        }
        for name in ("quote_states_good", "quote_states_bad")
    },
}

# test name -> (seed, yaml of the test under `data_tests:`, level) ; level "column:<col>" or "model"
SCHEMA_YML = """\
seeds:
  - name: accounts_good
    columns:
      - name: accountnumber
        data_tests:
          - unique_per_company:
              name: unique_per_company__good
          - max_length:
              name: max_length__account_good
              arguments: {max: 2}
    data_tests:
      - unique_combination_of_columns:
          name: unique_combination__good
          arguments: {combination: [accountnumber, msdyn_company]}
  - name: accounts_bad
    columns:
      - name: accountnumber
        data_tests:
          - unique_per_company:
              name: unique_per_company__bad
              arguments: {company_column: msdyn_company}
    data_tests:
      - unique_combination_of_columns:
          name: unique_combination__bad
          arguments: {combination: "accountnumber, msdyn_company"}
  - name: names_good
    columns:
      - name: name
        data_tests:
          - max_length:
              name: max_length__good
              arguments: {max: 5}
  - name: names_bad
    columns:
      - name: name
        data_tests:
          - max_length:
              name: max_length__bad
              arguments: {max: 5}
  - name: lines_good
    columns:
      - name: salesorderid
        data_tests:
          - parent_in_same_company:
              name: parent_in_same_company__good
              arguments: {parent_model: ref('orders'), parent_key: salesordernumber}
  - name: lines_bad
    columns:
      - name: salesorderid
        data_tests:
          - parent_in_same_company:
              name: parent_in_same_company__bad
              arguments: {parent_model: ref('orders'), parent_key: salesordernumber}
  - name: prospects_good
    columns:
      - name: accountnumber
        data_tests:
          - not_in_number_sequence:
              name: not_in_number_sequence__good
              arguments: {kind: customer}
  - name: prospects_bad
    columns:
      - name: accountnumber
        data_tests:
          - not_in_number_sequence:
              name: not_in_number_sequence__bad
              arguments: {kind: customer, company_column: msdyn_company}
  - name: customers_bad
    columns:
      - name: accountnumber
        data_tests:
          - not_in_number_sequence:
              name: not_in_number_sequence__prospect_bad
              arguments: {kind: prospect}
  - name: reconciliation_good
    data_tests:
      - reconciliation_balances:
          name: reconciliation_balances__good
  - name: reconciliation_bad
    data_tests:
      - reconciliation_balances:
          name: reconciliation_balances__bad
  - name: quantities_good
    columns:
      - name: quantity
        data_tests:
          - expression_is_true:
              name: expression_is_true__column_good
              arguments: {expression: "> 0"}
    data_tests:
      - expression_is_true:
          name: expression_is_true__good
          arguments: {expression: "priceperunit >= 0"}
  - name: quantities_bad
    columns:
      - name: quantity
        data_tests:
          - expression_is_true:
              name: expression_is_true__column_bad
              arguments: {expression: "> 0"}
    data_tests:
      - expression_is_true:
          name: expression_is_true__bad
          arguments: {expression: "priceperunit >= 0 and quantity > 0"}
  - name: record_ids_good
    columns:
      - name: accountid
        data_tests:
          - record_id_at_most_once:
              name: record_id_at_most_once__good
  - name: record_ids_bad
    columns:
      - name: accountid
        data_tests:
          - record_id_at_most_once:
              name: record_id_at_most_once__bad
  - name: customers_split_good
    data_tests:
      - exactly_one_filled:
          name: exactly_one_filled__good
          arguments: {columns: [customerid_account, customerid_contact]}
  - name: customers_split_bad
    data_tests:
      - exactly_one_filled:
          name: exactly_one_filled__bad
          arguments: {columns: [customerid_account, customerid_contact]}
  - name: quote_states_good
    columns:
      - name: statuscode
        data_tests:
          - status_reason_in_state:
              name: status_reason_in_state__good
              arguments: &quote_states {table_name: quote, statecode_column: statecode,
                record_columns: [msdyn_company, msdyn_quotenumber]}
  - name: quote_states_bad
    columns:
      - name: statuscode
        data_tests:
          - status_reason_in_state:
              name: status_reason_in_state__bad
              arguments: *quote_states
"""

# test name -> expected number of failing rows (0 = pass)
EXPECTED_FAILURES = {
    "unique_per_company__good": 0,
    "unique_per_company__bad": 2,  # (A1, USMF) twice; (A3, no company) twice
    "max_length__account_good": 0,
    "unique_combination__good": 0,
    "unique_combination__bad": 2,
    "max_length__good": 0,
    "max_length__bad": 2,  # abcdef, ÅäöÅäö
    "parent_in_same_company__good": 0,
    "parent_in_same_company__bad": 3,  # SO1 in GBSI, SO9, SO3 in USMF
    "not_in_number_sequence__good": 0,
    "not_in_number_sequence__bad": 2,  # C000001 in USMF, GB-7 in GBSI
    "not_in_number_sequence__prospect_bad": 1,  # P123456 matches the all-company prospect sequence
    "reconciliation_balances__good": 0,
    "reconciliation_balances__bad": 2,  # account 10 <> 9, contact with a missing count
    "expression_is_true__column_good": 0,
    "expression_is_true__good": 0,
    "expression_is_true__column_bad": 2,  # 0 and -2
    "expression_is_true__bad": 3,
    "record_id_at_most_once__good": 0,
    "record_id_at_most_once__bad": 2,  # A1 in three files (a1, {A1}), B2 twice in one
    "exactly_one_filled__good": 0,
    "exactly_one_filled__bad": 2,  # both filled, none filled
    "status_reason_in_state__good": 0,
    "status_reason_in_state__bad": 2,  # USMF Q1 Draft with reason 2 (Active's), GBSI Q3 in a state with none
}


def _write_fixture_project(root: Path) -> None:
    import yaml

    project = yaml.safe_load(PROJECT_YML)
    project["seeds"]["generic_tests_fixture"] = {
        name: {"+column_types": COLUMN_TYPES.get(name, {}) or _all_text(name)} for name in SEEDS
    }
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    (root / "profiles.yml").write_text(PROFILES_YML, encoding="utf-8")
    (root / "seeds").mkdir()
    for name, text in SEEDS.items():
        (root / "seeds" / f"{name}.csv").write_text(text, encoding="utf-8")
    (root / "seeds" / "_fixtures.yml").write_text(SCHEMA_YML, encoding="utf-8")
    shutil.copytree(GENERIC_TESTS_DIR, root / "tests" / "generic")
    # the engine-specific functions the generic tests call (regex_search, ordered_string_agg...)
    (root / "macros").mkdir()
    shutil.copy(PROJECT_DIR / "macros" / "cross_engine.sql", root / "macros")


def _all_text(seed: str) -> dict[str, str]:
    header = SEEDS[seed].splitlines()[0].split(",")
    return {column: "varchar" for column in header}


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> DbtOutcome:
    root = tmp_path_factory.mktemp("generic_tests_project")
    _write_fixture_project(root)
    extra = ["--log-path", str(root / "logs"), "--target-path", str(root / "target"), "--quiet"]
    args = dbt_args("build", project_dir=root, extra=extra)
    return invoke_dbt(args, root / "fixture.duckdb")


def test_every_generic_test_file_is_exercised() -> None:
    shipped = {path.stem for path in GENERIC_TESTS_DIR.glob("*.sql")}
    exercised = {name.split("__")[0] for name in EXPECTED_FAILURES}
    exercised = {"unique_combination_of_columns" if n == "unique_combination" else n for n in exercised}
    assert shipped == exercised


def test_seeds_load(fixture_run: DbtOutcome) -> None:
    assert fixture_run.exception is None
    seeds = {n.name: n.status for n in fixture_run.nodes if n.resource_type == "seed"}
    assert seeds == dict.fromkeys(SEEDS, "success")


@pytest.mark.parametrize("test_name", sorted(EXPECTED_FAILURES))
def test_generic_test_result(fixture_run: DbtOutcome, test_name: str) -> None:
    by_name = {n.name: n for n in fixture_run.nodes if n.resource_type == "test"}
    outcome = by_name[test_name]
    expected = EXPECTED_FAILURES[test_name]
    expected_status = "pass" if expected == 0 else "fail"
    assert (outcome.status, outcome.failures) == (expected_status, expected), outcome.message


def test_bad_fixtures_make_the_run_fail(fixture_run: DbtOutcome) -> None:
    assert fixture_run.success is False
    assert len([n for n in fixture_run.nodes if n.resource_type == "test"]) == len(EXPECTED_FAILURES)
