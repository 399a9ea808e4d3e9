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
    {#- pattern of a date at the start of the text, the replacement that makes it ISO (none: it is ISO) -#}
    {%- set forms = [
        ('^\\d{4}-\\d{1,2}-\\d{1,2}', none),
        ('^(\\d{4})/(\\d{1,2})/(\\d{1,2})', '\\1-\\2-\\3'),
        ('^(\\d{1,2})\\.(\\d{1,2})\\.(\\d{4})', '\\3-\\2-\\1'),
        ('^(\\d{1,2})-(\\d{1,2})-(\\d{4})', '\\3-\\2-\\1'),
        ('^(\\d{1,2})/(\\d{1,2})/(\\d{4})', slash_replacement),
    ] -%}
    case
        {%- for pattern, replacement in forms %}
        when {{ regex_search(value, regex_literal(pattern)) }}
            {%- if replacement is none %}
            then try_cast({{ regex_extract(value, pattern, 0) }} as date)
            {%- else %}
            then try_cast({{ regex_replace_all(value, pattern ~ '.*$', replacement) }} as date)
            {%- endif %}
        {%- endfor %}
        when {{ regex_search(value, regex_literal('^\\d{5}(\\.\\d+)?$')) }}
            then cast(date '1899-12-30' + cast(floor(cast({{ value }} as double)) as integer) as date)
    end
{%- endmacro %}
