-- grain: one row per ds × dimension × dimension_value, for the days in [start, end)
-- Payment attempts and successful attempts, by platform and payment method.
with attempts as (
    select
        ds,
        status,
        coalesce(platform, 'unknown') as platform,
        coalesce(method, 'unknown') as method
    from raw_payments
    where ds >= :start
        and ds < :end
),

attempts_by_dimension as (
    select ds, 'all' as dimension, 'all' as dimension_value, status from attempts
    union all
    select ds, 'platform', platform, status from attempts
    union all
    select ds, 'payment_method', method, status from attempts
)

select
    ds,
    dimension,
    dimension_value,
    count(*) as payment_attempts,
    sum(case when status = 'success' then 1 else 0 end) as payment_successes
from attempts_by_dimension
group by ds, dimension, dimension_value
