{#-
    Every exported order line with the values the salesorderdetail table gets (company, parent order
    number, product number, unit, quantity, price, sequence number) and, for a line that cannot be
    initialized, the reason it is rejected: a line whose order is not initialized in the same company
    is rejected with it.
-#}
with

lines as (
    select * from {{ ref('stg_salesorderdetails') }}
),

orders as (
    select * from {{ ref('int_salesorders_resolved') }}
    where _reject_reason is null
),

products as (
    select * from {{ ref('int_products_indexed') }}
),

companies_assigned as (
    select
        lines.*,
        {{ resolved_company('lines') }} as resolved_company,
        {{ company_reject_reason('lines') }} as company_reject_reason,
        -- a value the rules need that was exported but cannot be read is not replaced by null or a default
        {{ unreadable_reason([
            ('sequencenumber', 'a whole number'),
            ('quantity', 'a number'),
            ('priceperunit', 'a number'),
        ], 'lines._unreadable_columns') }} as unreadable_reject_reason,
        -- the order id of the related order, else the P2C order number column
        coalesce(lines.salesorderid__ordernumber, lines.msdynce_ordernumber) as parent_number,
        -- only a line without product number looks its product up by name (the key is costly to compute)
        case
            when lines.productid__productnumber is null then {{ name_key('lines.productid') }}
        end as product_name_key
    from lines
),

resolved as (
    select
        companies_assigned.salesorderdetailid as _source_record_id,
        companies_assigned.resolved_company as msdyn_company,
        companies_assigned.parent_number,
        orders.msdyn_salesordernumber as initialized_order_number,
        orders.statecode as parent_statecode,
        orders.statuscode as parent_statuscode,
        companies_assigned.sequencenumber,
        companies_assigned.productid as product_name,
        companies_assigned.productid__productnumber,
        products.product_count,
        coalesce(
            companies_assigned.productid__productnumber,
            case when products.product_count = 1 then products.productnumber end
        ) as productid,
        companies_assigned.uomid,
        companies_assigned.quantity,
        companies_assigned.priceperunit,
        companies_assigned.company_reject_reason,
        companies_assigned.unreadable_reject_reason,
        companies_assigned._source_file,
        companies_assigned._source_sheet,
        companies_assigned._source_row,
        companies_assigned.modifiedon,
        companies_assigned._loaded_at
    from companies_assigned
    left join orders
        on
            companies_assigned.resolved_company = orders.msdyn_company
            and companies_assigned.parent_number = orders.msdyn_salesordernumber
    left join products
        on
            companies_assigned.resolved_company = products.msdyn_company
            and companies_assigned.product_name_key = products.name_key
),

checked as (
    select
        *,
        case
            when company_reject_reason is not null then company_reject_reason
            when parent_number is null then 'missing key: the order id of the line is empty'
            -- before the sequence number check: an unreadable sequence number is not an empty one
            when unreadable_reject_reason is not null then unreadable_reject_reason
            -- a line is identified by its record id, else by its sequence number in its order: a line with
            -- a record id and no sequence number is kept (its sequence number is not written)
            when sequencenumber is null and _source_record_id is null
                then 'missing key: the line has neither a record id nor a sequence number, so it cannot be identified'
            when initialized_order_number is null
                then
                    'parent order not initialized: order ' || parent_number || ' of company ' || msdyn_company
                    || ' is not exported or rejected'
            when productid__productnumber is null and product_name is null
                then 'missing product: the line has no product id or product name'
            when productid is null and product_count > 1
                then
                    'ambiguous product: the name ' || product_name || ' is carried by '
                    || cast(product_count as {{ dbt.type_string() }}) || ' products in company ' || msdyn_company
            when productid is null
                then 'unknown product: ' || product_name || ' is not in the product export of company ' || msdyn_company
        end as base_reject_reason
    from resolved
),

{{ record_id_copies('checked', [
    'msdyn_company',
    'parent_number',
    'sequencenumber',
    'productid',
    'uomid',
    'quantity',
    'priceperunit',
]) }},

ranked as (
    select
        *,
        -- the same line exported twice in one company: the last loaded row wins. The same line is the same
        -- sequence number of the same order (lines without one are not compared by it); copies of one record
        -- id are decided before, by record_id_copies
        {{ last_loaded_rank(['parent_number', 'sequencenumber']) }} as sequence_rank
    from record_id_checked
),

final as (
    select
        _source_record_id,
        msdyn_company,
        parent_number as salesorderid,
        sequencenumber,
        productid,
        uomid,
        quantity,
        priceperunit,
        -- the dual-write line maps write it: the exported price is kept instead of a price list price
        true as ispriceoverridden,
        -- information, never written: the state and status reason of the line's initialized parent
        parent_statecode,
        parent_statuscode,
        _source_file,
        _source_sheet,
        _source_row,
        case
            when record_id_reject_reason is not null then record_id_reject_reason
            when base_reject_reason is not null then base_reject_reason
            when sequencenumber is not null and sequence_rank > 1
                then
                    'duplicate: line ' || cast(sequencenumber as {{ dbt.type_string() }})
                    || ' of order ' || parent_number
                    || ' is exported again in company ' || msdyn_company || ' (a later loaded row is kept)'
        end as _reject_reason
    from ranked
)

select * from final
