{#-
    Prospect and customer number sequences of a company must not overlap (enable-prospect-in-prospect-to-cash):
    a value fails when it fully matches the pattern of a number sequence of `kind` ('customer' | 'prospect')
    for the row's company. Sequences come from the seed `number_sequences` (company, kind, pattern);
    a sequence row with an empty company applies to every company. Patterns are regular expressions
    matched against the whole value, so `C[0-9]{6}` does not match `XC000001`.
    Regular expressions have no dbt cross-database macro: regex_search (macros/cross_engine.sql) dispatches.
-#}
{% test not_in_number_sequence(
    model, column_name, kind, company_column='msdyn_company', sequences=none
) %}

{%- set sequences_relation = sequences if sequences is not none else ref('number_sequences') %}
{%- set anchored_pattern = dbt.concat(["'^(?:'", 'seq.pattern', "')$'"]) %}
{%- set matches = regex_search('rows_to_check.checked_value', anchored_pattern) %}

with rows_to_check as (
    select
        {{ dbt.cast(column_name, dbt.type_string()) }} as checked_value,
        {{ company_column }} as company
    from {{ model }}
    where {{ column_name }} is not null
),

seq as (
    select
        company,
        pattern
    from {{ sequences_relation }}
    where kind = '{{ kind }}'
)

select
    rows_to_check.checked_value,
    rows_to_check.company,
    seq.pattern as matched_pattern
from rows_to_check
inner join seq
    on
        rows_to_check.company = seq.company
        or coalesce(seq.company, '') = ''
where {{ matches }}

{% endtest %}
