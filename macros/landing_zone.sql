{#-
    The landing zone `p2c load` writes (loaders/raw_schema.py: ensure_landing_zone), created by the project's
    on-run-start hook when it is missing, so that a plain `dbt build` works on a fresh database: schemas raw and
    raw_files, the loader's bookkeeping tables raw._loads, raw._rejects, raw._files and raw._choice_labels, and
    one empty view raw.<table> per exported table (var exported_entities) with the columns its dbt source
    declares (models/staging/__sources.yml: every vocabulary column as varchar, then the provenance columns).

    Only what is absent is created: one catalog query, and no statement at all when everything exists (after
    `p2c load`, or on every `p2c build`, which creates the same relations in Python first). A raw.<table> view
    is never replaced: after a load it unions the landed file tables.

    tests/test_plain_dbt.py compares what this creates with what the loader creates, column by column and
    type by type, so the two cannot drift; tests/test_vocabulary.py holds the sources to the vocabulary seed.
-#}
{% macro landing_zone() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(adapter.dispatch('landing_zone')()) }}
{%- endmacro %}


{% macro default__landing_zone() -%}
    {%- for statement in landing_zone_statements() -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}


{#- The DDL still needed for the landing zone of the target database, in order; empty when it is complete. -#}
{% macro landing_zone_statements() -%}
    {%- set database = target.database -%}
    {%- set database_literal = "'" ~ database | replace("'", "''") ~ "'" -%}
    {%- set catalog -%}
        select schema_name as relation_schema, null as relation_name
        from information_schema.schemata
        where catalog_name = {{ database_literal }} and schema_name in ('raw', 'raw_files')
        union all
        select table_schema as relation_schema, table_name as relation_name
        from information_schema.tables
        where table_catalog = {{ database_literal }} and table_schema = 'raw'
    {%- endset -%}
    {%- set schemas = [] -%}
    {%- set relations = [] -%}
    {%- for row in run_query(catalog).rows -%}
        {%- if row[1] is none -%}
            {%- do schemas.append(row[0]) -%}
        {%- else -%}
            {%- do relations.append(row[1]) -%}
        {%- endif -%}
    {%- endfor -%}

    {%- set statements = [] -%}
    {%- for schema in ['raw', 'raw_files'] if schema not in schemas -%}
        {%- do statements.append('create schema if not exists ' ~ adapter.quote(database) ~ '.' ~ schema) -%}
    {%- endfor -%}
    {%- set tables = landing_zone_tables() -%}
    {%- for name in tables if name not in relations -%}
        {%- do statements.append(
            'create table if not exists ' ~ adapter.quote(database) ~ '.raw.' ~ name ~ ' (' ~ tables[name] ~ ')'
        ) -%}
    {%- endfor -%}
    {%- for table_name in var('exported_entities') if table_name not in relations -%}
        {%- do statements.append(
            'create view ' ~ adapter.quote(database) ~ '.raw.' ~ adapter.quote(table_name)
            ~ ' as ' ~ landing_zone_empty_shape(table_name)
        ) -%}
    {%- endfor -%}
    {{ return(statements) }}
{%- endmacro %}


{#-
    A select with no rows and the columns of source('raw', table_name), as loaders/raw_schema.py's
    empty_shape_select writes it.
-#}
{% macro landing_zone_empty_shape(table_name) -%}
    {%- set sources = graph.sources.values()
        | selectattr('source_name', 'equalto', 'raw')
        | selectattr('name', 'equalto', table_name)
        | list -%}
    {%- if sources | length != 1 or not sources[0].columns -%}
        {{ exceptions.raise_compiler_error(
            "exported table " ~ table_name ~ " has no source raw." ~ table_name
            ~ " with its columns in models/staging/__sources.yml"
        ) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for column in sources[0].columns.values() -%}
        {%- if not column.data_type -%}
            {{ exceptions.raise_compiler_error(
                "source raw." ~ table_name ~ " declares column " ~ column.name ~ " without a data_type"
            ) }}
        {%- endif -%}
        {%- do columns.append('cast(null as ' ~ column.data_type ~ ') as ' ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
    {{ return('select ' ~ columns | join(', ') ~ ' where false') }}
{%- endmacro %}


{#-
    The loader's bookkeeping tables: the column lists of LOADS_DDL, REJECTS_DDL, FILES_DDL and
    CHOICE_LABELS_DDL in loaders/raw_schema.py, where each column is explained.
-#}
{% macro landing_zone_tables() -%}
    {{ return({
        '_loads': 'load_id varchar not null, file varchar not null, sheet varchar, sha256 varchar,'
            ~ ' entity varchar, detected_by varchar, file_type varchar, encoding varchar, delimiter varchar,'
            ~ ' company varchar, rows_read bigint, rows_landed bigint, rows_rejected bigint,'
            ~ ' unknown_headers varchar[], duplicate_headers varchar[],'
            ~ ' headers struct(position integer, header varchar, logical_name varchar, how varchar)[],'
            ~ ' status varchar not null, error varchar, started_at timestamp not null, duration_s double,'
            ~ ' file_table varchar',
        '_rejects': 'load_id varchar not null, file varchar not null, sheet varchar,'
            ~ ' data_row bigint not null, line bigint, column_position integer, column_name varchar,'
            ~ ' reason varchar not null, record varchar',
        '_files': 'file varchar not null, sheet varchar, sheet_index integer, sha256 varchar not null,'
            ~ ' file_size bigint not null, entity varchar not null, company varchar, load_id varchar not null,'
            ~ ' loaded_at timestamp not null, file_table varchar not null, row_numbers varchar not null',
        '_choice_labels': 'load_id varchar not null, file varchar not null, sheet varchar,'
            ~ ' entity varchar not null, metadata_row integer not null, column_position integer,'
            ~ ' "column" varchar, header varchar, label_position integer not null, label varchar not null',
    }) }}
{%- endmacro %}


{#-
    On Spark the raw tables come from the ingestion side (`p2c export-lakehouse` and its register.sql, or a
    lakehouse fed by Fabric/Synapse Link: docs/spark.md); an empty landing zone would build empty targets
    without a word, so nothing is created: the hook checks that every raw table the sources name exists and
    stops with the list of the missing ones.
-#}
{% macro spark__landing_zone() -%}
    {%- set wanted = var('exported_entities') + landing_zone_tables().keys() | list -%}
    {%- set schemas = run_query('show schemas').columns[0].values() | map('lower') | list -%}
    {%- set present = [] -%}
    {%- if 'raw' in schemas -%}
        {%- for row in run_query('show tables in raw').rows -%}
            {%- do present.append(row['tableName'] | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set missing = wanted | reject('in', present) | list -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            "the landed data is missing on Spark: no table raw." ~ missing | join(', raw.')
            ~ ". Write it with `p2c export-lakehouse --db <file> --out <folder>` and run the folder's"
            ~ " register.sql on this Spark (docs/spark.md)"
        ) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}