{#-
    The record id rule, in one place for the six initialized tables: initialization updates a record by its
    record id, so each record id may reach a dualwrite table at most once. When the landed files carry one
    record id (the hidden `(Do Not Modify)` GUID, compared case-insensitively and without braces) in several
    rows, in any company:
      - copies whose target values are all the same: the copy with the latest modified-on (then the last
        loaded) is kept, the others are `exact duplicate: ...` naming the kept file and row;
      - copies that differ, every copy with a modified-on and one value at the latest modified-on: the copy
        with the latest modified-on is kept, each other copy is `older copy: ...` (or `exact duplicate: ...`
        when its values are the kept ones) naming the kept file and row;
      - otherwise (a modified-on missing or unreadable, differing copies sharing the latest one, or var
        duplicate_record_id_winner = none): no copy is kept, each is `conflicting copies: ...` naming every
        copy. Nothing is guessed.
    Rows without a record id take no part. Rows rejected for another reason take part: the later export
    decides even when its row is then rejected, so an older copy never stands in for it.

    Emits four CTEs, record_id_keyed, record_id_grouped, record_id_latest and record_id_checked; the last is `from_cte` plus
    record_id_reject_reason (null for a kept or single row). `value_columns` are the columns the copies are
    compared by: the model's target values. `from_cte` needs _source_record_id, modifiedon, _loaded_at and
    the _source_file, _source_sheet and _source_row provenance.
-#}
{% macro record_id_copies(from_cte, value_columns) -%}
    {%- set winner = var('duplicate_record_id_winner', 'latest_modified_on') | string | trim | lower -%}
    {%- if winner not in ('latest_modified_on', 'none') -%}
        {{ exceptions.raise_compiler_error(
            "var duplicate_record_id_winner must be latest_modified_on or none, got '" ~ winner ~ "'") }}
    {%- endif -%}
    {%- set pick_latest = 'true' if winner == 'latest_modified_on' else 'false' -%}
record_id_keyed as (
    select
        *,
        nullif(lower(trim(both '{}' from trim(_source_record_id))), '') as _record_key,
        {{ values_hash(value_columns) }} as _value_hash,
        _source_file || coalesce(' sheet ' || _source_sheet, '') || ' row ' || cast(_source_row as {{ dbt.type_string() }})
            as _copy_label,
        coalesce('modified on ' || {{ timestamp_text('modifiedon') }}, 'no modified-on') as _modified_label
    from {{ from_cte }}
),

record_id_grouped as (
    select
        *,
        count(*) over (partition by _record_key) as _copy_count,
        count(*) over (partition by _record_key) - count(modifiedon) over (partition by _record_key)
            as _undated_copies,
        min(_value_hash) over (partition by _record_key) <> max(_value_hash) over (partition by _record_key)
            as _copies_differ,
        max(modifiedon) over (partition by _record_key) as _latest_modifiedon,
        row_number() over (
            partition by _record_key
            order by modifiedon desc nulls last, _loaded_at desc, _source_file desc, _source_sheet desc,
            _source_row desc
        ) as _copy_rank,
        {{ partition_string_agg(
            "_copy_label || ' (' || _modified_label || ')'", "'; '", '_record_key', '_copy_label'
        ) }} as _every_copy
    from record_id_keyed
),

-- the copies at the latest modified-on must agree: equal dates of differing copies decide nothing
record_id_latest as (
    select
        _record_key,
        count(distinct _value_hash) as _values_at_latest
    from record_id_grouped
    where _copy_count > 1 and modifiedon = _latest_modifiedon
    group by _record_key
),

record_id_checked as (
    select
        record_id_grouped.*,
        case
            when record_id_grouped._record_key is null or record_id_grouped._copy_count = 1 then null
            when
                record_id_grouped._copies_differ
                and (
                    not {{ pick_latest }}
                    or record_id_grouped._undated_copies > 0
                    or latest_copies._values_at_latest > 1
                )
                then
                    'conflicting copies: record id ' || record_id_grouped._source_record_id || ' is exported '
                    || cast(record_id_grouped._copy_count as {{ dbt.type_string() }}) || ' times with different values and '
                    || case
                        when not {{ pick_latest }}
                            then 'var duplicate_record_id_winner = none'
                        when record_id_grouped._undated_copies > 0
                            then 'not every copy has a modified-on'
                        else 'the latest modified-on is shared by copies that differ'
                    end
                    || ', so none is initialized: ' || record_id_grouped._every_copy
            when record_id_grouped._copy_rank = 1 then null
            when record_id_grouped._value_hash = kept._value_hash
                then
                    'exact duplicate: record id ' || record_id_grouped._source_record_id
                    || ' is exported again with the same values in ' || kept._copy_label || ', which is kept'
            else
                'older copy: record id ' || record_id_grouped._source_record_id || ' is exported again in '
                || kept._copy_label || ' with a later modified-on (' || {{ timestamp_text('kept.modifiedon') }}
                || ', this copy ' || {{ timestamp_text('record_id_grouped.modifiedon') }} || '), which is kept'
        end as record_id_reject_reason
    from record_id_grouped
    left join record_id_grouped as kept
        on
            record_id_grouped._record_key = kept._record_key
            and kept._copy_rank = 1
    left join record_id_latest as latest_copies
        on record_id_grouped._record_key = latest_copies._record_key
)
{%- endmacro %}
