-- grain: one row per ds × dimension × dimension_value, for the days in [start, end)
-- include: staging/stg_payment_attempts
-- Payment attempts and successful attempts (staging/stg_payment_attempts), by the payments
-- dimensions.
with attempts as (
    select ds, succeeded, platform, payment_method
    from stg_payment_attempts
    where ds >= :start
        and ds < :end
),

attempts_by_dimension as (
    {{ fan_out('payments', 'attempts') }}
)

select
    ds,
    dimension,
    dimension_value,
    count(*) as payment_attempts,
    sum(succeeded) as payment_successes
from attempts_by_dimension
group by ds, dimension, dimension_value
