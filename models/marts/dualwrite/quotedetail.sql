{#-
    The quotedetail rows to initialize in Dataverse: the exported rows that passed every rule.
    The other rows are in dualwrite_rejects with their reason.
-#}
with

resolved_lines as (
    select * from {{ ref('int_quotedetails_resolved') }}
),

initialized as (
    select
        msdyn_company,
        quoteid,
        sequencenumber,
        productid,
        uomid,
        quantity,
        priceperunit,
        ispriceoverridden,
        parent_statecode,
        parent_statuscode,
        _source_revisionnumber,
        _source_record_id,
        _source_file,
        _source_sheet,
        _source_row
    from resolved_lines
    where _reject_reason is null
)

select * from initialized
