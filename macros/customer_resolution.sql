{#-
    Resolution of an exported Customer reference (orders, quotes) against int_customers_indexed, within
    the row's company and by the strongest key the export carries:
      1. the record id (`Customer (ID)`, _customerid_value): when exported it decides alone;
      2. the Customer text as an account number or contact number;
      3. the Customer text as a name carried by exactly one account or contact.
    Never guessed: an unknown or ambiguous reference leaves the customer empty and gives a reject reason.
    `row` is the CTE alias with columns resolved_company, customerid and _customerid_value.
-#}
{% macro customer_joins(customers, row) -%}
    left join {{ customers }} as customer_by_id
        on
            {{ row }}.resolved_company = customer_by_id.msdyn_company
            and customer_by_id.key_kind = 'record_id'
            and lower({{ row }}._customerid_value) = customer_by_id.key_value
    left join {{ customers }} as customer_by_number
        on
            {{ row }}.resolved_company = customer_by_number.msdyn_company
            and customer_by_number.key_kind = 'number'
            and {{ row }}.customerid = customer_by_number.key_value
    left join {{ customers }} as customer_by_name
        on
            {{ row }}.resolved_company = customer_by_name.msdyn_company
            and customer_by_name.key_kind = 'name'
            and {{ name_key(row ~ '.customerid') }} = customer_by_name.key_value
{%- endmacro %}

{#- The resolved customer as (type, number) columns, and the reason when there is none. -#}
{% macro customer_columns(row) -%}
        case
            when {{ row }}._customerid_value is not null
                then case when customer_by_id.customer_count = 1 then customer_by_id.customer_type end
            when customer_by_number.customer_count is not null
                then case when customer_by_number.customer_count = 1 then customer_by_number.customer_type end
            when customer_by_name.customer_count = 1 then customer_by_name.customer_type
        end as customer_type,
        case
            when {{ row }}._customerid_value is not null
                then case when customer_by_id.customer_count = 1 then customer_by_id.customer_number end
            when customer_by_number.customer_count is not null
                then case when customer_by_number.customer_count = 1 then customer_by_number.customer_number end
            when customer_by_name.customer_count = 1 then customer_by_name.customer_number
        end as customer_number,
        case
            when {{ row }}._customerid_value is not null and customer_by_id.customer_count is null
                then 'unknown customer: record id ' || {{ row }}._customerid_value
                || ' is not among the initialized accounts and contacts of company ' || {{ row }}.resolved_company
            when {{ row }}._customerid_value is not null and customer_by_id.customer_count > 1
                then 'ambiguous customer: record id ' || {{ row }}._customerid_value
                || ' is carried by several customers in company ' || {{ row }}.resolved_company
            when {{ row }}._customerid_value is not null then null
            when {{ row }}.customerid is null then 'missing customer: the Customer column is empty'
            when customer_by_number.customer_count > 1
                then 'ambiguous customer: the number ' || {{ row }}.customerid || ' is carried by '
                || cast(customer_by_number.customer_count as {{ dbt.type_string() }})
                || ' accounts and contacts in company ' || {{ row }}.resolved_company
            when customer_by_number.customer_count = 1 then null
            when customer_by_name.customer_count > 1
                then 'ambiguous customer: the name ' || {{ row }}.customerid || ' is carried by '
                || cast(customer_by_name.customer_count as {{ dbt.type_string() }})
                || ' accounts and contacts in company ' || {{ row }}.resolved_company
            when customer_by_name.customer_count is null
                then 'unknown customer: ' || {{ row }}.customerid
                || ' is not among the initialized accounts and contacts of company ' || {{ row }}.resolved_company
        end as customer_reject_reason
{%- endmacro %}
