{#-
    Completeness evidence, one row per exported entity, in two equations:
    - file_rows = source_rows + loader_rejected_rows: every data row the loader read from the currently landed
      files is in raw.<entity> or in raw._rejects (counted independently: the loader's rows_read per file);
    - source_rows = target_rows + rejected_rows: every landed row is initialized (dualwrite table), archived
      (archive table) or rejected with a reason (dualwrite_rejects).
    difference = source_rows - target_rows - rejected_rows is 0 when nothing was lost or counted twice.
    duplicate_rows, part of rejected_rows, counts the rows rejected as copies of another row (the same record
    id, or the same key in one company): landing a file twice shows here, not as a difference.
-#}
{%- set entities = var('exported_entities') -%}

with

landed_files as (
    select * from {{ source('raw', '_files') }}
),

loads as (
    select * from {{ source('raw', '_loads') }}
),

loader_rejects as (
    select * from {{ source('raw', '_rejects') }}
),

source_counts as (
    {%- for entity in entities %}
        select
            '{{ entity }}' as entity,
            count(*) as source_rows
        from {{ source('raw', entity) }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

-- invoices, invoice lines and products are not initialized: their archive tables are the target
target_counts as (
    {%- for entity in entities %}
        select
            '{{ entity }}' as entity,
            count(*) as target_rows
        from {{ ref(entity) }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

rejected_counts as (
    select
        entity,
        count(*) as rejected_rows,
        -- the reason codes of the two copy rules: record_id_copies (exact_duplicate, older_copy,
        -- conflicting_copies) and last_loaded_rank (duplicate)
        count(*) filter (
            where reason_code in ('exact_duplicate', 'older_copy', 'conflicting_copies', 'duplicate')
        ) as duplicate_rows
    from {{ ref('dualwrite_rejects') }}
    group by entity
),

-- the loader's own count of the rows it read from each file (or sheet) that is landed now
file_counts as (
    select
        landed_files.entity,
        sum(loads.rows_read) as file_rows
    from landed_files
    inner join loads
        on
            landed_files.load_id = loads.load_id
            and landed_files.file = loads.file
            and landed_files.sheet is not distinct from loads.sheet
    group by landed_files.entity
),

loader_rejected_counts as (
    select
        landed_files.entity,
        count(*) as loader_rejected_rows
    from loader_rejects
    inner join landed_files
        on
            loader_rejects.load_id = landed_files.load_id
            and loader_rejects.file = landed_files.file
            and loader_rejects.sheet is not distinct from landed_files.sheet
    group by landed_files.entity
),

reconciled as (
    select
        source_counts.entity,
        coalesce(file_counts.file_rows, 0) as file_rows,
        coalesce(loader_rejected_counts.loader_rejected_rows, 0) as loader_rejected_rows,
        source_counts.source_rows,
        coalesce(target_counts.target_rows, 0) as target_rows,
        coalesce(rejected_counts.rejected_rows, 0) as rejected_rows,
        coalesce(rejected_counts.duplicate_rows, 0) as duplicate_rows,
        source_counts.source_rows
        - coalesce(target_counts.target_rows, 0)
        - coalesce(rejected_counts.rejected_rows, 0) as difference
    from source_counts
    left join target_counts
        on source_counts.entity = target_counts.entity
    left join rejected_counts
        on source_counts.entity = rejected_counts.entity
    left join file_counts
        on source_counts.entity = file_counts.entity
    left join loader_rejected_counts
        on source_counts.entity = loader_rejected_counts.entity
)

select * from reconciled
