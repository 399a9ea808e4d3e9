{#-
    Localized status reason label -> statuscode. Unlike other choices a status reason label may name two
    values of one column, one per state (a quote's `In Progress` is 1 when Draft and 2 when Active), so the
    label is decoded within the row's state first (join statuscode_in_state on the decoded statecode), else
    whatever the state when the label names one status reason only (statuscode_any_state). A label that
    names none, or two with the state unknown, gives null and is reported in _unreadable_columns.
    `statecode` is the row's decoded state (statecode_choice.option_value after choice_join).
-#}
{% macro status_reason_join(labels_cte, source_alias, table_name, statecode) -%}
    left join {{ labels_cte }} as statuscode_in_state
        on
            statuscode_in_state.table_name = '{{ table_name }}'
            and statuscode_in_state.label_key = {{ text_key('trim(' ~ source_alias ~ '.statuscode)') }}
            and statuscode_in_state.statecode = {{ statecode }}
    left join {{ labels_cte }} as statuscode_any_state
        on
            statuscode_any_state.table_name = '{{ table_name }}'
            and statuscode_any_state.label_key = {{ text_key('trim(' ~ source_alias ~ '.statuscode)') }}
            and statuscode_any_state.statecode is null
{%- endmacro %}

{#- The decoded statuscode of the joins above. -#}
{% macro status_reason_value() -%}
    coalesce(statuscode_in_state.statuscode, statuscode_any_state.statuscode)
{%- endmacro %}
