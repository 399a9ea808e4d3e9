{#-
    Every exported order with the values the salesorder table gets (company, order number, customer and
    invoice customer, requested receipt date, language, order type) and, for a row that cannot be
    initialized without guessing, the reason it is rejected.
-#}
with

salesorders as (
    select * from {{ ref('stg_salesorders') }}
),

customers as (
    select * from {{ ref('int_customers_indexed') }}
),

languages as (
    select * from {{ ref('language_option_values') }}
),

companies_assigned as (
    select
        salesorders.*,
        {{ resolved_company('salesorders') }} as resolved_company,
        {{ company_reject_reason('salesorders') }} as company_reject_reason,
        -- an unreadable date is not replaced by the next date of the fallback: the order is rejected
        {{ unreadable_reason([
            ('requestdeliveryby', 'a date'),
            ('datefulfilled', 'a date'),
            ('submitdate', 'a date'),
            ('transactioncurrencyid', 'a known currency'),
        ], 'salesorders._unreadable_columns') }} as unreadable_reject_reason
    from salesorders
),

resolved as (
    select
        companies_assigned.salesorderid as _source_record_id,
        companies_assigned.resolved_company as msdyn_company,
        companies_assigned.ordernumber as msdyn_salesordernumber,
        companies_assigned.name,
        {{ customer_columns('companies_assigned') }},
        companies_assigned.shipto_country,
        -- the requested delivery date, else the date fulfilled, else the date submitted
        coalesce(
            companies_assigned.requestdeliveryby,
            companies_assigned.datefulfilled,
            companies_assigned.submitdate
        ) as msdyn_requestedreceiptdate,
        companies_assigned.requestdeliveryby,
        languages.option_value as msdyn_language,
        {{ var('item_based_order_type', 192350000) }} as msdyn_ordertype,
        companies_assigned.transactioncurrencyid,
        companies_assigned.pricelevelid,
        companies_assigned.statecode,
        companies_assigned.statuscode,
        companies_assigned.company_reject_reason,
        companies_assigned.unreadable_reject_reason,
        companies_assigned._source_file,
        companies_assigned._source_sheet,
        companies_assigned._source_row,
        companies_assigned.modifiedon,
        companies_assigned._loaded_at
    from companies_assigned
    {{ customer_joins('customers', 'companies_assigned') }}
    left join languages
        on languages.language_tag = lower({{ var_literal('default_language', 'en-us') }})
),

checked as (
    select
        *,
        case
            when company_reject_reason is not null then company_reject_reason
            when msdyn_salesordernumber is null then 'missing key: the order id is empty'
            when length(msdyn_salesordernumber) > {{ var('max_key_length') }}
                then 'order id longer than {{ var('max_key_length') }} characters: ' || msdyn_salesordernumber
            when unreadable_reject_reason is not null then unreadable_reject_reason
            when customer_reject_reason is not null then customer_reject_reason
            when msdyn_language is null
                then 'unknown language: var default_language is not in seed language_option_values'
        end as base_reject_reason
    from resolved
),

{{ record_id_copies('checked', [
    'msdyn_company',
    'msdyn_salesordernumber',
    'name',
    'customer_type',
    'customer_number',
    'shipto_country',
    'msdyn_requestedreceiptdate',
    'requestdeliveryby',
    'msdyn_language',
    'msdyn_ordertype',
    'transactioncurrencyid',
    'pricelevelid',
]) }},

ranked as (
    select
        *,
        -- the same order exported twice in one company: the last loaded row wins
        {{ last_loaded_rank(['msdyn_salesordernumber']) }} as key_rank
    from record_id_checked
),

final as (
    select
        _source_record_id,
        msdyn_company,
        msdyn_salesordernumber,
        name,
        case when customer_type = 'account' then customer_number end as customerid_account,
        case when customer_type = 'contact' then customer_number end as customerid_contact,
        -- the procedure copies the order's Customer to the invoice customer
        case when customer_type = 'account' then customer_number end as msdyn_invoicecustomerid_account,
        case when customer_type = 'contact' then customer_number end as msdyn_invoicecustomerid_contact,
        shipto_country,
        msdyn_requestedreceiptdate,
        requestdeliveryby,
        msdyn_language,
        msdyn_ordertype,
        transactioncurrencyid,
        pricelevelid,
        -- information, never written: the record's state and status reason as exported
        statecode,
        statuscode,
        _source_file,
        _source_sheet,
        _source_row,
        case
            when record_id_reject_reason is not null then record_id_reject_reason
            when base_reject_reason is not null then base_reject_reason
            when key_rank > 1
                then
                    'duplicate: order id ' || msdyn_salesordernumber || ' is exported again in company '
                    || msdyn_company || ' (a later loaded row is kept)'
        end as _reject_reason
    from ranked
)

select * from final
