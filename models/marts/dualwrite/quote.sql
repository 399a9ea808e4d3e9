{#-
    The quote rows to initialize in Dataverse: the exported rows that passed every rule.
    The other rows are in dualwrite_rejects with their reason.
-#}
with

resolved_quotes as (
    select * from {{ ref('int_quotes_resolved') }}
),

initialized as (
    select
        msdyn_company,
        msdyn_quotenumber,
        name,
        customerid_account,
        customerid_contact,
        msdyn_invoicecustomerid_account,
        msdyn_invoicecustomerid_contact,
        shipto_country,
        msdyn_requestedreceiptdate,
        requestdeliveryby,
        msdyn_language,
        msdyn_ordertype,
        transactioncurrencyid,
        pricelevelid,
        statecode,
        statuscode,
        _source_revisionnumber,
        _source_record_id,
        _source_file,
        _source_sheet,
        _source_row
    from resolved_quotes
    where _reject_reason is null
)

select * from initialized
