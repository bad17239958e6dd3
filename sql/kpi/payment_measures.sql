-- grain: one row per dimension × dimension_value for the day ds
-- Payment attempts and successful attempts, by platform and payment method.
with attempts as (
    select
        status,
        coalesce(platform, 'unknown') as platform,
        coalesce(method, 'unknown') as method
    from raw_payments
    where ds = :ds
),

attempts_by_dimension as (
    select 'all' as dimension, 'all' as dimension_value, status from attempts
    union all
    select 'platform', platform, status from attempts
    union all
    select 'payment_method', method, status from attempts
)

select
    dimension,
    dimension_value,
    count(*) as payment_attempts,
    sum(case when status = 'success' then 1 else 0 end) as payment_successes
from attempts_by_dimension
group by dimension, dimension_value
