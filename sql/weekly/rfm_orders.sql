-- grain: one row per paid order (staging/stg_paid_orders) before end, every customer's history
-- include: staging/stg_paid_orders
-- RFM's frequency and monetary are lifetime figures as of the day before end, so there is no
-- lower bound. order_day is the order's shop-local date (order_at falls in its ds partition):
-- recency counts days from it.
with paid_orders as (
    select user_id, order_id, ds, amount
    from stg_paid_orders
    where ds < :end
)

select
    user_id as customer_id,
    order_id,
    ds as order_day,
    amount
from paid_orders
