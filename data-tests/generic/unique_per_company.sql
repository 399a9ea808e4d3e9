{#-
    A business key must be unique within one legal entity, not across the whole table.
    The P2C solution's msdynce_AccountNumber index made account numbers unique across companies;
    dual-write keys accounts by (accountnumber, msdyn_company), so the same number in USMF and GBSI is valid.
    Rows whose key is null are not checked: use not_null for that. A null company counts as one company.
-#}
{% test unique_per_company(model, column_name, company_column='msdyn_company') %}

select
    {{ company_column }} as company,
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
group by {{ company_column }}, {{ column_name }}
having count(*) > 1

{% endtest %}
