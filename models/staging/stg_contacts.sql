{#- One row per exported contact row: text trimmed (blank = null), localized choices, dates and decimals typed. -#}
with

source as (
    select * from {{ source('raw', 'contact') }}
),

choice_labels as (
    select * from {{ ref('stg_choice_labels') }}
),

status_reason_labels as (
    select * from {{ ref('stg_status_reason_labels') }}
),

renamed as (
    select
        ---------- ids
        {{ clean_text('source.contactid') }} as contactid,
        {{ clean_text('source.msdynce_contactnumber') }} as msdynce_contactnumber,
        ---------- strings
        {{ clean_text('source.firstname') }} as firstname,
        {{ clean_text('source.lastname') }} as lastname,
        {{ clean_text('source.fullname') }} as fullname,
        {{ clean_text('source.emailaddress1') }} as emailaddress1,
        {{ clean_text('source.telephone1') }} as telephone1,
        upper({{ clean_text('source.msdyn_company') }}) as msdyn_company,
        {{ clean_text('source.parentcustomerid') }} as parentcustomerid,
        {{ clean_text('source.parentcustomerid__accountnumber') }} as parentcustomerid__accountnumber,
        {{ clean_text('source.msdynce_isactivecustomer') }} as msdynce_isactivecustomer_label,
        {{ clean_text('source.msdyn_isprospect') }} as msdyn_isprospect_label,
        ---------- choices (option values)
        statecode_choice.option_value as statecode,
        -- decoded within the row's state: a label may name one status reason per state
        {{ status_reason_value() }} as statuscode,
        ---------- booleans
        cast(msdynce_isactivecustomer_choice.option_value as boolean) as msdynce_isactivecustomer,
        cast(msdyn_isprospect_choice.option_value as boolean) as msdyn_isprospect,
        cast(msdynce_iscompanyanaccount_choice.option_value as boolean) as msdynce_iscompanyanaccount,
        ---------- typed columns whose exported text cannot be read (null when all were read)
        {{ unreadable_columns('source', [
            ('statecode', none),
            ('statuscode', status_reason_value()),
            ('msdynce_isactivecustomer', none),
            ('msdyn_isprospect', none),
            ('msdynce_iscompanyanaccount', none),
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
    {{ choice_join('choice_labels', 'source', 'contact', 'msdynce_isactivecustomer') }}
    {{ choice_join('choice_labels', 'source', 'contact', 'msdyn_isprospect') }}
    {{ choice_join('choice_labels', 'source', 'contact', 'msdynce_iscompanyanaccount') }}
    {{ choice_join('choice_labels', 'source', 'contact', 'statecode') }}
    {{ status_reason_join('status_reason_labels', 'source', 'contact', 'statecode_choice.option_value') }}
)

select * from renamed
