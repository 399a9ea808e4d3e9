{#-
    Initialization updates each record by its record id: a record id twice in one table means two updates of
    one record, the later silently overwriting the earlier. Record ids are compared as Dataverse does (case
    and braces ignored), across companies: a GUID names one record of the whole table. Rows without a record
    id are not checked. One failing row per record id, with how many rows and which files carry it.
-#}
{% test record_id_at_most_once(model, column_name) %}

select
    lower(trim(both '{}' from trim({{ column_name }}))) as record_id,
    count(*) as n_records,
    {{ ordered_string_agg('_source_file', "'; '", '_source_file', distinct=true) }} as source_files
from {{ model }}
where nullif(trim({{ column_name }}), '') is not null
group by lower(trim(both '{}' from trim({{ column_name }})))
having count(*) > 1

{% endtest %}
