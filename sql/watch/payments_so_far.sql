-- grain: one row per day ds: payment attempts and successes before the cutoff time
with attempts as (
    select status
    from raw_payments
    where ds = :ds
        and attempt_at < :cutoff
)

select
    count(*) as payment_attempts,
    coalesce(sum(case when status = 'success' then 1 else 0 end), 0) as payment_successes
from attempts
