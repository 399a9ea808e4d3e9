{#- One row per exported quote row: text trimmed (blank = null), localized choices, dates and decimals typed. -#}
with

source as (
    select * from {{ source('raw', 'quote') }}
),

choice_labels as (
    select * from {{ ref('stg_choice_labels') }}
),

status_reason_labels as (
    select * from {{ ref('stg_status_reason_labels') }}
),

currency_codes as (
    select * from {{ ref('currency_codes') }}
),

renamed as (
    select
        ---------- ids
        {{ clean_text('source.quoteid') }} as quoteid,
        {{ clean_text('source.quotenumber') }} as quotenumber,
        {{ parse_integer('source.revisionnumber') }} as revisionnumber,
        ---------- strings
        {{ clean_text('source.name') }} as name,
        {{ clean_text('source.customerid') }} as customerid,
        {{ clean_text('source._customerid_value') }} as _customerid_value,
        upper({{ clean_text('source.msdyn_company') }}) as msdyn_company,
        {{ clean_text('source.pricelevelid') }} as pricelevelid,
        {{ clean_text('source.shipto_country') }} as shipto_country,
        -- the export writes the currency record's name; an ISO code is kept as it is
        {{ iso_currency_code('source.transactioncurrencyid') }} as transactioncurrencyid,
        ---------- numerics
        {{ parse_decimal('source.totalamount') }} as totalamount,
        ---------- choices (option values)
        statecode_choice.option_value as statecode,
        -- decoded within the row's state: a label may name one status reason per state
        {{ status_reason_value() }} as statuscode,
        ---------- booleans
        cast(msdynce_hasexternallymaintainedproductsonly_choice.option_value as boolean)
            as msdynce_hasexternallymaintainedproductsonly,
        cast(msdynce_ismaintainedexternally_choice.option_value as boolean) as msdynce_ismaintainedexternally,
        ---------- dates
        {{ parse_date('source.requestdeliveryby') }} as requestdeliveryby,
        {{ parse_date('source.effectivefrom') }} as effectivefrom,
        {{ parse_date('source.closedon') }} as closedon,
        ---------- typed columns whose exported text cannot be read (null when all were read)
        {{ unreadable_columns('source', [
            ('revisionnumber', parse_integer('source.revisionnumber')),
            ('transactioncurrencyid', iso_currency_code('source.transactioncurrencyid')),
            ('totalamount', parse_decimal('source.totalamount')),
            ('statecode', none),
            ('statuscode', status_reason_value()),
            ('msdynce_hasexternallymaintainedproductsonly', none),
            ('msdynce_ismaintainedexternally', none),
            ('requestdeliveryby', parse_date('source.requestdeliveryby')),
            ('effectivefrom', parse_date('source.effectivefrom')),
            ('closedon', parse_date('source.closedon')),
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
    {{ choice_join('choice_labels', 'source', 'quote', 'msdynce_hasexternallymaintainedproductsonly') }}
    {{ choice_join('choice_labels', 'source', 'quote', 'msdynce_ismaintainedexternally') }}
    {{ choice_join('choice_labels', 'source', 'quote', 'statecode') }}
    {{ status_reason_join('status_reason_labels', 'source', 'quote', 'statecode_choice.option_value') }}
    left join currency_codes
        on {{ text_key('currency_codes.currency_name') }} = {{ text_key('trim(source.transactioncurrencyid)') }}
)

select * from renamed
