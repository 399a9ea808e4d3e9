"""Shared helpers for the lineage tests: a tiny generated dbt project and dbt run in a subprocess.

(No tests here; the other test_lineage_* modules import it. dbt runs out of process: dbt-core does not support
several invocations in one process safely.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

DBT = str(Path(sys.executable).parent / "dbt")

TINY_MODELS: dict[str, str] = {
    "macros/generate_schema_name.sql": """
        {% macro generate_schema_name(custom_schema_name, node) -%}
            {{ custom_schema_name if custom_schema_name else target.schema }}
        {%- endmacro %}
    """,
    "models/staging/_sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns:
                  - {name: order_id}
                  - {name: customer}
                  - {name: requested}
                  - {name: fulfilled}
                  - {name: status}
                  - {name: company}
                  - {name: _source_file}
                  - {name: _source_sheet}
                  - {name: _source_row}
              - name: customers
                columns: [{name: number}, {name: name}]
    """,
    "models/staging/stg_orders.sql": """
        with source as (select * from {{ source('raw', 'orders') }}),
        renamed as (
            select
                order_id as order_number,
                customer as customer_name,
                requested,
                fulfilled,
                status as status_label,
                company,
                _source_file,
                _source_sheet,
                _source_row
            from source
        )
        select * from renamed
    """,
    "models/staging/stg_customers.sql": """
        select number as customer_number, name as customer_name from {{ source('raw', 'customers') }}
    """,
    "models/intermediate/int_orders_resolved.sql": """
        with orders as (select * from {{ ref('stg_orders') }}),
        customers as (select * from {{ ref('stg_customers') }}),
        labels as (select * from {{ ref('status_labels') }}),
        resolved as (
            select
                orders.order_number,
                customers.customer_number,
                orders.requested,
                orders.fulfilled,
                labels.value as status_value,
                orders.company,
                orders._source_file,
                orders._source_sheet,
                orders._source_row
            from orders
            left join customers on customers.customer_name = orders.customer_name
            left join labels on labels.label = orders.status_label
        )
        select * from resolved
    """,
    "models/marts/salesorder.sql": """
        {{ config(schema='dualwrite', materialized='table') }}
        with resolved as (select * from {{ ref('int_orders_resolved') }}),
        final as (
            select
                order_number as msdyn_salesordernumber,
                customer_number as msdyn_invoicecustomerid_account,
                cast(coalesce(requested, fulfilled) as date) as msdyn_requestedreceiptdate,
                case when status_value = 1 then 'open' else 'closed' end as statuslabel,
                '{{ var("language", "en-us") }}' as msdyn_language,
                192350000 as msdyn_ordertype,
                upper(company) as msdyn_company,
                order_number,
                _source_file,
                _source_sheet,
                _source_row
            from resolved
        )
        select * from final
    """,
    "models/marts/salesorder.yml": """
        models:
          - name: salesorder
            config:
              meta:
                dataverse:
                  entity_set: salesorders
                  alternate_key: [msdyn_salesordernumber, msdyn_company]
                  alternate_key_confidence: UNCONFIRMED
            columns:
              - name: msdyn_salesordernumber
                description: Order ID of the export.
                meta:
                  rule: salesorder.order_number
                  lineage: {kind: rename, sources: [raw.orders.order_id]}
                data_tests: [not_null]
              - name: msdyn_invoicecustomerid_account
                meta:
                  lineage: {kind: lookup, sources: [raw.customers.number]}
              - name: msdyn_requestedreceiptdate
                meta:
                  rule: salesorder.requested_receipt_date
                  lineage: {kind: transformation, sources: [raw.orders.requested, raw.orders.fulfilled]}
              - name: statuslabel
                meta:
                  lineage: {kind: transformation, sources: [raw.orders.status]}
              - name: msdyn_language
                meta:
                  lineage: {kind: configuration, sources: []}
              - name: msdyn_ordertype
                meta:
                  lineage: {kind: constant, sources: []}
              - name: msdyn_company
                meta:
                  lineage: {kind: transformation, sources: [raw.orders.company]}
              - name: order_number
                meta:
                  lineage: {kind: rename, sources: [raw.orders.order_id]}
    """,
    "seeds/status_labels.csv": "label,value\nOpen,1\nÖppen,1\nClosed,2\n",
    "seeds/procedure_rules.csv": (
        "rule_id,document,section,step,summary\n"
        "salesorder.order_number,migrate-prospect-to-cash,Order table,2,"
        "Copy the order id to the sales order number.\n"
        "salesorder.requested_receipt_date,migrate-prospect-to-cash,Order table,5,"
        "Requested delivery date else date fulfilled else date submitted.\n"
    ),
}

