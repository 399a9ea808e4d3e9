{#-
    `dbt run-operation register_lakehouse --args '{folder: /path/of/export}' --target spark`: registers the
    folders `p2c export-lakehouse` wrote (<folder>/raw/<table>/) as the external Parquet tables raw.<table>
    the sources read, replacing earlier registrations. The same statements as the export's register.sql, for
    a Spark that dbt reaches but no spark-sql shell does. `folder` as Spark reads it (a path, file:, abfss:...).
-#}
{% macro register_lakehouse(folder) -%}
    {%- set root = folder | string | trim | replace("'", "\\'") -%}
    {%- set root = root[:-1] if root.endswith('/') else root -%}
    {%- do run_query('create schema if not exists raw') -%}
    {%- for name in var('exported_entities') + landing_zone_tables().keys() | list -%}
        {%- do run_query('drop table if exists raw.`' ~ name ~ '`') -%}
        {%- do run_query(
            'create table raw.`' ~ name ~ '` using parquet location \'' ~ root ~ '/raw/' ~ name ~ '\''
        ) -%}
        {{ log('registered raw.' ~ name ~ ' at ' ~ root ~ '/raw/' ~ name, info=true) }}
    {%- endfor -%}
{%- endmacro %}
