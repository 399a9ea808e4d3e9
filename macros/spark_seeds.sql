{#-
    Seed rows on Spark as literals instead of dbt-spark's `%s` bindings: its session method pastes a binding
    between quotes as it is, so a value holding an apostrophe (`Kund's`, a French label) or a backslash ends
    the literal early. Each value is a Spark string literal (backslash escapes, spark_string_literal) cast to
    the column's type; null stays null. Overrides dbt-spark's spark__load_csv_rows for this project only.
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- do types.append(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                (
                {%- for value in row -%}
                    {%- if value is none -%}
                        cast(null as {{ types[loop.index0] }})
                    {%- else -%}
                        cast({{ spark_string_literal(value | string) }} as {{ types[loop.index0] }})
                    {%- endif -%}
                    {{- ', ' if not loop.last -}}
                {%- endfor -%}
                ){{ ',' if not loop.last }}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- do statements.append(sql) -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}


{#-
    Unit-test fixtures on Spark: a list value (`label_keys: [customer, prospect]` in a model's YAML) becomes
    an array of string literals; DuckDB reads the same YAML list as its own list literal. Everything else
    is cast as dbt-spark does. Overrides dbt-spark's spark__safe_cast for this project only.
-#}
{% macro spark__safe_cast(field, type) -%}
    {%- if field is iterable and field is not string and field is not mapping -%}
        cast(array(
            {%- for item in field -%}
                {{ 'null' if item is none else spark_string_literal(item | string) }}{{ ', ' if not loop.last }}
            {%- endfor -%}
        ) as {{ type }})
    {%- else -%}
        {%- set unquoted = field.strip('"').strip("'") if (cast_from_string_unsupported_for(type) and field is string)
            else field -%}
        cast({{ unquoted }} as {{ type }})
    {%- endif -%}
{%- endmacro %}
