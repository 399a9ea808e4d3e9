{#-
    The contact rows to initialize in Dataverse: the exported rows that passed every rule.
    The other rows are in dualwrite_rejects with their reason.
-#}
with

classified_contacts as (
    select * from {{ ref('int_contacts_classified') }}
),

initialized as (
    select
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
        statecode,
        statuscode,
        _source_record_id,
        _source_file,
        _source_sheet,
        _source_row
    from classified_contacts
    where _reject_reason is null
)

select * from initialized
