{#-
    Every line's parent key must exist in the parent model in the *same* company: a line of a USMF order
    must not bind to the GBSI order with the same number. Like `relationships`, null keys are not checked.
    Companies are compared with null = null (coalesced to '') so that the join stays a hash join.
    `parent_model` is given as ref('...'); `parent_company_column` defaults to `company_column`.
-#}
{% test parent_in_same_company(
    model, column_name, parent_model, parent_key,
    company_column='msdyn_company', parent_company_column=none
) %}

{%- set parent_company = parent_company_column or company_column %}

with child as (
    select
        {{ column_name }} as parent_key_value,
        {{ company_column }} as company
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select distinct
        {{ parent_key }} as parent_key_value,
        {{ parent_company }} as company
    from {{ parent_model }}
    where {{ parent_key }} is not null
)

select
    child.parent_key_value,
    child.company
from child
left join parent
    on
        child.parent_key_value = parent.parent_key_value
        and coalesce(child.company, '') = coalesce(parent.company, '')
where parent.parent_key_value is null

{% endtest %}
