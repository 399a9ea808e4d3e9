{#-
    A yes/no var as a Jinja boolean. Vars given on the command line (`p2c build --var prospect_integration=false`)
    may arrive as text, so 'false', 'no', 'off' and '0' are false too.
-#}
{% macro var_flag(name, default) -%}
    {%- set value = var(name, default) -%}
    {%- if value is string -%}
        {{ return(value | trim | lower not in ('false', 'no', 'off', '0', '')) }}
    {%- else -%}
        {{ return(value == true) }}
    {%- endif -%}
{%- endmacro %}

{#- A text var as a quoted SQL literal. -#}
{% macro var_literal(name, default) -%}
    '{{ var(name, default) | string | replace("'", "''") }}'
{%- endmacro %}
