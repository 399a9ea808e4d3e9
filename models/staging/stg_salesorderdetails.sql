{#- One row per exported salesorderdetail row: text trimmed (blank = null), localized choices, dates and decimals typed. -#}
with

source as (
    select * from {{ source('raw', 'salesorderdetail') }}
),

choice_labels as (
    select * from {{ ref('stg_choice_labels') }}
),

renamed as (
    select
        ---------- ids
        {{ clean_text('source.salesorderdetailid') }} as salesorderdetailid,
        {{ clean_text('source.salesorderid__ordernumber') }} as salesorderid__ordernumber,
        {{ clean_text('source.msdynce_ordernumber') }} as msdynce_ordernumber,
        {{ parse_integer('source.sequencenumber') }} as sequencenumber,
        ---------- strings
        {{ clean_text('source.salesorderid') }} as salesorderid,
        {{ clean_text('source.productid') }} as productid,
        {{ clean_text('source.productid__productnumber') }} as productid__productnumber,
        {{ clean_text('source.uomid') }} as uomid,
        upper({{ clean_text('source.msdyn_company') }}) as msdyn_company,
        ---------- numerics
        {{ parse_decimal('source.quantity') }} as quantity,
        {{ parse_decimal('source.priceperunit') }} as priceperunit,
        {{ parse_decimal('source.extendedamount') }} as extendedamount,
        ---------- booleans
        cast(msdynce_ismaintainedexternally_choice.option_value as boolean) as msdynce_ismaintainedexternally,
        cast(msdynce_ismisctax_choice.option_value as boolean) as msdynce_ismisctax,
        cast(msdynce_orderhasexternalmaintainedproductsonly_choice.option_value as boolean)
            as msdynce_orderhasexternalmaintainedproductsonly,
        cast(msdynce_orderissubmitted_choice.option_value as boolean) as msdynce_orderissubmitted,
        ---------- typed columns whose exported text cannot be read (null when all were read)
        {{ unreadable_columns('source', [
            ('sequencenumber', parse_integer('source.sequencenumber')),
            ('quantity', parse_decimal('source.quantity')),
            ('priceperunit', parse_decimal('source.priceperunit')),
            ('extendedamount', parse_decimal('source.extendedamount')),
            ('msdynce_ismaintainedexternally', none),
            ('msdynce_ismisctax', none),
            ('msdynce_orderhasexternalmaintainedproductsonly', none),
            ('msdynce_orderissubmitted', none),
            ('modifiedon', parse_timestamp('source.modifiedon')),
        ]) }} as _unreadable_columns,
        ---------- export metadata and provenance
        {{ clean_text('source.rowchecksum') }} as rowchecksum,
        -- decides between two copies of one record (int_* models, rule "Duplicate record ids")
        {{ parse_timestamp('source.modifiedon') }} as modifiedon,
        source._source_file,
        source._source_sheet,
        source._source_row,
        source._source_sha256,
        upper({{ clean_text('source._company') }}) as _company,
        source._load_id,
        source._loaded_at
    from source
    {{ choice_join('choice_labels', 'source', 'salesorderdetail', 'msdynce_ismaintainedexternally') }}
    {{ choice_join('choice_labels', 'source', 'salesorderdetail', 'msdynce_ismisctax') }}
    {{ choice_join('choice_labels', 'source', 'salesorderdetail', 'msdynce_orderhasexternalmaintainedproductsonly') }}
    {{ choice_join('choice_labels', 'source', 'salesorderdetail', 'msdynce_orderissubmitted') }}
)

select * from renamed
