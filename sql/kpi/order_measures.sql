-- grain: one row per ds × dimension × dimension_value, for the days in [start, end)
-- include: staging/stg_paid_orders
-- include: staging/stg_user_region
-- Paid orders (staging/stg_paid_orders), GMV, paying users, and paying users who already had a
-- paid order in the 90 days before (repurchase: dim_calendar.repurchase_window_start up to the
-- day before), by the orders dimensions (region: the customer's).
-- A range of days costs one pass over its orders; earlier purchases are looked up per buyer
-- through the (user_id, ds) index of raw_orders.
with paid_orders as (
    select ds, order_id, user_id, amount, platform, channel
    from stg_paid_orders
    where ds >= :start
        and ds < :end
),

calendar as (
    select ds, repurchase_window_start
    from dim_calendar
),

buyer_days_in_range as (
    select distinct user_id, ds
    from paid_orders
),

repeat_buyers as (
    select distinct
        buyer_days_in_range.ds,
        buyer_days_in_range.user_id
    from buyer_days_in_range
    inner join calendar
        on buyer_days_in_range.ds = calendar.ds
    inner join stg_paid_orders as earlier_orders
        on buyer_days_in_range.user_id = earlier_orders.user_id
        and earlier_orders.ds < buyer_days_in_range.ds
        and earlier_orders.ds >= calendar.repurchase_window_start
),

orders_in_range as (
    select
        paid_orders.ds,
        paid_orders.order_id,
        paid_orders.user_id,
        paid_orders.amount,
        paid_orders.platform,
        paid_orders.channel,
        coalesce(users.region, 'unknown') as region,
        repeat_buyers.user_id as repeat_user_id
    from paid_orders
    left join repeat_buyers
        on paid_orders.user_id = repeat_buyers.user_id
        and paid_orders.ds = repeat_buyers.ds
    left join stg_user_region as users
        on paid_orders.user_id = users.user_id
),

orders_by_dimension as (
    {{ fan_out('orders', 'orders_in_range') }}
)

select
    ds,
    dimension,
    dimension_value,
    count(distinct order_id) as paid_orders,
    sum(amount) as gmv,
    count(distinct user_id) as paying_users,
    count(distinct repeat_user_id) as repeat_paying_users
from orders_by_dimension
group by ds, dimension, dimension_value
