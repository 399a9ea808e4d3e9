{#-
    Completeness evidence for the audit: every source row is either in the target or rejected with a reason.
    Fails for each entity row where source_rows <> target_rows + rejected_rows, or where a count is missing.
-#}
{% test reconciliation_balances(model) %}

select
    entity,
    source_rows,
    target_rows,
    rejected_rows
from {{ model }}
where
    source_rows is null
    or target_rows is null
    or rejected_rows is null
    or source_rows <> target_rows + rejected_rows

{% endtest %}
