{#-
    Exported text as a value: surrounding blanks are formatting, and an empty cell means "not set".
    Every staging column goes through this so that downstream rules only ever test for null.
-#}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#-
    Key used to compare names (customer names, parent account names): case, surrounding and repeated
    blanks are not significant in Dynamics 365 duplicate detection either.
-#}
{% macro name_key(column) -%}
    nullif({{ text_key('trim(' ~ regex_replace_all(column, '\\s+', ' ') ~ ')') }}, '')
{%- endmacro %}
