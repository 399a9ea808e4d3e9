{#-
    Every exported row that is not initialized, with the reason: no company, a missing or too long key,
    a value that cannot be read, an unknown or ambiguous customer, parent or product, a superseded quote
    revision, a duplicate.
    Nothing is dropped silently: dualwrite_reconciliation proves source = target + rejected per entity.
-#}
with

accounts as (
    select * from {{ ref('int_accounts_classified') }}
),

contacts as (
    select * from {{ ref('int_contacts_classified') }}
),

salesorders as (
    select * from {{ ref('int_salesorders_resolved') }}
),

salesorderdetails as (
    select * from {{ ref('int_salesorderdetails_resolved') }}
),

quotes as (
    select * from {{ ref('int_quotes_resolved') }}
),

quotedetails as (
    select * from {{ ref('int_quotedetails_resolved') }}
),

rejects as (
    select
        'account' as entity,
        msdyn_company as company,
        accountnumber as business_key,
        _source_file,
        _source_sheet,
        _source_row,
        _source_record_id,
        _reject_reason as reason
    from accounts
    where _reject_reason is not null

    union all

    select
        'contact' as entity,
        msdyn_company as company,
        msdyn_contactnumber as business_key,
        _source_file,
        _source_sheet,
        _source_row,
        _source_record_id,
        _reject_reason as reason
    from contacts
    where _reject_reason is not null

    union all

    select
        'salesorder' as entity,
        msdyn_company as company,
        msdyn_salesordernumber as business_key,
        _source_file,
        _source_sheet,
        _source_row,
        _source_record_id,
        _reject_reason as reason
    from salesorders
    where _reject_reason is not null

    union all

    select
        'salesorderdetail' as entity,
        msdyn_company as company,
        salesorderid || ' line ' || coalesce(cast(sequencenumber as {{ dbt.type_string() }}), '?') as business_key,
        _source_file,
        _source_sheet,
        _source_row,
        _source_record_id,
        _reject_reason as reason
    from salesorderdetails
    where _reject_reason is not null

    union all

    select
        'quote' as entity,
        msdyn_company as company,
        msdyn_quotenumber || ' rev ' || cast(_source_revisionnumber as {{ dbt.type_string() }}) as business_key,
        _source_file,
        _source_sheet,
        _source_row,
        _source_record_id,
        _reject_reason as reason
    from quotes
    where _reject_reason is not null

    union all

    select
        'quotedetail' as entity,
        msdyn_company as company,
        quoteid || ' rev ' || coalesce(cast(_source_revisionnumber as {{ dbt.type_string() }}), '?') || ' line '
        || coalesce(cast(sequencenumber as {{ dbt.type_string() }}), '?')
            as business_key,
        _source_file,
        _source_sheet,
        _source_row,
        _source_record_id,
        _reject_reason as reason
    from quotedetails
    where _reject_reason is not null
),

coded as (
    select
        *,
        -- every reason reads `<category>: <detail>`: the category groups rejects in summaries
        lower(replace(trim(split_part(reason, ':', 1)), ' ', '_')) as reason_code
    from rejects
)

select * from coded
