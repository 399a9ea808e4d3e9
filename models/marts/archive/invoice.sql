{#-
    Invoices are not initialized: they flow from finance and operations by the initial sync (migration
    article, Invoice table). The export is kept typed here to read the synced invoices back and compare.
-#}
with

invoices as (
    select * from {{ ref('stg_invoices') }}
),

archived as (
    select
        {{ resolved_company('invoices') }} as msdyn_company,
        invoices.invoicenumber,
        invoices.name,
        invoices.customerid,
        invoices._customerid_value,
        invoices.salesorderid,
        invoices.salesorderid__ordernumber,
        invoices.msdynce_invoicedate,
        invoices.totalamount,
        invoices.msdynce_misctax,
        invoices.msdynce_misctax_base,
        invoices.transactioncurrencyid,
        invoices.statecode,
        invoices.msdynce_hasexternallymaintainedproductsonly,
        invoices.msdynce_ismaintainedexternally,
        invoices.invoiceid as _source_record_id,
        invoices._source_file,
        invoices._source_sheet,
        invoices._source_row
    from invoices
)

select * from archived
