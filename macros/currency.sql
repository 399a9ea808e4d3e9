{#- The export writes the currency record's name (mapped by seed currency_codes, joined as `lookup`);
    an ISO code is kept as it is. Null for an unknown name. -#}
{% macro iso_currency_code(column, lookup='currency_codes') -%}
    case
        when {{ regex_full_match('trim(' ~ column ~ ')', '[A-Za-z]{3}') }}
            then upper(trim({{ column }}))
        else {{ lookup }}.isocurrencycode
    end
{%- endmacro %}
