{#-
    Every exported account with the values the account table gets (company, relationship type, customer
    group, party number) and, for a row that cannot be initialized without guessing, the reason it is
    rejected. account and dualwrite_rejects both select from here, so a row is in exactly one of them.
-#}
{%- set prospects_on = 'true' if var_flag('prospect_integration', true) else 'false' %}
{%- set strategy = var('party_number_strategy', 'account_number') %}
{%- set use_mapping = 'true' if strategy == 'mapping' else 'false' %}
{%- if strategy not in ('account_number', 'mapping') %}
    {{ exceptions.raise_compiler_error("var party_number_strategy must be account_number or mapping, got '" ~ strategy ~ "'") }}
{%- endif %}

with

accounts as (
    select * from {{ ref('stg_accounts') }}
),

customer_groups as (
    select * from {{ ref('customer_groups') }}
),

party_number_overrides as (
    select * from {{ ref('party_number_overrides') }}
    where entity = 'account'
),

export_choice_labels as (
    select * from {{ ref('stg_export_choice_labels') }}
    where table_name = 'account'
),

classified as (
    select
        accounts.accountid as _source_record_id,
        {{ resolved_company('accounts') }} as msdyn_company,
        accounts.accountnumber,
        accounts.name,
        -- a Prospect stays a prospect (enable-prospect) while prospect integration is on;
        -- any other relationship type becomes Customer, as the migration article says
        case when {{ prospects_on }} and accounts.customertypecode = 8 then 8 else 3 end as customertypecode,
        accounts.telephone1,
        accounts.emailaddress1,
        accounts.address1_line1,
        accounts.address1_city,
        accounts.address1_postalcode,
        accounts.address1_country,
        accounts.creditlimit,
        accounts.transactioncurrencyid,
        accounts.statecode,
        accounts.statuscode,
        accounts.customertypecode_label,
        accounts.customertypecode as exported_customertypecode,
        -- an unknown label: not a label of the column in its export, or one the seed choice_labels lacks
        {{ export_label_verdict('accounts.customertypecode_label', 'account', 'customertypecode') }}
            as customertypecode_verdict,
        party_number_overrides.party_number as override_party_number,
        accounts._source_file,
        accounts._source_sheet,
        accounts._source_row,
        accounts.modifiedon,
        accounts._loaded_at,
        {{ company_reject_reason('accounts') }} as company_reject_reason,
        -- a value the rules need that was exported but cannot be read is not replaced by null or a default;
        -- the relationship type is needed only with prospect integration (without it every account is a Customer)
        {{ unreadable_reason(
            ([('customertypecode', 'a known label')] if prospects_on == 'true' else [])
            + [('creditlimit', 'a number'), ('transactioncurrencyid', 'a known currency')],
            'accounts._unreadable_columns'
        ) }} as unreadable_reject_reason
    from accounts
    {{ export_labels_join('export_choice_labels', 'accounts', 'customertypecode') }}
    left join party_number_overrides
        on
            party_number_overrides.company = {{ resolved_company('accounts') }}
            and accounts.accountnumber = party_number_overrides.source_number
),

grouped as (
    select
        classified.*,
        -- customer groups belong to customers: a prospect gets one when it is converted (enable-prospect)
        case
            when classified.customertypecode = 3
                then coalesce(customer_groups.customer_group_id, {{ var_literal('default_customer_group', '10') }})
        end as msdyn_customergroupid,
        -- customized numbering (var party_number_strategy = mapping): the party number comes from the seed
        {{ 'classified.override_party_number' if use_mapping == 'true' else 'classified.accountnumber' }}
            as msdyn_partynumber
    from classified
    left join customer_groups
        on classified.msdyn_company = customer_groups.company
),

checked as (
    select
        *,
        case
            when company_reject_reason is not null then company_reject_reason
            when accountnumber is null then 'missing key: the account number is empty'
            when length(accountnumber) > {{ var('max_key_length') }}
                then 'account number longer than {{ var('max_key_length') }} characters: ' || accountnumber
            -- with prospect integration an unreadable relationship type could hide a prospect
            when {{ prospects_on }} and customertypecode_label is not null and exported_customertypecode is null
                then 'unrecognized relationship type: ' || customertypecode_label || customertypecode_verdict
            when unreadable_reject_reason is not null then unreadable_reject_reason
            when msdyn_partynumber is null
                then
                    'party number unknown: account number ' || accountnumber
                    || ' has no row in seed party_number_overrides (var party_number_strategy = mapping)'
        end as base_reject_reason
    from grouped
),

{{ record_id_copies('checked', [
    'msdyn_company',
    'accountnumber',
    'name',
    'customertypecode',
    'msdyn_customergroupid',
    'msdyn_partynumber',
    'telephone1',
    'emailaddress1',
    'address1_line1',
    'address1_city',
    'address1_postalcode',
    'address1_country',
    'creditlimit',
    'transactioncurrencyid',
]) }},

ranked as (
    select
        *,
        -- the same account exported twice in one company: the last loaded row wins
        {{ last_loaded_rank(['accountnumber']) }} as key_rank
    from record_id_checked
),

final as (
    select
        _source_record_id,
        msdyn_company,
        accountnumber,
        name,
        customertypecode,
        msdyn_customergroupid,
        msdyn_partynumber,
        telephone1,
        emailaddress1,
        address1_line1,
        address1_city,
        address1_postalcode,
        address1_country,
        creditlimit,
        transactioncurrencyid,
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
                    'duplicate: account number ' || accountnumber || ' is exported again in company '
                    || msdyn_company || ' (a later loaded row is kept)'
        end as _reject_reason
    from ranked
)

select * from final
