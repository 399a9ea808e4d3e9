{#-
    How many target rows each initialized table has per state, before anything is uploaded: an auditor sees
    how many quotes are Won or Closed and how many orders Invoiced (states Dataverse keeps read-only for
    non-administrators, see docs/mapping-rules.md "State and status reason"). Lines count by their parent's
    state. A null state is a row whose export carried no state, or a label that could not be read.
-#}
{%- set tables = [
    ('account', 'account', 'statecode'),
    ('contact', 'contact', 'statecode'),
    ('quote', 'quote', 'statecode'),
    ('quotedetail', 'quote', 'parent_statecode'),
    ('salesorder', 'salesorder', 'statecode'),
    ('salesorderdetail', 'salesorder', 'parent_statecode'),
] -%}

with

choice_labels as (
    select * from {{ ref('choice_labels') }}
),

account_rows as (
    select * from {{ ref('account') }}
),

contact_rows as (
    select * from {{ ref('contact') }}
),

quote_rows as (
    select * from {{ ref('quote') }}
),

quotedetail_rows as (
    select * from {{ ref('quotedetail') }}
),

salesorder_rows as (
    select * from {{ ref('salesorder') }}
),

salesorderdetail_rows as (
    select * from {{ ref('salesorderdetail') }}
),

state_counts as (
    {%- for entity, state_table, state_column in tables %}
        select
            '{{ entity }}' as entity,
            '{{ state_table }}' as state_table,
            '{{ "record" if state_column == "statecode" else "parent" }}' as state_of,
            {{ state_column }} as statecode,
            count(*) as target_rows
        from {{ entity }}_rows
        group by {{ state_column }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

english_state_labels as (
    select
        table_name,
        value,
        label
    from choice_labels
    where logical_name = 'statecode' and language_code = 1033
),

labelled as (
    select
        state_counts.entity,
        state_counts.state_of,
        state_counts.statecode,
        coalesce(english_state_labels.label, 'unknown') as state_label,
        state_counts.target_rows
    from state_counts
    left join english_state_labels
        on
            state_counts.state_table = english_state_labels.table_name
            and state_counts.statecode = english_state_labels.value
)

select * from labelled
