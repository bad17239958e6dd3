-- grain: one row per paid order with ds in [start, end)
-- The conversions of the week's attribution: every paid order (staging/stg_paid_orders), worth its amount.
with paid_orders as (
    -- include: staging/stg_paid_orders
    select order_id, user_id, order_at, amount
    from stg_paid_orders
    where ds >= :start
        and ds < :end
)

select
    order_id,
    user_id,
    order_at,
    amount
from paid_orders
