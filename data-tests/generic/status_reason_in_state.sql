{#-
    Every row's status reason (the tested column) must be one its state allows (seed status_reasons): a
    quote Won with reason Lost was typed over or comes from a customized tenant. Information columns only,
    so the test warns (configure severity warn) and names each record: its key columns (`record_columns`),
    company, source file and row, and the pair. Rows whose state or status reason is unknown (null) are not
    checked here: an unreadable label is in staging's _unreadable_columns.
-#}
{% test status_reason_in_state(model, column_name, table_name, statecode_column, record_columns) %}

with

records as (
    select
        {%- for column in record_columns %}
            {{ column }},
        {%- endfor %}
        {{ statecode_column }} as statecode,
        {{ column_name }} as statuscode,
        _source_file,
        _source_row
    from {{ model }}
    where {{ column_name }} is not null and {{ statecode_column }} is not null
),

status_reasons as (
    select * from {{ ref('status_reasons') }}
    where table_name = '{{ table_name }}'
),

allowed as (
    select
        statecode,
        {{ ordered_string_agg('cast(statuscode as ' ~ dbt.type_string() ~ ')', "', '", 'statuscode') }}
            as allowed_statuscodes
    from status_reasons
    group by statecode
)

select
    records.*,
    '{{ table_name }} ' || concat_ws(' ',
        {%- for column in record_columns %} records.{{ column }}{{ ',' if not loop.last }}{% endfor %})
    || ': status reason ' || cast(records.statuscode as {{ dbt.type_string() }}) || ' is not one of state '
    || cast(records.statecode as {{ dbt.type_string() }}) || ' (' || coalesce(allowed.allowed_statuscodes, 'none documented')
    || ')' as problem
from records
left join status_reasons
    on
        records.statecode = status_reasons.statecode
        and records.statuscode = status_reasons.statuscode
left join allowed
    on records.statecode = allowed.statecode
where status_reasons.statuscode is null

{% endtest %}