PROJECT_YML = """
name: tiny
version: "1.0"
config-version: 2
profile: tiny
model-paths: [models]
seed-paths: [seeds]
macro-paths: [macros]
flags:
  send_anonymous_usage_stats: false
"""

PROFILES_YML = """
tiny:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{{ env_var('P2C_DB') }}"
      schema: main
      threads: 1
      keep_open: false
"""


def write_tiny_project(root: Path) -> Path:
    """A dbt project: a source, staging views, a join + seed decode, a mart with CASE/COALESCE/var/literal."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(PROJECT_YML, encoding="utf-8")
    (root / "profiles.yml").write_text(PROFILES_YML, encoding="utf-8")
    for relative, text in TINY_MODELS.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            textwrap.dedent(text).lstrip() if not relative.endswith(".csv") else text, encoding="utf-8"
        )
    return root


def create_tiny_raw(db_path: Path) -> None:
    con = duckdb.connect(str(db_path))
    try:
        con.execute("create schema if not exists raw")
        con.execute(
            "create table raw.orders as select * from (values "
            "('SO-1', 'Contoso', '2026-03-27', null, 'Open', 'usmf', 'orders.xlsx', 'Orders', 1), "
            "('SO-2', 'Fabrikam', null, '2026-04-01', 'Closed', 'usmf', 'orders.xlsx', 'Orders', 2)) "
            "t(order_id, customer, requested, fulfilled, status, company, "
            "_source_file, _source_sheet, _source_row)"
        )
        con.execute(
            "create table raw.customers as select * from "
            "(values ('C-1', 'Contoso'), ('C-2', 'Fabrikam')) t(number, name)"
        )
    finally:
        con.close()


def run_dbt(project: Path, db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "P2C_DB": str(db_path),
    }
    return subprocess.run(
        [DBT, *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def mutate_column(model_sql: str, column: str, from_column: str) -> str:
    """The model's SQL with `column` now taken from `from_column`: a refactor that silently moves a value."""
    return f"select * exclude ({column}), {from_column} as {column}\nfrom (\n{model_sql}\n) as mutated\n"


PROJECT_PARTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "data-tests")


def copy_dbt_project(source: Path, destination: Path) -> Path:
    """The parts of a dbt project dbt needs to compile it (no target/, logs/, virtualenv)."""
    import shutil

    for part in PROJECT_PARTS:
        path = source / part
        if path.is_dir():
            shutil.copytree(path, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.is_file():
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination / part)
    return destination


_COMPILED: dict[Path, Path] = {}


def compiled_target(project: Path, work: Path) -> Path:
    """`dbt compile` of a project into work/target (cached per project for the test session)."""
    if project not in _COMPILED:
        work.mkdir(parents=True, exist_ok=True)
        target = work / "target"
        result = run_dbt(project, work / "compile.duckdb", "compile", "--target-path", str(target))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        _COMPILED[project] = target
    return _COMPILED[project]


_TINY: dict[str, Path] = {}


def built_tiny_project(work: Path) -> dict[str, Path]:
    """The tiny project built once per test session: `dbt build`, then `dbt docs generate` into its own target
    path (docs generate writes a run_results.json of its own; the build's keeps the tests' last results)."""
    if not _TINY:
        project = write_tiny_project(work / "project")
        db = work / "tiny.duckdb"
        create_tiny_raw(db)
        docs_target = work / "docs-target"
        for args in (("build",), ("docs", "generate", "--target-path", str(docs_target))):
            result = run_dbt(project, db, *args)
            assert result.returncode == 0, result.stdout[-3000:]
        _TINY.update(root=work, project=project, db=db, target=docs_target, build=project / "target")
    return _TINY
