{#-
    Model-level uniqueness of a column combination (like dbt_utils', which we cannot install offline).
    `combination` is a list of column names (a comma-separated string is accepted too).
    Null parts are grouped like any value: (A, null) twice is a duplicate, as an alternate key would treat it.
-#}
{% test unique_combination_of_columns(model, combination) %}

{%- if combination is string -%}
    {%- set columns = combination.split(',') | map('trim') | list -%}
{%- else -%}
    {%- set columns = combination | list -%}
{%- endif -%}
{%- if columns | length == 0 -%}
    {{ exceptions.raise_compiler_error('unique_combination_of_columns: `combination` lists no columns') }}
{%- endif %}

select
    {{ columns | join(', ') }},
    count(*) as n_records
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
