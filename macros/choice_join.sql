{#-
    Localized choice label -> option value. The export writes labels in the user's language (Yes, Ja,
    Nein, Ingen, Kund...); stg_choice_labels holds every known label once per (table, column), so this
    left join never multiplies rows. An unknown label gives a null value: rules that depend on the column
    reject the row with the label in the reason instead of guessing.
-#}
{% macro choice_join(labels_cte, source_alias, table_name, column_name) -%}
    left join {{ labels_cte }} as {{ column_name }}_choice
        on
            {{ column_name }}_choice.table_name = '{{ table_name }}'
            and {{ column_name }}_choice.logical_name = '{{ column_name }}'
            and {{ column_name }}_choice.label_key = {{ text_key('trim(' ~ source_alias ~ '.' ~ column_name ~ ')') }}
{%- endmacro %}
