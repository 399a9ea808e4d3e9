{#-
    A customer-type lookup (customerid on orders, quotes, invoices) points to an account *or* a contact.
    The models split it into `<x>_account` / `<x>_contact`; exactly one of the listed columns must be
    non-null on every row. Empty strings count as filled: staging turns blanks into nulls.
-#}
{% test exactly_one_filled(model, columns) %}

{%- if columns is string -%}
    {%- set column_list = columns.split(',') | map('trim') | list -%}
{%- else -%}
    {%- set column_list = columns | list -%}
{%- endif -%}
{%- if column_list | length < 2 -%}
    {{ exceptions.raise_compiler_error('exactly_one_filled: `columns` needs at least two columns') }}
{%- endif %}

with counted as (
    select
        *,
        (
        {%- for column in column_list %}
            case when {{ column }} is not null then 1 else 0 end{{ ' +' if not loop.last }}
        {%- endfor %}
        ) as filled_columns
    from {{ model }}
)

select *
from counted
where filled_columns <> 1

{% endtest %}
