{#-
    Every spelling of a choice value that an export can carry, once per (table, column, spelling):
    the localized labels of seeds/choice_labels.csv (Yes / Ja / Nein / Ingen...), the option value itself
    (exports by logical name write 1, 0, 8...) and true/false for yes/no columns. Labels of different
    languages that mean the same value collapse into one row, so joining on it cannot multiply rows.
-#}
with

choice_labels as (
    select * from {{ ref('choice_labels') }}
    -- a status reason label may name two values of its column (one per state): stg_status_reason_labels
    where logical_name != 'statuscode'
),

yes_no_columns as (
    select
        table_name,
        logical_name
    from choice_labels
    group by table_name, logical_name
    having min(value) = 0 and max(value) = 1 and count(distinct value) = 2
),

labels as (
    select
        table_name,
        logical_name,
        {{ text_key('trim(label)') }} as label_key,
        value as option_value
    from choice_labels
),

option_values as (
    select
        table_name,
        logical_name,
        cast(value as {{ dbt.type_string() }}) as label_key,
        value as option_value
    from choice_labels
),

true_false as (
    select
        choice_labels.table_name,
        choice_labels.logical_name,
        case when choice_labels.value = 1 then 'true' else 'false' end as label_key,
        choice_labels.value as option_value
    from choice_labels
    inner join yes_no_columns
        on
            choice_labels.table_name = yes_no_columns.table_name
            and choice_labels.logical_name = yes_no_columns.logical_name
),

spellings as (
    select * from labels
    union
    select * from option_values
    union
    select * from true_false
)

select * from spellings
