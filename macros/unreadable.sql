{#-
    Values that were exported but cannot be read. A typed staging column is null both for an empty cell
    (not set) and for text that parse_date, parse_decimal, parse_integer, a choice label or a currency name
    cannot read (`31/02/2026`, `soon`, `abc`, `Kunde?`). Staging keeps the difference visible in the
    provenance column _unreadable_columns: `name='raw text'` for every typed column whose trimmed text is
    non-empty but whose typed value is null, joined with '; ' (null when everything was readable). Quotes
    in the raw text are doubled, so an entry always ends at its closing quote.
-#}

{#- One entry of _unreadable_columns, or null when the cell is empty or readable. -#}
{% macro unreadable(column_text, typed_value, column_name) -%}
    case
        when {{ clean_text(column_text) }} is not null and ({{ typed_value }}) is null
            then '{{ column_name }}=''' || replace(trim({{ column_text }}), '''', '''''') || ''''
    end
{%- endmacro %}

{#- The whole _unreadable_columns value: `columns` lists (column name, typed value) pairs, the raw text being
    that column of `relation_alias`. A typed value of none stands for the label joined by choice_join(). -#}
{% macro unreadable_columns(relation_alias, columns) -%}
    nullif(concat_ws('; ',
        {%- for column_name, typed_value in columns %}
        {%- set typed = typed_value if typed_value is not none else column_name ~ '_choice.option_value' %}
        {{ unreadable(relation_alias ~ '.' ~ column_name, typed, column_name) }}{{ ',' if not loop.last }}
        {%- endfor %}
    ), '')
{%- endmacro %}

{#-
    The reject reason for the unreadable values a rule needs, or null. `columns` is a list of
    (column name, what it should be) pairs, e.g. [('requestdeliveryby', 'a date')]; entries of
    _unreadable_columns for other columns (a status label no rule uses) do not reject the row: they stay
    visible in staging for the audit. Reads `unreadable value: requestdeliveryby='31/02/2026' is not a date`.
    The pattern walks the entries from the start, so text inside a value (`x; submitdate='1'`) never
    passes for an entry of its own.
-#}
{% macro unreadable_reason(columns, unreadable_column='_unreadable_columns') -%}
    'unreadable value: ' || nullif(concat_ws('; ',
        {%- for column_name, expected in columns %}
        nullif(
            {{ regex_extract(
                unreadable_column,
                "^(?:\\w+='(?:[^']|'')*'; )*(" ~ column_name ~ "='(?:[^']|'')*')(?:; |$)",
                1
            ) }},
            ''
        ) || ' is not {{ expected }}'{{ ',' if not loop.last }}
        {%- endfor %}
    ), '')
{%- endmacro %}
