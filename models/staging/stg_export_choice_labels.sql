{#-
    The labels the export itself lists for each choice column: the hidden metadata sheet of a Dynamics
    "Export to Excel" workbook names them per choice column of the view (raw._choice_labels). One row per
    (file, sheet, column), so joining on those three never multiplies rows. label_keys is what a cell is
    compared with (lower-cased, trimmed, like stg_choice_labels); listed_labels is the list for a reject
    reason, in the export's order and at most max_listed_length characters long (then `... (N labels)`).
    A CSV file, or a workbook that lost its metadata sheet, has no row: nothing is known about its labels.
-#}
{%- set max_listed_length = 200 %}

with

export_labels as (
    select * from {{ source('raw', '_choice_labels') }}
    -- labels the loader could not match to a landed column belong to no column
    where {{ adapter.quote('column') }} is not null
),

labels as (
    select
        file as _source_file,
        sheet as _source_sheet,
        entity as table_name,
        {{ adapter.quote('column') }} as logical_name,
        trim(label) as label,
        min(label_position) as label_position
    from export_labels
    where trim(label) != ''
    group by file, sheet, entity, {{ adapter.quote('column') }}, trim(label)
),

measured as (
    select
        *,
        -- the length of the list up to this label, each label followed by ' | '
        sum(length(label) + 3) over (
            partition by _source_file, _source_sheet, table_name, logical_name
            order by label_position
            rows between unbounded preceding and current row
        ) as listed_length
    from labels
),

columns_listed as (
    select
        _source_file,
        _source_sheet,
        table_name,
        logical_name,
        {{ ordered_list_agg(text_key('label'), 'label_position') }} as label_keys,
        count(*) as label_count,
        {{ ordered_string_agg(
            'case when listed_length <= ' ~ max_listed_length ~ ' then label end', "' | '", 'label_position'
        ) }} as shown_labels,
        count(case when listed_length <= {{ max_listed_length }} then label end) as shown_count
    from measured
    group by _source_file, _source_sheet, table_name, logical_name
),

final as (
    select
        _source_file,
        _source_sheet,
        table_name,
        logical_name,
        label_keys,
        label_count,
        case
            when shown_count = label_count then shown_labels
            else concat_ws(' | ', shown_labels, '... (' || cast(label_count as {{ dbt.type_string() }}) || ' labels)')
        end as listed_labels
    from columns_listed
)

select * from final
