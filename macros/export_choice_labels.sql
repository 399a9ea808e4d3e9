{#-
    What the export itself says about a choice label the rules do not know (seed choice_labels has no such
    spelling). A Dynamics workbook lists the labels of each choice column in its metadata sheet
    (stg_export_choice_labels), so an unknown label is one of two things:
    - not a label of its column in that export: text typed over the drop-down, or a value of another column;
    - a label of its column that the rules lack: a choice the tenant customized, or a language the seed
      does not carry. The fix is then a row of seeds/choice_labels.csv with the label's option value.
    Without metadata (a CSV file, a workbook that lost its metadata sheet) nothing more is known.
-#}

{#- Left join of the export's labels of one column of the row's file and sheet: one row per (file, sheet,
    column) at most, so it never multiplies rows. -#}
{% macro export_labels_join(export_labels_cte, source_alias, column_name) -%}
    left join {{ export_labels_cte }} as {{ column_name }}_export
        on
            {{ column_name }}_export._source_file = {{ source_alias }}._source_file
            and {{ column_name }}_export._source_sheet = {{ source_alias }}._source_sheet
            and {{ column_name }}_export.logical_name = '{{ column_name }}'
{%- endmacro %}

{#- The end of a reject reason that names an unknown label `label_text` of `column_name` (joined by
    export_labels_join): ` is not a label of this column (the export lists: Customer | Prospect | ...)`, or
    ` is a label of this column in the export but not in seed choice_labels: add it ...`, or '' when the
    export listed no labels for the column. -#}
{% macro export_label_verdict(label_text, table_name, column_name) -%}
    case
        when {{ column_name }}_export.label_keys is null then ''
        when {{ list_has(column_name ~ '_export.label_keys', text_key('trim(' ~ label_text ~ ')')) }}
            then
                ' is a label of this column in the export but not in seed choice_labels: add it to'
                || ' seeds/choice_labels.csv (table_name {{ table_name }}, logical_name {{ column_name }})'
                || ' with its option value and language code'
        else ' is not a label of this column (the export lists: ' || {{ column_name }}_export.listed_labels || ')'
    end
{%- endmacro %}
