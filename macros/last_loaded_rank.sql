{#-
    The duplicate key rule, in one place for every table: a record exported twice within one company (the same
    business key) is initialized once, from the row loaded last (then the later file, sheet and row); the
    other copies rank 2, 3... and are rejected as `duplicate`. Rows already rejected for another reason,
    copies of one record id included (macro record_id_copies), take no part in the ranking. Expects the
    columns base_reject_reason, record_id_reject_reason, msdyn_company and the provenance columns.
-#}
{% macro last_loaded_rank(key_columns) -%}
    case
        when base_reject_reason is null and record_id_reject_reason is null
            then row_number() over (
                partition by
                    base_reject_reason is null and record_id_reject_reason is null,
                    msdyn_company,
                    {{ key_columns | join(', ') }}
                order by _loaded_at desc, _source_file desc, _source_sheet desc, _source_row desc
            )
    end
{%- endmacro %}
