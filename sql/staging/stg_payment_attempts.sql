-- grain: one row per payment attempt, on every day
-- The one definition of a successful attempt (status 'success'), as succeeded = 1 or 0; platform
-- and payment_method read 'unknown' when missing (opscadence/metrics/dimensions.py).
select
    ds,
    attempt_id,
    attempt_at,
    case when status = 'success' then 1 else 0 end as succeeded,
    coalesce(platform, 'unknown') as platform,
    coalesce(method, 'unknown') as payment_method
from raw_payments
