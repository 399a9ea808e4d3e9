{#-
    A localized number text as DECIMAL(19, 4) (null when it is not a number). Currency symbols, letters
    and group separators written as blanks (1 234,50 with a space, NBSP or narrow NBSP) or apostrophes
    (1'234.50) are dropped first. Then, with var decimal_separator:
      auto    both ',' and '.' present: the last one is the decimal separator (1.234,50 / 1,234.50);
              only one kind present: decimal separator when it occurs once (1234,50 / 1234.50),
              group separator when it occurs several times (1,234,567 / 1.234.567)
      comma   ',' is the decimal separator, '.' groups
      period  '.' is the decimal separator, ',' groups
    A single comma with three digits after it (1,234) is read as 1.234 under auto: set decimal_separator
    to period for en-US exports of whole amounts.
-#}
{% macro parse_decimal(column) -%}
    {%- set mode = var('decimal_separator', 'auto') -%}
    {%- set digits = regex_replace_all(column, '[^0-9,.\\-]', '') -%}
    {%- set commas = "(length(" ~ digits ~ ") - length(replace(" ~ digits ~ ", ',', '')))" -%}
    {%- set periods = "(length(" ~ digits ~ ") - length(replace(" ~ digits ~ ", '.', '')))" -%}
    {%- set comma_decimal = "replace(replace(" ~ digits ~ ", '.', ''), ',', '.')" -%}
    {%- set period_decimal = "replace(" ~ digits ~ ", ',', '')" -%}
    {#- Fast path: most cells are plain numbers (1234.5, -3, from Excel or logical-name exports), read by a
        cast; the separator rules below run only for the rest. Not with comma, where 1.234 means 1234. -#}
    {%- set plain = "try_cast(trim(" ~ column ~ ") as decimal(19, 4))" -%}
    {%- if mode == 'comma' -%}
        try_cast({{ comma_decimal }} as decimal(19, 4))
    {%- elif mode == 'period' -%}
        coalesce({{ plain }}, try_cast({{ period_decimal }} as decimal(19, 4)))
    {%- elif mode == 'auto' -%}
        coalesce({{ plain }}, try_cast(
            case
                when {{ commas }} > 0 and {{ periods }} > 0
                    then
                        case
                            when {{ dbt.position("','", 'reverse(' ~ digits ~ ')') }} < {{ dbt.position("'.'", 'reverse(' ~ digits ~ ')') }}
                                then {{ comma_decimal }}
                            else {{ period_decimal }}
                        end
                when {{ commas }} = 1 then replace({{ digits }}, ',', '.')
                when {{ commas }} > 1 then replace({{ digits }}, ',', '')
                when {{ periods }} > 1 then replace({{ digits }}, '.', '')
                else {{ digits }}
            end as decimal(19, 4)
        ))
    {%- else -%}
        {{ exceptions.raise_compiler_error("var decimal_separator must be auto, comma or period, got '" ~ mode ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#- A whole number (sequence and revision numbers): parsed like a decimal, null when it has a fraction. -#}
{% macro parse_integer(column) -%}
    case
        when {{ parse_decimal(column) }} = floor({{ parse_decimal(column) }})
            then cast({{ parse_decimal(column) }} as integer)
    end
{%- endmacro %}
