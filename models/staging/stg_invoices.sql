{#- One row per exported invoice row: text trimmed (blank = null), localized choices, dates and decimals typed. -#}
with

source as (
    select * from {{ source('raw', 'invoice') }}
),

choice_labels as (
    select * from {{ ref('stg_choice_labels') }}
),

currency_codes as (
    select * from {{ ref('currency_codes') }}
),

renamed as (
    select
        ---------- ids
        {{ clean_text('source.invoiceid') }} as invoiceid,
        {{ clean_text('source.invoicenumber') }} as invoicenumber,
        ---------- strings
        {{ clean_text('source.name') }} as name,
        {{ clean_text('source.customerid') }} as customerid,
        {{ clean_text('source._customerid_value') }} as _customerid_value,
        upper({{ clean_text('source.msdyn_company') }}) as msdyn_company,
        {{ clean_text('source.salesorderid') }} as salesorderid,
        {{ clean_text('source.salesorderid__ordernumber') }} as salesorderid__ordernumber,
        -- the export writes the currency record's name; an ISO code is kept as it is
        {{ iso_currency_code('source.transactioncurrencyid') }} as transactioncurrencyid,
        ---------- numerics
        {{ parse_decimal('source.totalamount') }} as totalamount,
        {{ parse_decimal('source.msdynce_misctax') }} as msdynce_misctax,
        {{ parse_decimal('source.msdynce_misctax_base') }} as msdynce_misctax_base,
        ---------- choices (option values)
        statecode_choice.option_value as statecode,
        ---------- booleans
        cast(msdynce_hasexternallymaintainedproductsonly_choice.option_value as boolean)
            as msdynce_hasexternallymaintainedproductsonly,
        cast(msdynce_ismaintainedexternally_choice.option_value as boolean) as msdynce_ismaintainedexternally,
        ---------- dates
        {{ parse_date('source.msdynce_invoicedate') }} as msdynce_invoicedate,
        ---------- typed columns whose exported text cannot be read (null when all were read)
        {{ unreadable_columns('source', [
            ('transactioncurrencyid', iso_currency_code('source.transactioncurrencyid')),
            ('totalamount', parse_decimal('source.totalamount')),
            ('msdynce_misctax', parse_decimal('source.msdynce_misctax')),
            ('msdynce_misctax_base', parse_decimal('source.msdynce_misctax_base')),
            ('statecode', none),
            ('msdynce_hasexternallymaintainedproductsonly', none),
            ('msdynce_ismaintainedexternally', none),
            ('msdynce_invoicedate', parse_date('source.msdynce_invoicedate')),
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
    {{ choice_join('choice_labels', 'source', 'invoice', 'msdynce_hasexternallymaintainedproductsonly') }}
    {{ choice_join('choice_labels', 'source', 'invoice', 'msdynce_ismaintainedexternally') }}
    {{ choice_join('choice_labels', 'source', 'invoice', 'statecode') }}
    left join currency_codes
        on {{ text_key('currency_codes.currency_name') }} = {{ text_key('trim(source.transactioncurrencyid)') }}
)

select * from renamed
