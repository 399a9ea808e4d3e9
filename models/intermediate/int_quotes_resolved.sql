{#-
    Every exported quote revision with the values the quote table gets and, for a row that cannot be
    initialized, the reason it is rejected. A quote exported with several revisions (same quote number,
    rising revision number) is initialized once, from its latest revision; earlier revisions are rejected
    as superseded. A missing revision number counts as revision 0.
-#}
with

quotes as (
    select * from {{ ref('stg_quotes') }}
),

customers as (
    select * from {{ ref('int_customers_indexed') }}
),

languages as (
    select * from {{ ref('language_option_values') }}
),

companies_assigned as (
    select
        quotes.*,
        {{ resolved_company('quotes') }} as resolved_company,
        {{ company_reject_reason('quotes') }} as company_reject_reason,
        -- a value the rules need that was exported but cannot be read is not replaced by null or a default
        {{ unreadable_reason([
            ('revisionnumber', 'a whole number'),
            ('requestdeliveryby', 'a date'),
            ('transactioncurrencyid', 'a known currency'),
        ], 'quotes._unreadable_columns') }} as unreadable_reject_reason,
        coalesce(quotes.revisionnumber, 0) as revision
    from quotes
),

resolved as (
    select
        companies_assigned.quoteid as _source_record_id,
        companies_assigned.resolved_company as msdyn_company,
        companies_assigned.quotenumber as msdyn_quotenumber,
        companies_assigned.revision as _source_revisionnumber,
        companies_assigned.name,
        {{ customer_columns('companies_assigned') }},
        companies_assigned.shipto_country,
        -- quotes export no date fulfilled or date submitted: the requested delivery date is the only source
        companies_assigned.requestdeliveryby as msdyn_requestedreceiptdate,
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

keyed as (
    select
        *,
        case
            when company_reject_reason is not null then company_reject_reason
            when msdyn_quotenumber is null then 'missing key: the quote id is empty'
            when length(msdyn_quotenumber) > {{ var('max_key_length') }}
                then 'quote id longer than {{ var('max_key_length') }} characters: ' || msdyn_quotenumber
        end as key_reject_reason
    from resolved
),

revisions as (
    select
        *,
        max(_source_revisionnumber) over (
            partition by key_reject_reason is null, msdyn_company, msdyn_quotenumber
        ) as latest_revision
    from keyed
),

checked as (
    select
        *,
        case
            when key_reject_reason is not null then key_reject_reason
            when unreadable_reject_reason is not null then unreadable_reject_reason
            when _source_revisionnumber < latest_revision
                then
                    'superseded: revision ' || cast(_source_revisionnumber as {{ dbt.type_string() }}) || ' of quote '
                    || msdyn_quotenumber || ' is replaced by revision '
                    || cast(latest_revision as {{ dbt.type_string() }})
            when customer_reject_reason is not null then customer_reject_reason
            when msdyn_language is null
                then 'unknown language: var default_language is not in seed language_option_values'
        end as base_reject_reason
    from revisions
),

{{ record_id_copies('checked', [
    'msdyn_company',
    'msdyn_quotenumber',
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
    '_source_revisionnumber',
]) }},

ranked as (
    select
        *,
        -- the same revision exported twice in one company: the last loaded row wins
        {{ last_loaded_rank(['msdyn_quotenumber']) }} as key_rank
    from record_id_checked
),

final as (
    select
        _source_record_id,
        msdyn_company,
        msdyn_quotenumber,
        name,
        case when customer_type = 'account' then customer_number end as customerid_account,
        case when customer_type = 'contact' then customer_number end as customerid_contact,
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
        _source_revisionnumber,
        latest_revision as _latest_revisionnumber,
        key_reject_reason is null as _has_key,
        _source_file,
        _source_sheet,
        _source_row,
        case
            when record_id_reject_reason is not null then record_id_reject_reason
            when base_reject_reason is not null then base_reject_reason
            when key_rank > 1
                then
                    'duplicate: revision ' || cast(_source_revisionnumber as {{ dbt.type_string() }}) || ' of quote '
                    || msdyn_quotenumber || ' is exported again in company ' || msdyn_company
                    || ' (a later loaded row is kept)'
        end as _reject_reason
    from ranked
)

select * from final
