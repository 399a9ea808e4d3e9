{#-
    Rows where a boolean SQL expression is false fail (dbt_utils.expression_is_true, reimplemented because
    hub packages are unreachable). As in dbt_utils, with a column_name the expression is appended to it
    (`column_name: quantity`, `expression: '> 0'`), and a null result does not fail.
-#}
{% test expression_is_true(model, expression, column_name=none) %}

{%- set full_expression = (column_name ~ ' ' ~ expression) if column_name is not none else expression %}

select *
from {{ model }}
where not ({{ full_expression }})

{% endtest %}
