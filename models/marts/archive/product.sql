{#-
    Products are not initialized: they flow from finance and operations by the initial sync (migration
    article, Products table). The export is kept typed here to read the synced products back and compare.
-#}
with

products as (
    select * from {{ ref('stg_products') }}
),

archived as (
    select
        {{ resolved_company('products') }} as msdyn_company,
        products.productnumber,
        products.name,
        products.defaultuomid,
        products.price,
        products.producttypecode,
        products.statecode,
        products.msdynce_ismaintainedexternally,
        products.productid as _source_record_id,
        products._source_file,
        products._source_sheet,
        products._source_row
    from products
)

select * from archived
