-- grain: one row per day ds: payment attempts and successes before the cutoff time
-- include: staging/stg_payment_attempts
with attempts as (
    select succeeded
    from stg_payment_attempts
    where ds = :ds
        and attempt_at < :cutoff
)

select
    count(*) as payment_attempts,
    coalesce(sum(succeeded), 0) as payment_successes
from attempts
