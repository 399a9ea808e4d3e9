{#-
    A localized date text as DATE (null when it is not a valid date; the time part is ignored, the column
    types are date-only). Recognized, in this order:
      ISO            2026-03-27, 2026-03-27T00:00:00Z, 2026-03-27 00:00:00 (sv-SE exports are ISO too)
      year first     2026/03/27 (ja-JP, zh-CN)
      dots           27.03.2026 (de-DE, fi-FI, nb-NO...): always day.month.year
      dashes         27-03-2026 (nl-NL): day-month-year
      slashes        3/27/2026 (en-US) or 27/03/2026 (en-GB): order from var slash_date_order (mdy | dmy)
      Excel serial   46108 (a date cell read without its format)
    The date part of an ISO timestamp is kept as written: exports write date-only columns as midnight UTC.
-#}
{% macro parse_date(column) -%}
    {%- set order = var('slash_date_order', 'mdy') -%}
    {%- if order == 'mdy' -%}
        {%- set slash_replacement = '\\3-\\1-\\2' -%}
    {%- elif order == 'dmy' -%}
        {%- set slash_replacement = '\\3-\\2-\\1' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("var slash_date_order must be 'mdy' or 'dmy', got '" ~ order ~ "'") }}
    {%- endif -%}
    {%- set value = 'trim(' ~ column ~ ')' -%}
    case
        when regexp_matches({{ value }}, '^\d{4}-\d{1,2}-\d{1,2}')
            then try_cast(regexp_extract({{ value }}, '^\d{4}-\d{1,2}-\d{1,2}') as date)
        when regexp_matches({{ value }}, '^\d{4}/\d{1,2}/\d{1,2}')
            then try_cast(
                regexp_replace({{ value }}, '^(\d{4})/(\d{1,2})/(\d{1,2}).*$', '\1-\2-\3') as date
            )
        when regexp_matches({{ value }}, '^\d{1,2}\.\d{1,2}\.\d{4}')
            then try_cast(
                regexp_replace({{ value }}, '^(\d{1,2})\.(\d{1,2})\.(\d{4}).*$', '\3-\2-\1') as date
            )
        when regexp_matches({{ value }}, '^\d{1,2}-\d{1,2}-\d{4}')
            then try_cast(
                regexp_replace({{ value }}, '^(\d{1,2})-(\d{1,2})-(\d{4}).*$', '\3-\2-\1') as date
            )
        when regexp_matches({{ value }}, '^\d{1,2}/\d{1,2}/\d{4}')
            then try_cast(
                regexp_replace({{ value }}, '^(\d{1,2})/(\d{1,2})/(\d{4}).*$', '{{ slash_replacement }}') as date
            )
        when regexp_matches({{ value }}, '^\d{5}(\.\d+)?$')
            then cast(date '1899-12-30' + cast(floor(cast({{ value }} as double)) as integer) as date)
    end
{%- endmacro %}
