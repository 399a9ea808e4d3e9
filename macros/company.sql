{#-
    The company (cdm_companycode) of an exported row, strongest first:
      1. the export's own Company column (msdyn_company), e.g. a multi-company export;
      2. the company given to `p2c load --company` for the whole file (_company);
      3. var default_company (default null: no company is assumed).
    Staging upper-cases both, company codes are case-insensitive in finance and operations.
-#}
{% macro resolved_company(relation_alias) -%}
    coalesce(
        {{ relation_alias }}.msdyn_company,
        {{ relation_alias }}._company,
        {{ default_company_literal() }}
    )
{%- endmacro %}

{#- The reason a row gets no company, or null when it has one. A column that contradicts --company is not
    silently preferred: the file was loaded for another company than its rows say. -#}
{% macro company_reject_reason(relation_alias) -%}
    case
        when
            {{ relation_alias }}.msdyn_company is not null
            and {{ relation_alias }}._company is not null
            and {{ relation_alias }}.msdyn_company <> {{ relation_alias }}._company
            then
                'company conflict: the Company column says ' || {{ relation_alias }}.msdyn_company
                || ' but the file was loaded with --company ' || {{ relation_alias }}._company
        when {{ resolved_company(relation_alias) }} is null
            then
                'no company: the row has no Company value, the file was loaded without --company'
                || ' and var default_company is not set'
    end
{%- endmacro %}

{% macro default_company_literal() -%}
    {%- set value = var('default_company', none) -%}
    {%- if value is none or (value is string and value | trim == '') -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        '{{ value | string | trim | upper | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}
