{#- One row per exported account row: text trimmed (blank = null), localized choices, dates and decimals typed. -#}
with

source as (
    select * from {{ source('raw', 'account') }}
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
        {{ clean_text('source.accountid') }} as accountid,
        {{ clean_text('source.accountnumber') }} as accountnumber,
        ---------- strings
        {{ clean_text('source.name') }} as name,
        upper({{ clean_text('source.msdyn_company') }}) as msdyn_company,
        {{ clean_text('source.telephone1') }} as telephone1,
        {{ clean_text('source.emailaddress1') }} as emailaddress1,
        {{ clean_text('source.address1_line1') }} as address1_line1,
        {{ clean_text('source.address1_city') }} as address1_city,
        {{ clean_text('source.address1_postalcode') }} as address1_postalcode,
        {{ clean_text('source.address1_country') }} as address1_country,
        {{ clean_text('source.primarycontactid') }} as primarycontactid,
        -- the export writes the currency record's name; an ISO code is kept as it is
        {{ iso_currency_code('source.transactioncurrencyid') }} as transactioncurrencyid,
        {{ clean_text('source.customertypecode') }} as customertypecode_label,
        ---------- numerics
        {{ parse_decimal('source.creditlimit') }} as creditlimit,
        ---------- choices (option values)
        customertypecode_choice.option_value as customertypecode,
        statecode_choice.option_value as statecode,
        -- decoded within the row's state: a label may name one status reason per state
        {{ status_reason_value() }} as statuscode,
        ---------- typed columns whose exported text cannot be read (null when all were read)
        {{ unreadable_columns('source', [
            ('transactioncurrencyid', iso_currency_code('source.transactioncurrencyid')),
            ('creditlimit', parse_decimal('source.creditlimit')),
            ('customertypecode', none),
            ('statecode', none),
            ('statuscode', status_reason_value()),
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
    {{ choice_join('choice_labels', 'source', 'account', 'customertypecode') }}
    {{ choice_join('choice_labels', 'source', 'account', 'statecode') }}
    {{ status_reason_join('status_reason_labels', 'source', 'account', 'statecode_choice.option_value') }}
    left join currency_codes
        on {{ text_key('currency_codes.currency_name') }} = {{ text_key('trim(source.transactioncurrencyid)') }}
)

select * from renamed
