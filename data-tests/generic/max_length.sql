{#-
    Dataverse rejects text longer than the column's MaxLength (e.g. accountnumber 20, name 160):
    catch it here instead of as a 400 from the Web API. Length counts characters, after a cast to text.
-#}
{% test max_length(model, column_name, max) %}

select
    {{ column_name }} as too_long_value,
    {{ dbt.length(dbt.cast(column_name, dbt.type_string())) }} as value_length
from {{ model }}
where {{ dbt.length(dbt.cast(column_name, dbt.type_string())) }} > {{ max }}

{% endtest %}
