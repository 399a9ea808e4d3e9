{#-
    Every exported quote line with the values the quotedetail table gets and, for a line that cannot be
    initialized, the reason it is rejected. A line belongs to one revision of its quote: lines of a
    superseded revision are rejected as superseded; a line that names no revision belongs to its quote
    when the quote was exported with a single revision, and is initialized by its record id otherwise (every
    revision shares the company, the only value written); without a record id it is ambiguous.
-#}
with

lines as (
    select * from {{ ref('stg_quotedetails') }}
),

quotes as (
    select * from {{ ref('int_quotes_resolved') }}
    where _has_key
),

products as (
    select * from {{ ref('int_products_indexed') }}
),

-- the initialized revision of each quote (one per company and quote id): a line's parent state comes from it
initialized_quotes as (
    select
        msdyn_company,
        msdyn_quotenumber,
        statecode,
        statuscode
    from quotes
    where _reject_reason is null
),

quote_revisions as (
    select
        msdyn_company,
        msdyn_quotenumber,
        max(_source_revisionnumber) as latest_revision,
        count(distinct _source_revisionnumber) as revision_count,
        max(case when _reject_reason is null then _source_revisionnumber end) as initialized_revision
    from quotes
    group by msdyn_company, msdyn_quotenumber
),

companies_assigned as (
    select
        lines.*,
        {{ resolved_company('lines') }} as resolved_company,
        {{ company_reject_reason('lines') }} as company_reject_reason,
        -- a value the rules need that was exported but cannot be read is not replaced by null or a default
        {{ unreadable_reason([
            ('quoteid__revisionnumber', 'a whole number'),
            ('msdynce_quoterevisionnumber', 'a whole number'),
            ('sequencenumber', 'a whole number'),
            ('quantity', 'a number'),
            ('priceperunit', 'a number'),
        ], 'lines._unreadable_columns') }} as unreadable_reject_reason,
        coalesce(lines.quoteid__revisionnumber, lines.msdynce_quoterevisionnumber) as exported_revision,
        -- only a line without product number looks its product up by name (the key is costly to compute)
        case
            when lines.productid__productnumber is null then {{ name_key('lines.productid') }}
        end as product_name_key
    from lines
),

resolved as (
    select
        companies_assigned.quotedetailid as _source_record_id,
        companies_assigned.resolved_company as msdyn_company,
        companies_assigned.quoteid__quotenumber as parent_number,
        companies_assigned.exported_revision,
        quote_revisions.latest_revision,
        quote_revisions.revision_count,
        quote_revisions.initialized_revision,
        initialized_quotes.statecode as parent_statecode,
        initialized_quotes.statuscode as parent_statuscode,
        case
            when companies_assigned.exported_revision is not null then companies_assigned.exported_revision
            when quote_revisions.revision_count = 1 then quote_revisions.latest_revision
        end as _source_revisionnumber,
        companies_assigned.sequencenumber,
        companies_assigned.productid as product_name,
        companies_assigned.productid__productnumber,
        products.product_count,
        coalesce(
            companies_assigned.productid__productnumber,
            case when products.product_count = 1 then products.productnumber end
        ) as productid,
        companies_assigned.uomid,
        companies_assigned.quantity,
        companies_assigned.priceperunit,
        companies_assigned.company_reject_reason,
        companies_assigned.unreadable_reject_reason,
        companies_assigned._source_file,
        companies_assigned._source_sheet,
        companies_assigned._source_row,
        companies_assigned.modifiedon,
        companies_assigned._loaded_at
    from companies_assigned
    left join quote_revisions
        on
            companies_assigned.resolved_company = quote_revisions.msdyn_company
            and companies_assigned.quoteid__quotenumber = quote_revisions.msdyn_quotenumber
    left join initialized_quotes
        on
            companies_assigned.resolved_company = initialized_quotes.msdyn_company
            and companies_assigned.quoteid__quotenumber = initialized_quotes.msdyn_quotenumber
    left join products
        on
            companies_assigned.resolved_company = products.msdyn_company
            and companies_assigned.product_name_key = products.name_key
),

checked as (
    select
        *,
        case
            when company_reject_reason is not null then company_reject_reason
            when parent_number is null then 'missing key: the quote id of the line is empty'
            -- before the sequence number check: an unreadable sequence number is not an empty one
            when unreadable_reject_reason is not null then unreadable_reject_reason
            -- a line is identified by its record id, else by its sequence number in its quote: a line with
            -- a record id and no sequence number is kept (its sequence number is not written)
            when sequencenumber is null and _source_record_id is null
                then 'missing key: the line has neither a record id nor a sequence number, so it cannot be identified'
            when latest_revision is null
                then 'parent quote not exported: quote ' || parent_number || ' of company ' || msdyn_company
            -- every revision of a quote has its company: a line with its record id is updated by that id and
            -- needs no revision; one without it can only be told by its revision and sequence number
            when _source_revisionnumber is null and _source_record_id is null
                then
                    'ambiguous parent quote revision: quote ' || parent_number || ' has '
                    || cast(revision_count as {{ dbt.type_string() }})
                    || ' revisions and the line names none and has no record id'
            when _source_revisionnumber < latest_revision
                then
                    'superseded: the line belongs to revision '
                    || cast(_source_revisionnumber as {{ dbt.type_string() }})
                    || ' of quote ' || parent_number || ', replaced by revision '
                    || cast(latest_revision as {{ dbt.type_string() }})
            when _source_revisionnumber > latest_revision
                then
                    'parent quote not exported: revision ' || cast(_source_revisionnumber as {{ dbt.type_string() }})
                    || ' of quote ' || parent_number || ' of company ' || msdyn_company
            when initialized_revision is null
                then
                    'parent quote not initialized: quote ' || parent_number || ' of company ' || msdyn_company
                    || ' is rejected'
            when productid__productnumber is null and product_name is null
                then 'missing product: the line has no product id or product name'
            when productid is null and product_count > 1
                then
                    'ambiguous product: the name ' || product_name || ' is carried by '
                    || cast(product_count as {{ dbt.type_string() }}) || ' products in company ' || msdyn_company
            when productid is null
                then 'unknown product: ' || product_name || ' is not in the product export of company ' || msdyn_company
        end as base_reject_reason
    from resolved
),

{{ record_id_copies('checked', [
    'msdyn_company',
    'parent_number',
    'sequencenumber',
    'productid',
    'uomid',
    'quantity',
    'priceperunit',
    '_source_revisionnumber',
]) }},

ranked as (
    select
        *,
        -- the same line exported twice in one company: the last loaded row wins. The same line is the same
        -- sequence number of the same revision of the same quote (lines without one, or without a known
        -- revision, are identified by their record id); copies of one record id are decided before, by
        -- record_id_copies
        {{ last_loaded_rank(['parent_number', '_source_revisionnumber', 'sequencenumber']) }} as sequence_rank
    from record_id_checked
),

final as (
    select
        _source_record_id,
        msdyn_company,
        parent_number as quoteid,
        sequencenumber,
        productid,
        uomid,
        quantity,
        priceperunit,
        -- the dual-write line maps write it: the exported price is kept instead of a price list price
        true as ispriceoverridden,
        -- information, never written: the state and status reason of the line's initialized parent
        parent_statecode,
        parent_statuscode,
        _source_revisionnumber,
        _source_file,
        _source_sheet,
        _source_row,
        case
            when record_id_reject_reason is not null then record_id_reject_reason
            when base_reject_reason is not null then base_reject_reason
            when sequencenumber is not null and _source_revisionnumber is not null and sequence_rank > 1
                then
                    'duplicate: line ' || cast(sequencenumber as {{ dbt.type_string() }})
                    || ' of quote ' || parent_number
                    || ' is exported again in company ' || msdyn_company || ' (a later loaded row is kept)'
        end as _reject_reason
    from ranked
)

select * from final
