-- grain: one row per dimension × dimension_value, for the paid orders of [start, end)
-- include: staging/stg_paid_orders
-- include: staging/stg_user_region
-- Distinct buyers of the window and distinct repeat buyers, by the orders dimensions (region:
-- the customer's). A repeat buyer is, as in kpi/order_measures, a buyer who on one of the
-- window's days already had a paid order in the 90 days before that day
-- (dim_calendar.repurchase_window_start up to the day before): the union of the days' repeat
-- buyers, each counted once.
with paid_orders as (
    select ds, user_id, platform, channel
    from stg_paid_orders
    where ds >= :start
        and ds < :end
),

calendar as (
    select ds, repurchase_window_start
    from dim_calendar
),

buyer_days as (
    select distinct user_id, ds
    from paid_orders
),

repeat_buyers as (
    select distinct
        buyer_days.ds,
        buyer_days.user_id
    from buyer_days
    inner join calendar
        on buyer_days.ds = calendar.ds
    inner join stg_paid_orders as earlier_orders
        on buyer_days.user_id = earlier_orders.user_id
        and earlier_orders.ds < buyer_days.ds
        and earlier_orders.ds >= calendar.repurchase_window_start
),

orders_in_range as (
    select
        paid_orders.user_id,
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
    dimension,
    dimension_value,
    count(distinct user_id) as paying_users,
    count(distinct repeat_user_id) as repeat_paying_users
from orders_by_dimension
group by dimension, dimension_value
