-- grain: one row per paid order (status paid, or paid then refunded), on every day
-- The one definition of a paid order: a refunded order was paid first, so it counts. Platform
-- and channel read 'unknown' and 'direct' when missing (opscadence/metrics/dimensions.py).
select
    ds,
    order_id,
    order_at,
    user_id,
    amount,
    coalesce(platform, 'unknown') as platform,
    coalesce(channel, 'direct') as channel
from raw_orders
where status in ('paid', 'refunded')
