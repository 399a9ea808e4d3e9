{#- One row per exported product row: text trimmed (blank = null), localized choices, dates and decimals typed. -#}
with

source as (
    select * from {{ source('raw', 'product') }}
),

choice_labels as (
    select * from {{ ref('stg_choice_labels') }}
),

renamed as (
    select
        ---------- ids
        {{ clean_text('source.productid') }} as productid,
        {{ clean_text('source.productnumber') }} as productnumber,
        ---------- strings
        {{ clean_text('source.name') }} as name,
        {{ clean_text('source.defaultuomid') }} as defaultuomid,
        upper({{ clean_text('source.msdyn_company') }}) as msdyn_company,
        ---------- numerics
        {{ parse_decimal('source.price') }} as price,
        ---------- choices (option values)
        producttypecode_choice.option_value as producttypecode,
        statecode_choice.option_value as statecode,
        ---------- booleans
        cast(msdynce_ismaintainedexternally_choice.option_value as boolean) as msdynce_ismaintainedexternally,
        ---------- typed columns whose exported text cannot be read (null when all were read)
        {{ unreadable_columns('source', [
            ('price', parse_decimal('source.price')),
            ('producttypecode', none),
            ('statecode', none),
            ('msdynce_ismaintainedexternally', none),
        ]) }} as _unreadable_columns,
        ---------- export metadata and provenance
        {{ clean_text('source.rowchecksum') }} as rowchecksum,
        {{ clean_text('source.modifiedon') }} as modifiedon,
        source._source_file,
        source._source_sheet,
        source._source_row,
        source._source_sha256,
        upper({{ clean_text('source._company') }}) as _company,
        source._load_id,
        source._loaded_at
    from source
    {{ choice_join('choice_labels', 'source', 'product', 'msdynce_ismaintainedexternally') }}
    {{ choice_join('choice_labels', 'source', 'product', 'producttypecode') }}
    {{ choice_join('choice_labels', 'source', 'product', 'statecode') }}
)

select * from renamed
