-- grain: one row per ds × dimension × dimension_value, for the days in [start, end)
-- Paid orders (paid, or paid then refunded), GMV, paying users, and paying users who already
-- had a paid order in the 90 days before (repurchase: dim_calendar.repurchase_window_start
-- up to the day before). Dimensions: all, platform, channel, region (the customer's).
-- A range of days costs one pass over its orders; earlier purchases are looked up per buyer
-- through the (user_id, ds) index of raw_orders.
with users as (
    select user_id, max(region) as region
    from raw_users
    group by user_id
),

paid_orders as (
    select
        ds,
        order_id,
        user_id,
        amount,
        coalesce(platform, 'unknown') as platform,
        coalesce(channel, 'direct') as channel
    from raw_orders
    where ds >= :start
        and ds < :end
        and status in ('paid', 'refunded')
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
    inner join raw_orders as earlier_orders
        on buyer_days_in_range.user_id = earlier_orders.user_id
        and earlier_orders.ds < buyer_days_in_range.ds
        and earlier_orders.ds >= calendar.repurchase_window_start
        and earlier_orders.status in ('paid', 'refunded')
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
    left join users
        on paid_orders.user_id = users.user_id
),

orders_by_dimension as (
    select ds, 'all' as dimension, 'all' as dimension_value, order_id, user_id, repeat_user_id, amount from orders_in_range
    union all
    select ds, 'platform', platform, order_id, user_id, repeat_user_id, amount from orders_in_range
    union all
    select ds, 'channel', channel, order_id, user_id, repeat_user_id, amount from orders_in_range
    union all
    select ds, 'region', region, order_id, user_id, repeat_user_id, amount from orders_in_range
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
