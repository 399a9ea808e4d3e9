"""`p2c build` (p2c/build.py): exit codes, the closing summary, --var, and that the DuckDB file is released.

Most tests build a tiny generated dbt project (dualwrite tables, a rejects and a reconciliation model, a unit
test, a warning test and a test that fails on demand), so they do not depend on the real models' state.
One test builds the real project on a database where nothing was loaded."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import psutil
import pytest
from rich.console import Console

from loaders.vocabulary import exported_entities
from p2c.build.dbt import parse_vars
from p2c.build.runner import run_build
from p2c.build.summary import BuildSummary, RejectGroup, _cap_per_entity, reason_category, render_summary
from p2c.errors import DatabaseUnavailable, ExitCode, UsageError

FILES = {
    "dbt_project.yml": """\
name: build_fixture
version: "1.0"
config-version: 2
profile: build_fixture
model-paths: [models]
macro-paths: [macros]
test-paths: [tests]
flags:
  send_anonymous_usage_stats: false
models:
  build_fixture:
    +materialized: table
""",
    "profiles.yml": """\
build_fixture:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{{ env_var('P2C_DB') }}"
      threads: 2
      keep_open: false
""",
    "macros/generate_schema_name.sql": """\
{% macro generate_schema_name(custom_schema_name, node) -%}
{{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
""",
    "models/account.sql": """\
{{ config(schema='dualwrite') }}
select * from (values
    ('A1', '{{ var("company", "USMF") }}'),
    ('A1', 'GBSI'),
    ('A2', 'USMF')
) as accounts (accountnumber, msdyn_company)
""",
    "models/contact.sql": """\
{{ config(schema='dualwrite') }}
select 'C1' as msdyn_contactpersonid
""",
    "models/dualwrite_rejects.sql": """\
{{ config(schema='audit') }}
select * from (values
    ('account', cast(null as varchar), 'duplicate account number in company', 1),
    ('account', cast(null as varchar), 'duplicate account number in company', 2),
    ('contact', cast(null as varchar), 'missing company', 7)
) as rejects (entity, reason_code, reason, _source_row)
""",
    "models/dualwrite_reconciliation.sql": """\
{{ config(schema='audit') }}
select * from (values ('account', 5, 3, 2), ('contact', 2, 1, 1))
    as reconciliation (entity, source_rows, target_rows, rejected_rows)
""",
    "models/_models.yml": """\
models:
  - name: account
    columns:
      - name: accountnumber
        data_tests: [not_null]
    data_tests:
      - unique_combination_of_columns_fixture:
          config: {severity: warn}
unit_tests:
  - name: account_keeps_the_company_var
    model: account
    overrides:
      vars: {company: DEMF}
    given: []
    expect:
      rows:
        - {accountnumber: A1, msdyn_company: DEMF}
        - {accountnumber: A1, msdyn_company: GBSI}
        - {accountnumber: A2, msdyn_company: USMF}
""",
    # warns: A1 is in the table twice (in two companies), which this simplified test does not allow
    "tests/generic/unique_combination_of_columns_fixture.sql": """\
{% test unique_combination_of_columns_fixture(model) %}
select accountnumber from {{ model }} group by accountnumber having count(*) > 1
{% endtest %}
""",
    "tests/account_breaks_on_demand.sql": """\
select * from {{ ref('account') }} where {{ var('break', false) }}
""",
}


@pytest.fixture(scope="module")
def fixture_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("build_project")
    for relative, text in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _plain_lines(text: str) -> list[str]:
    """Output lines without the tables' box drawing and with single spaces."""
    boxless = "".join(" " if "\u2500" <= ch <= "\u257f" else ch for ch in text)
    return [" ".join(line.split()) for line in boxless.splitlines()]


def _build(project: Path, db: Path, *dbt_vars: str, select: str | None = None) -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    code = run_build(db, select=select, dbt_vars=list(dbt_vars), project_dir=project, console=console)
    return code, out.getvalue()


@pytest.fixture(autouse=True)
def _dbt_paths_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # keep target/ and logs/ of the tests out of the repository (and away from a developer's own runs)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))


def test_successful_build_summary(fixture_project: Path, tmp_path: Path) -> None:
    db = tmp_path / "ok.duckdb"
    code, text = _build(fixture_project, db)
    assert code == 0, text
    lines = _plain_lines(text)
    # rows per dualwrite table, without the rejects model (shown by reason)
    assert "dualwrite.account 3" in lines[lines.index("target tables") :]
    assert "dualwrite.contact 1" in lines
    assert not any(line.startswith("dualwrite.dualwrite_rejects") for line in lines)
    # rejects by entity and reason, most frequent first
    assert "account duplicate account number in company 2" in lines
    assert "contact missing company 1" in lines
    # the reconciliation table as it is
    assert "entity source_rows target_rows rejected_rows" in lines
    assert "account 5 3 2" in lines
    assert "contact 2 1 1" in lines
    # tallies: 4 models, the unit test, not_null + the singular test pass, the fixture uniqueness test warns
    assert "OK models: success=4; unit tests: pass=1; data tests: pass=2 warn=1" in lines
    # outside a terminal, progress is one line per finished node: [n] status resource name
    progress = [line for line in lines if re.match(r"^\[ ?\d+\] ", line)]
    assert [line.split("] ", 1)[0] for line in progress] == [f"[ {n}" for n in range(1, 9)]
    assert "success model dualwrite_rejects" in {line.split("] ", 1)[1] for line in progress}
    assert any(line.startswith("WARN test unique_combination_of_columns_fixture_account") for line in lines)


def test_failed_test_exits_1_and_names_the_node(fixture_project: Path, tmp_path: Path) -> None:
    code, text = _build(fixture_project, tmp_path / "broken.duckdb", "break=true")
    assert code == 1, text
    lines = _plain_lines(text)
    assert "FAILED models: success=4; unit tests: pass=1; data tests: fail=1 pass=1 warn=1" in lines
    assert "FAIL test account_breaks_on_demand" in lines
    assert "Got 3 results, configured to fail if != 0" in lines


def test_var_reaches_the_models(fixture_project: Path, tmp_path: Path) -> None:
    db = tmp_path / "var.duckdb"
    code, text = _build(fixture_project, db, "company=DEMF", select="account")
    assert code == 0, text
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select * from dualwrite.account order by all").fetchall()
    assert rows == [("A1", "DEMF"), ("A1", "GBSI"), ("A2", "USMF")]


def test_model_error_exits_1(fixture_project: Path, tmp_path: Path) -> None:
    code, text = _build(fixture_project, tmp_path / "e.duckdb", "company=x' as a, 'y", select="account")
    assert code == 1, text
    assert "ERROR model account" in text


def test_database_is_released_after_build(fixture_project: Path, tmp_path: Path) -> None:
    db = tmp_path / "released.duckdb"
    code, text = _build(fixture_project, db, select="contact")
    assert code == 0, text
    open_paths = {Path(f.path).resolve() for f in psutil.Process().open_files()}
    assert db.resolve() not in open_paths
    # another process can take the write lock at once
    probe = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('create table t as select 1').close()"
    subprocess.run([sys.executable, "-c", probe, str(db)], check=True, timeout=60)


def test_locked_database_exits_2(fixture_project: Path, tmp_path: Path) -> None:
    db = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseUnavailable) as raised:
            _build(fixture_project, db)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert raised.value.exit_code == ExitCode.CANNOT_RUN
    assert "cannot open" in str(raised.value)


def test_bad_var_exits_2(fixture_project: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="KEY=VALUE") as raised:
        _build(fixture_project, tmp_path / "v.duckdb", "no-equals-sign")
    assert raised.value.exit_code == ExitCode.CANNOT_RUN


def test_parse_vars() -> None:
    assert parse_vars(["a=1", "b=USMF", "c=true", "d='007'", "e=", "f=x=y"]) == {
        "a": 1,
        "b": "USMF",
        "c": True,
        "d": "007",
        "e": "",
        "f": "x=y",
    }
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_vars(["=1"])


def test_reason_category() -> None:
    assert reason_category("superseded: revision 0 of quote Q1 is replaced by revision 2") == "superseded"
    assert reason_category("unknown customer Wingtip Toys") == "unknown customer Wingtip Toys"
    long_head = "x" * 41 + ": detail"
    assert reason_category(long_head) == long_head


def test_rejects_capped_per_entity() -> None:
    groups = [RejectGroup("quote", f"r{i}", 10 - i, f"r{i}: e") for i in range(8)]
    groups.append(RejectGroup("account", "missing key", 1, "missing key: e"))
    capped = _cap_per_entity(sorted(groups, key=lambda g: (g.entity, -g.rows)))
    assert [(g.entity, g.reason, g.rows) for g in capped] == [
        ("account", "missing key", 1),
        *[("quote", f"r{i}", 10 - i) for i in range(6)],
        ("quote", "(2 other reasons)", 4 + 3),
    ]


def test_real_project_builds_with_nothing_loaded(tmp_path: Path) -> None:
    """The raw relations are created empty, and every model and test of the project accepts an empty load."""
    db = tmp_path / "empty.duckdb"
    out = io.StringIO()
    code = run_build(db, console=Console(file=out, width=200, color_system=None))
    assert code == 0, out.getvalue()
    with duckdb.connect(str(db), read_only=True) as con:
        raw = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
        (accounts,) = con.execute("select count(*) from dualwrite.account").fetchone() or (None,)
    assert {name for (name,) in raw} >= set(exported_entities())
    assert accounts == 0
    assert os.environ.get("P2C_DB") != str(db)  # the environment is restored after the build


def test_the_summary_is_plain_text_with_whole_values_when_not_a_terminal() -> None:
    long_example = "unknown customer: " + "Wingtip Toys " * 20 + "is not among the initialized accounts"
    summary = BuildSummary(
        table_rows=[("dualwrite.account", 1234)],
        rejects=[RejectGroup("salesorder", "unknown_customer", 2, long_example)],
        reconciliation_columns=["entity", "source_rows", "target_rows"],
        reconciliation=[("account", 1236, 1234)],
    )
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)  # a file: not a terminal, as when piped
    assert not console.is_terminal
    render_summary(summary, console)
    text = out.getvalue()
    assert not [ch for ch in text if "\u2500" <= ch <= "\u257f"], text  # no box drawing
    assert long_example in text  # neither cut nor wrapped at the console's width
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "dualwrite.account 1,234" in lines
    assert "account 1236 1234" in lines
