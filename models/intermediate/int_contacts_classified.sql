{#-
    Every exported contact with the values the contact table gets (Is Active Customer -> sellable, customer
    group, contact for; contact number -> contact number, party number, contact person id; Is Prospect;
    parent account) and, for a row that cannot be initialized without guessing, the reason it is rejected.
-#}
{%- set prospects_on = 'true' if var_flag('prospect_integration', true) else 'false' %}
{%- set use_mapping = 'true' if var('party_number_strategy', 'account_number') == 'mapping' else 'false' %}

with

contacts as (
    select * from {{ ref('stg_contacts') }}
),

accounts as (
    select * from {{ ref('int_accounts_classified') }}
    where _reject_reason is null
),

customer_groups as (
    select * from {{ ref('customer_groups') }}
),

party_number_overrides as (
    select * from {{ ref('party_number_overrides') }}
    where entity = 'contact'
),

export_choice_labels as (
    select * from {{ ref('stg_export_choice_labels') }}
    where table_name = 'contact'
),

-- names are compared per company; a name shared by several accounts resolves to none of them
account_names as (
    select
        msdyn_company,
        {{ name_key('name') }} as name_key,
        count(*) as account_count,
        min(accountnumber) as accountnumber
    from accounts
    where name is not null
    group by msdyn_company, {{ name_key('name') }}
),

companies_assigned as (
    select
        contacts.*,
        {{ resolved_company('contacts') }} as resolved_company,
        {{ company_reject_reason('contacts') }} as company_reject_reason,
        -- a value the rules need that was exported but cannot be read is not replaced by null or a default;
        -- Is Prospect is needed only with prospect integration (without it no contact is a prospect)
        {{ unreadable_reason(
            [('msdynce_isactivecustomer', 'a known label')]
            + ([('msdyn_isprospect', 'a known label')] if prospects_on == 'true' else []),
            'contacts._unreadable_columns'
        ) }} as unreadable_reject_reason,
        -- an unknown label: not a label of the column in its export, or one the seed choice_labels lacks
        {{ export_label_verdict('contacts.msdynce_isactivecustomer_label', 'contact', 'msdynce_isactivecustomer') }}
            as msdynce_isactivecustomer_verdict,
        {{ export_label_verdict('contacts.msdyn_isprospect_label', 'contact', 'msdyn_isprospect') }}
            as msdyn_isprospect_verdict,
        {{ name_key('contacts.parentcustomerid') }} as parent_name_key
    from contacts
    {{ export_labels_join('export_choice_labels', 'contacts', 'msdynce_isactivecustomer') }}
    {{ export_labels_join('export_choice_labels', 'contacts', 'msdyn_isprospect') }}
),

classified as (
    select
        companies_assigned.contactid as _source_record_id,
        companies_assigned.resolved_company as msdyn_company,
        companies_assigned.msdynce_contactnumber,
        companies_assigned.firstname,
        companies_assigned.lastname,
        coalesce(
            companies_assigned.fullname,
            nullif(trim(concat_ws(' ', companies_assigned.firstname, companies_assigned.lastname)), '')
        ) as customer_name,
        companies_assigned.emailaddress1,
        companies_assigned.telephone1,
        companies_assigned.statecode,
        companies_assigned.statuscode,
        companies_assigned.msdynce_isactivecustomer,
        companies_assigned.msdynce_isactivecustomer_label,
        -- without prospect integration no contact is flagged as a prospect
        {{ prospects_on }} and coalesce(companies_assigned.msdyn_isprospect, false) as msdyn_isprospect,
        companies_assigned.msdyn_isprospect_label,
        companies_assigned.msdynce_isactivecustomer_verdict,
        companies_assigned.msdyn_isprospect_verdict,
        companies_assigned.msdyn_isprospect as exported_isprospect,
        companies_assigned.parentcustomerid,
        companies_assigned.parentcustomerid__accountnumber,
        parent_by_number.accountnumber as parent_by_number,
        parent_by_name.accountnumber as parent_by_name,
        parent_by_name.account_count as parent_name_count,
        coalesce(customer_groups.customer_group_id, {{ var_literal('default_customer_group', '10') }})
            as company_customer_group,
        party_number_overrides.party_number as override_party_number,
        companies_assigned.company_reject_reason,
        companies_assigned.unreadable_reject_reason,
        companies_assigned._source_file,
        companies_assigned._source_sheet,
        companies_assigned._source_row,
        companies_assigned.modifiedon,
        companies_assigned._loaded_at
    from companies_assigned
    left join accounts as parent_by_number
        on
            companies_assigned.resolved_company = parent_by_number.msdyn_company
            and companies_assigned.parentcustomerid__accountnumber = parent_by_number.accountnumber
    left join account_names as parent_by_name
        on
            companies_assigned.resolved_company = parent_by_name.msdyn_company
            and companies_assigned.parent_name_key = parent_by_name.name_key
    left join customer_groups
        on companies_assigned.resolved_company = customer_groups.company
    left join party_number_overrides
        on
            companies_assigned.resolved_company = party_number_overrides.company
            and companies_assigned.msdynce_contactnumber = party_number_overrides.source_number
),

ruled as (
    select
        *,
        -- the contact number becomes all three dual-write numbers (P2C without customized numbering)
        msdynce_contactnumber as msdyn_contactnumber,
        msdynce_contactnumber as msdyn_contactpersonid,
        {{ 'override_party_number' if use_mapping == 'true' else 'msdynce_contactnumber' }} as msdyn_partynumber,
        -- Is Active Customer = Yes: sellable with a customer group; = No: not sellable, contact for a customer.
        -- A person prospect is neither: it becomes a customer only when it is converted.
        coalesce(msdynce_isactivecustomer and not msdyn_isprospect, false) as msdyn_sellable,
        case
            when msdynce_isactivecustomer and not msdyn_isprospect then company_customer_group
        end as msdyn_customergroupid,
        case
            when not msdynce_isactivecustomer and not msdyn_isprospect
                then {{ var_literal('contact_for_customer_value', 'Customer') }}
        end as msdyn_contactfor,
        case
            when parentcustomerid__accountnumber is not null then parent_by_number
            when parent_name_count = 1 then parent_by_name
        end as parentcustomerid_account
    from classified
),

checked as (
    select
        *,
        case
            when company_reject_reason is not null then company_reject_reason
            when msdynce_contactnumber is null then 'missing key: the contact number is empty'
            when length(msdynce_contactnumber) > {{ var('max_key_length') }}
                then 'contact number longer than {{ var('max_key_length') }} characters: ' || msdynce_contactnumber
            when msdynce_isactivecustomer_label is null then 'missing Is Active Customer value'
            when msdynce_isactivecustomer is null
                then
                    'unrecognized Is Active Customer value: ' || msdynce_isactivecustomer_label
                    || msdynce_isactivecustomer_verdict
            when {{ prospects_on }} and msdyn_isprospect_label is not null and exported_isprospect is null
                then 'unrecognized Is Prospect value: ' || msdyn_isprospect_label || msdyn_isprospect_verdict
            when unreadable_reject_reason is not null then unreadable_reject_reason
            when msdynce_isactivecustomer and msdyn_isprospect
                then 'contradiction: the contact is both an active customer and a prospect'
            when parentcustomerid__accountnumber is not null and parent_by_number is null
                then
                    'unknown parent account: number ' || parentcustomerid__accountnumber
                    || ' is not among the initialized accounts of company ' || msdyn_company
            when
                parentcustomerid__accountnumber is null and parentcustomerid is not null
                and parent_name_count is null
                then
                    'unknown parent account: ' || parentcustomerid
                    || ' is not among the initialized accounts of company ' || msdyn_company
            when parentcustomerid__accountnumber is null and parent_name_count > 1
                then
                    'ambiguous parent account: the name ' || parentcustomerid || ' is carried by '
                    || cast(parent_name_count as {{ dbt.type_string() }}) || ' accounts in company ' || msdyn_company
            when msdyn_partynumber is null
                then
                    'party number unknown: contact number ' || msdynce_contactnumber
                    || ' has no row in seed party_number_overrides (var party_number_strategy = mapping)'
        end as base_reject_reason
    from ruled
),

{{ record_id_copies('checked', [
    'msdyn_company',
    'msdyn_contactnumber',
    'msdyn_contactpersonid',
    'msdyn_partynumber',
    'firstname',
    'lastname',
    'emailaddress1',
    'telephone1',
    'msdyn_sellable',
    'msdyn_customergroupid',
    'msdyn_contactfor',
    'msdyn_isprospect',
    'parentcustomerid_account',
]) }},

ranked as (
    select
        *,
        -- the same contact exported twice in one company: the last loaded row wins
        {{ last_loaded_rank(['msdynce_contactnumber']) }} as key_rank
    from record_id_checked
),

final as (
    select
        _source_record_id,
        msdyn_company,
        msdyn_contactnumber,
        msdyn_contactpersonid,
        msdyn_partynumber,
        firstname,
        lastname,
        emailaddress1,
        telephone1,
        msdyn_sellable,
        msdyn_customergroupid,
        msdyn_contactfor,
        msdyn_isprospect,
        parentcustomerid_account,
        customer_name as _customer_name,
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
                    'duplicate: contact number ' || msdynce_contactnumber || ' is exported again in company '
                    || msdyn_company || ' (a later loaded row is kept)'
        end as _reject_reason
    from ranked
)

select * from final
