{#-
    The keys an exported customer reference can carry, per company, for the accounts and contacts that are
    initialized: the record id (GUID of the hidden export column), the number (account number / contact
    number) and the name. One row per (company, key kind, key value) with the number of customers that
    carry it, so that resolving an order's customer is one equi-join per key kind that cannot multiply
    rows, and a key shared by several customers is seen as ambiguous instead of picked.
-#}
with

accounts as (
    select * from {{ ref('int_accounts_classified') }}
    where _reject_reason is null
),

contacts as (
    select * from {{ ref('int_contacts_classified') }}
    where _reject_reason is null
),

customer_keys as (
    select
        msdyn_company,
        'record_id' as key_kind,
        lower(_source_record_id) as key_value,
        'account' as customer_type,
        accountnumber as customer_number
    from accounts
    where _source_record_id is not null

    union all

    select
        msdyn_company,
        'number' as key_kind,
        accountnumber as key_value,
        'account' as customer_type,
        accountnumber as customer_number
    from accounts

    union all

    select
        msdyn_company,
        'name' as key_kind,
        {{ name_key('name') }} as key_value,
        'account' as customer_type,
        accountnumber as customer_number
    from accounts
    where name is not null

    union all

    select
        msdyn_company,
        'record_id' as key_kind,
        lower(_source_record_id) as key_value,
        'contact' as customer_type,
        msdyn_contactpersonid as customer_number
    from contacts
    where _source_record_id is not null

    union all

    select
        msdyn_company,
        'number' as key_kind,
        msdyn_contactpersonid as key_value,
        'contact' as customer_type,
        msdyn_contactpersonid as customer_number
    from contacts

    union all

    select
        msdyn_company,
        'name' as key_kind,
        {{ name_key('_customer_name') }} as key_value,
        'contact' as customer_type,
        msdyn_contactpersonid as customer_number
    from contacts
    where _customer_name is not null
),

indexed as (
    select
        msdyn_company,
        key_kind,
        key_value,
        count(*) as customer_count,
        -- meaningful only when customer_count = 1
        min(customer_type) as customer_type,
        min(customer_number) as customer_number
    from customer_keys
    group by msdyn_company, key_kind, key_value
)

select * from indexed
