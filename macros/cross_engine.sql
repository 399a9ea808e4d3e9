{#-
    The functions the models need that DuckDB and Spark spell differently, and that dbt's own cross-database
    macros (dbt.type_string, dbt.position, dbt.concat...) do not cover. Each has one default__ implementation
    (DuckDB's, compiled exactly as the models wrote it before) and one spark__ implementation, chosen by
    adapter.dispatch; docs/architecture.md lists them. The Spark versions return the same values, nulls
    included: tests/test_spark_target.py compares both builds value by value.
-#}

{#- Any text as a Spark SQL string literal: Spark reads a backslash in a literal as an escape (and `\'` as a
    quote), so both are escaped. -#}
{% macro spark_string_literal(text) -%}
    '{{ text | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}


{#-
    A regular expression as a SQL string literal that hands both regex engines the same pattern: DuckDB reads
    backslashes in a literal as they are (only '' is a quote); Spark reads them as escapes, so `\d` must be
    written `\\d`. Spark (Java) also lets `$` match before a final line break, which RE2 does not: the Spark
    literal ends the pattern at the end of the text (`\z`) instead. Patterns here use `$` as an anchor only.
-#}
{% macro regex_literal(pattern) -%}
    {{ return(adapter.dispatch('regex_literal')(pattern)) }}
{%- endmacro %}

{% macro default__regex_literal(pattern) -%}
    '{{ pattern | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__regex_literal(pattern) -%}
    {{ spark_string_literal(pattern | replace('$', '\\z')) }}
{%- endmacro %}


{#- Whether `text` contains a match of the regular expression `pattern_sql` (a SQL expression). -#}
{% macro regex_search(text, pattern_sql) -%}
    {{ return(adapter.dispatch('regex_search')(text, pattern_sql)) }}
{%- endmacro %}

{% macro default__regex_search(text, pattern_sql) -%}
    regexp_matches({{ text }}, {{ pattern_sql }})
{%- endmacro %}

{% macro spark__regex_search(text, pattern_sql) -%}
    ({{ text }} rlike {{ pattern_sql }})
{%- endmacro %}


{#- Whether the whole of `text` matches the regular expression `pattern` (written as in regex_literal). -#}
{% macro regex_full_match(text, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match')(text, pattern)) }}
{%- endmacro %}

{% macro default__regex_full_match(text, pattern) -%}
    regexp_full_match({{ text }}, {{ regex_literal(pattern) }})
{%- endmacro %}

{% macro spark__regex_full_match(text, pattern) -%}
    ({{ text }} rlike {{ regex_literal('^(?:' ~ pattern ~ ')$') }})
{%- endmacro %}


{#- Group `group` of the first match of `pattern` in `text` ('' when none): DuckDB's two-argument form
    takes group 0, Spark's group 1, so the group is always given. -#}
{% macro regex_extract(text, pattern, group) -%}
    {{ return(adapter.dispatch('regex_extract')(text, pattern, group)) }}
{%- endmacro %}

{% macro default__regex_extract(text, pattern, group) -%}
    regexp_extract({{ text }}, {{ regex_literal(pattern) }}, {{ group }})
{%- endmacro %}

{% macro spark__regex_extract(text, pattern, group) -%}
    regexp_extract({{ text }}, {{ regex_literal(pattern) }}, {{ group }})
{%- endmacro %}


{#- Every match of `pattern` in `text` replaced by `replacement`, which names groups `\1`..`\9` (Spark: $1). -#}
{% macro regex_replace_all(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace_all')(text, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regex_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ regex_literal(pattern) }}, '{{ replacement | replace("'", "''") }}', 'g')
{%- endmacro %}

{% macro spark__regex_replace_all(text, pattern, replacement) -%}
    {%- set java = namespace(replacement=replacement | replace('$', '\\$')) -%}
    {%- for group in range(1, 10) -%}
        {%- set java.replacement = java.replacement | replace('\\' ~ group, '$' ~ group) -%}
    {%- endfor -%}
    regexp_replace({{ text }}, {{ regex_literal(pattern) }}, {{ spark_string_literal(java.replacement) }})
{%- endmacro %}


{#- Whether the list `list_sql` holds `value`. -#}
{% macro list_has(list_sql, value) -%}
    {{ return(adapter.dispatch('list_has')(list_sql, value)) }}
{%- endmacro %}

{% macro default__list_has(list_sql, value) -%}
    list_contains({{ list_sql }}, {{ value }})
{%- endmacro %}

{% macro spark__list_has(list_sql, value) -%}
    array_contains({{ list_sql }}, {{ value }})
{%- endmacro %}


{#- Aggregate: the non-null `value`s of the group as a list, in the order of `order_by`. -#}
{% macro ordered_list_agg(value, order_by) -%}
    {{ return(adapter.dispatch('ordered_list_agg')(value, order_by)) }}
{%- endmacro %}

{% macro default__ordered_list_agg(value, order_by) -%}
    list({{ value }} order by {{ order_by }})
{%- endmacro %}

{#- collect_list keeps no order: sort (key, value) pairs, then keep the values. -#}
{% macro spark__ordered_list_agg(value, order_by) -%}
    transform(
        array_sort(collect_list(named_struct('k', {{ order_by }}, 'v', {{ value }}))), pair -> pair.v
    )
{%- endmacro %}


{#- Aggregate: the non-null `value`s joined by `separator` in the order of `order_by` (null when there are
    none); `distinct` keeps each value once (then `order_by` must be `value` itself). -#}
{% macro ordered_string_agg(value, separator, order_by, distinct=false) -%}
    {{ return(adapter.dispatch('ordered_string_agg')(value, separator, order_by, distinct)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(value, separator, order_by, distinct=false) -%}
    string_agg({{ 'distinct ' if distinct }}{{ value }}, {{ separator }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__ordered_string_agg(value, separator, order_by, distinct=false) -%}
    case
        when count({{ value }}) > 0
            then
            {%- if distinct %}
                array_join(array_sort(collect_set({{ value }})), {{ separator }})
            {%- else %}
                array_join(transform(
                    array_sort(collect_list(case when {{ value }} is not null
                        then named_struct('k', {{ order_by }}, 'v', {{ value }}) end)),
                    pair -> pair.v
                ), {{ separator }})
            {%- endif %}
    end
{%- endmacro %}


{#- Window: the non-null `value`s of the whole partition joined by `separator` in the order of `order_by`. -#}
{% macro partition_string_agg(value, separator, partition_by, order_by) -%}
    {{ return(adapter.dispatch('partition_string_agg')(value, separator, partition_by, order_by)) }}
{%- endmacro %}

{% macro default__partition_string_agg(value, separator, partition_by, order_by) -%}
    string_agg({{ value }}, {{ separator }}) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between unbounded preceding and unbounded following
    )
{%- endmacro %}

{% macro spark__partition_string_agg(value, separator, partition_by, order_by) -%}
    {%- set frame -%}
        over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between unbounded preceding and unbounded following
        )
    {%- endset -%}
    case when count({{ value }}) {{ frame }} > 0 then array_join(collect_list({{ value }}) {{ frame }}, {{ separator }}) end
{%- endmacro %}


{#- A hash of the named values (`columns`, compared within one engine only, never stored). -#}
{% macro values_hash(columns) -%}
    {{ return(adapter.dispatch('values_hash')(columns)) }}
{%- endmacro %}

{% macro default__values_hash(columns) -%}
    md5(to_json({
        {%- for column in columns %}
        '{{ column }}': {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    }))
{%- endmacro %}

{% macro spark__values_hash(columns) -%}
    md5(to_json(named_struct(
        {%- for column in columns %}
        '{{ column }}', {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    ), map('ignoreNullFields', 'false')))
{%- endmacro %}


{#- A timestamp as text, `2026-03-27 09:38:46`. -#}
{% macro timestamp_text(value) -%}
    {{ return(adapter.dispatch('timestamp_text')(value)) }}
{%- endmacro %}

{% macro default__timestamp_text(value) -%}
    strftime({{ value }}, '%Y-%m-%d %H:%M:%S')
{%- endmacro %}

{% macro spark__timestamp_text(value) -%}
    date_format({{ value }}, 'yyyy-MM-dd HH:mm:ss')
{%- endmacro %}


{#- `text` read by the first of the strptime `formats` (%Y %m %d %H %M %S %I %p %f) that reads all of it,
    else null. -#}
{% macro try_parse_timestamp(text, formats) -%}
    {{ return(adapter.dispatch('try_parse_timestamp')(text, formats)) }}
{%- endmacro %}

{% macro default__try_parse_timestamp(text, formats) -%}
    try_strptime({{ text }}, ['{{ formats | join("', '") }}'])
{%- endmacro %}

{#- Java patterns: one letter per number (Spark then reads one or two digits, as strptime does). -#}
{% macro spark__try_parse_timestamp(text, formats) -%}
    {%- set java = {'%Y': 'yyyy', '%m': 'M', '%d': 'd', '%H': 'H', '%M': 'm', '%S': 's', '%I': 'h', '%p': 'a',
        '%f': 'SSSSSS', 'T': "''T''", 'Z': "''Z''"} -%}
    coalesce(
        {%- for strptime_format in formats %}
        {%- set pattern = namespace(text=strptime_format) %}
        {%- for token in ['T', 'Z', '%Y', '%m', '%d', '%H', '%M', '%S', '%I', '%p', '%f'] %}
            {%- set pattern.text = pattern.text | replace(token, java[token]) %}
        {%- endfor %}
        try_to_timestamp({{ text }}, '{{ pattern.text }}'){{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}


{#- An Excel serial date-time (days since 1899-12-30, the time as fraction) as TIMESTAMP. -#}
{% macro excel_serial_timestamp(text) -%}
    {{ return(adapter.dispatch('excel_serial_timestamp')(text)) }}
{%- endmacro %}

{% macro default__excel_serial_timestamp(text) -%}
    timestamp '1899-12-30' + to_microseconds(cast(round(cast({{ text }} as double) * 86400000000) as bigint))
{%- endmacro %}

{% macro spark__excel_serial_timestamp(text) -%}
    timestampadd(
        microsecond, cast(round(cast({{ text }} as double) * 86400000000) as bigint), timestamp '1899-12-30'
    )
{%- endmacro %}


{#- Text lower-cased for comparison (labels, names). Java's lower-casing, which Spark uses, differs from
    DuckDB's in two places: `İ` becomes `i` plus a combining dot (Turkish labels: `İptal edildi`), and a
    final `Σ` becomes `ς` (Greek); both are mapped first so that both engines give DuckDB's key. -#}
{% macro text_key(text) -%}
    {{ return(adapter.dispatch('text_key')(text)) }}
{%- endmacro %}

{% macro default__text_key(text) -%}
    lower({{ text }})
{%- endmacro %}

{% macro spark__text_key(text) -%}
    lower(replace(replace({{ text }}, 'İ', 'I'), 'Σ', 'σ'))
{%- endmacro %}
