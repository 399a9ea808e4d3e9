{#-
    A localized date-and-time text as TIMESTAMP (null when it cannot be read), for the hidden `(Do Not Modify)
    Modified On` column that decides between two copies of one record. Recognized: the date forms of
    parse_date (ISO, year first, dots, dashes, slashes in the order of var slash_date_order), alone or with a
    time `H:MM`, `H:MM:SS` (ISO also with fractions and a trailing `Z`) or `h:MM[:SS] AM/PM`, and an Excel
    serial (46108.75: days since 1899-12-30, the time as fraction). The time is kept as written, without a
    time zone conversion: copies of one record come from exports of one environment. Anything else
    (`2026-02-30`, `2026-03-27 soon`) is unreadable.
-#}
{% macro parse_timestamp(column) -%}
    {%- set order = var('slash_date_order', 'mdy') -%}
    {%- if order not in ('mdy', 'dmy') -%}
        {{ exceptions.raise_compiler_error("var slash_date_order must be 'mdy' or 'dmy', got '" ~ order ~ "'") }}
    {%- endif -%}
    {%- set slash_date = '%m/%d/%Y' if order == 'mdy' else '%d/%m/%Y' -%}
    {%- set dates = ['%Y-%m-%d', '%Y/%m/%d', '%d.%m.%Y', '%d-%m-%Y', slash_date] -%}
    {%- set times = ['', ' %H:%M', ' %H:%M:%S', ' %I:%M %p', ' %I:%M:%S %p'] -%}
    {%- set formats = [] -%}
    {%- for date_format in dates -%}
        {%- for time_format in times -%}
            {%- do formats.append(date_format ~ time_format) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- do formats.extend(['%Y-%m-%dT%H:%M:%S', '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S.%f', '%Y-%m-%dT%H:%M:%S.%fZ']) -%}
    case
        when {{ regex_search('trim(' ~ column ~ ')', regex_literal('^\\d{5}(\\.\\d+)?$')) }}
            then {{ excel_serial_timestamp('trim(' ~ column ~ ')') }}
        else {{ try_parse_timestamp('trim(' ~ column ~ ')', formats) }}
    end
{%- endmacro %}
