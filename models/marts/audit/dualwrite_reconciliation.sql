{#-
    Completeness evidence, one row per exported entity: every landed row is either initialized (target),
    rejected with a reason, or archived. difference = source_rows - target_rows - rejected_rows is 0 when
    nothing was lost or counted twice (data test reconciliation_balances).
-#}
with

source_counts as (
    select
        'account' as entity,
        count(*) as source_rows
    from {{ source('raw', 'account') }}
    union all
    select
        'contact' as entity,
        count(*) as source_rows
    from {{ source('raw', 'contact') }}
    union all
    select
        'salesorder' as entity,
        count(*) as source_rows
    from {{ source('raw', 'salesorder') }}
    union all
    select
        'salesorderdetail' as entity,
        count(*) as source_rows
    from {{ source('raw', 'salesorderdetail') }}
    union all
    select
        'quote' as entity,
        count(*) as source_rows
    from {{ source('raw', 'quote') }}
    union all
    select
        'quotedetail' as entity,
        count(*) as source_rows
    from {{ source('raw', 'quotedetail') }}
    union all
    select
        'invoice' as entity,
        count(*) as source_rows
    from {{ source('raw', 'invoice') }}
    union all
    select
        'invoicedetail' as entity,
        count(*) as source_rows
    from {{ source('raw', 'invoicedetail') }}
    union all
    select
        'product' as entity,
        count(*) as source_rows
    from {{ source('raw', 'product') }}
),

target_counts as (
    select
        'account' as entity,
        count(*) as target_rows
    from {{ ref('account') }}
    union all
    select
        'contact' as entity,
        count(*) as target_rows
    from {{ ref('contact') }}
    union all
    select
        'salesorder' as entity,
        count(*) as target_rows
    from {{ ref('salesorder') }}
    union all
    select
        'salesorderdetail' as entity,
        count(*) as target_rows
    from {{ ref('salesorderdetail') }}
    union all
    select
        'quote' as entity,
        count(*) as target_rows
    from {{ ref('quote') }}
    union all
    select
        'quotedetail' as entity,
        count(*) as target_rows
    from {{ ref('quotedetail') }}
    union all
    -- not initialized: the archive tables are their target
    select
        'invoice' as entity,
        count(*) as target_rows
    from {{ ref('invoice') }}
    union all
    select
        'invoicedetail' as entity,
        count(*) as target_rows
    from {{ ref('invoicedetail') }}
    union all
    select
        'product' as entity,
        count(*) as target_rows
    from {{ ref('product') }}
),

rejected_counts as (
    select
        entity,
        count(*) as rejected_rows
    from {{ ref('dualwrite_rejects') }}
    group by entity
),

reconciled as (
    select
        source_counts.entity,
        source_counts.source_rows,
        coalesce(target_counts.target_rows, 0) as target_rows,
        coalesce(rejected_counts.rejected_rows, 0) as rejected_rows,
        source_counts.source_rows
        - coalesce(target_counts.target_rows, 0)
        - coalesce(rejected_counts.rejected_rows, 0) as difference
    from source_counts
    left join target_counts
        on source_counts.entity = target_counts.entity
    left join rejected_counts
        on source_counts.entity = rejected_counts.entity
)

select * from reconciled
