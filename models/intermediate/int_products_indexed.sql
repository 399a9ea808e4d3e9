{#-
    Product names per company from the product export, with the number of products that carry each name:
    an order line exported with only the product name resolves to a product number through it when the
    name is unique in the company.
-#}
with

products as (
    select * from {{ ref('stg_products') }}
),

named as (
    select
        {{ resolved_company('products') }} as msdyn_company,
        {{ name_key('products.name') }} as name_key,
        products.productnumber
    from products
    where products.name is not null and products.productnumber is not null
),

indexed as (
    select
        msdyn_company,
        name_key,
        count(distinct productnumber) as product_count,
        min(productnumber) as productnumber
    from named
    group by msdyn_company, name_key
)

select * from indexed
