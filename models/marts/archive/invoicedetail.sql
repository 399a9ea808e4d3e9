{#-
    Invoice lines are not initialized: they flow from finance and operations by the initial sync.
    The export is kept typed here to read the synced lines back and compare.
-#}
with

invoicedetails as (
    select * from {{ ref('stg_invoicedetails') }}
),

archived as (
    select
        {{ resolved_company('invoicedetails') }} as msdyn_company,
        coalesce(invoicedetails.invoiceid__invoicenumber, invoicedetails.msdynce_invoicenumber) as invoicenumber,
        invoicedetails.invoiceid,
        invoicedetails.productid,
        invoicedetails.productid__productnumber,
        invoicedetails.uomid,
        invoicedetails.quantity,
        invoicedetails.priceperunit,
        invoicedetails.extendedamount,
        invoicedetails.msdynce_invoicedate,
        invoicedetails.msdynce_ismaintainedexternally,
        invoicedetails.msdynce_ismisctax,
        invoicedetails.invoicedetailid as _source_record_id,
        invoicedetails._source_file,
        invoicedetails._source_sheet,
        invoicedetails._source_row
    from invoicedetails
)

select * from archived
