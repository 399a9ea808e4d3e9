{#-
    Every spelling of a status reason (statuscode) an export can carry: its localized labels from seed
    choice_labels and its option value. A row with a statecode is the spelling within that state (seed
    status_reasons: the documented pairs); a row without one is the spelling whatever the state, present only
    when it names a single status reason of the table. One row per (table, spelling, statecode), so the two
    joins of status_reason_join() never multiply rows.
-#}
with

choice_labels as (
    select * from {{ ref('choice_labels') }}
    where logical_name = 'statuscode'
),

status_reasons as (
    select * from {{ ref('status_reasons') }}
),

spellings as (
    select
        table_name,
        {{ text_key('trim(label)') }} as label_key,
        value as statuscode
    from choice_labels
    union
    select
        table_name,
        cast(value as {{ dbt.type_string() }}) as label_key,
        value as statuscode
    from choice_labels
),

in_state as (
    select
        spellings.table_name,
        spellings.label_key,
        status_reasons.statecode,
        spellings.statuscode
    from spellings
    inner join status_reasons
        on
            spellings.table_name = status_reasons.table_name
            and spellings.statuscode = status_reasons.statuscode
),

any_state as (
    select
        table_name,
        label_key,
        cast(null as integer) as statecode,
        min(statuscode) as statuscode
    from spellings
    group by table_name, label_key
    having count(distinct statuscode) = 1
),

final as (
    select * from in_state
    union all
    select * from any_state
)

select * from final
