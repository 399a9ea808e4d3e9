{#-
    The account rows to initialize in Dataverse: the exported rows that passed every rule.
    The other rows are in dualwrite_rejects with their reason.
-#}
with

classified_accounts as (
    select * from {{ ref('int_accounts_classified') }}
),

initialized as (
    select
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
        statecode,
        statuscode,
        _source_record_id,
        _source_file,
        _source_sheet,
        _source_row
    from classified_accounts
    where _reject_reason is null
)

select * from initialized
