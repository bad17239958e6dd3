-- grain: one row per dimension × dimension_value for the day ds
-- Paid orders (paid, or paid then refunded), GMV, paying users, and paying users who already
-- had a paid order in the trailing window [repeat_start, ds) (repurchase).
-- Dimensions: all, platform, channel, region (the customer's).
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
    where ds >= :repeat_start
        and ds <= :ds
        and status in ('paid', 'refunded')
),

todays_orders as (
    select
        paid_orders.order_id,
        paid_orders.user_id,
        paid_orders.amount,
        paid_orders.platform,
        paid_orders.channel,
        coalesce(users.region, 'unknown') as region
    from paid_orders
    left join users
        on paid_orders.user_id = users.user_id
    where paid_orders.ds = :ds
),

earlier_buyers as (
    select distinct user_id
    from paid_orders
    where ds < :ds
),

orders_by_dimension as (
    select 'all' as dimension, 'all' as dimension_value, order_id, user_id, amount from todays_orders
    union all
    select 'platform', platform, order_id, user_id, amount from todays_orders
    union all
    select 'channel', channel, order_id, user_id, amount from todays_orders
    union all
    select 'region', region, order_id, user_id, amount from todays_orders
)

select
    orders_by_dimension.dimension,
    orders_by_dimension.dimension_value,
    count(distinct orders_by_dimension.order_id) as paid_orders,
    sum(orders_by_dimension.amount) as gmv,
    count(distinct orders_by_dimension.user_id) as paying_users,
    count(distinct earlier_buyers.user_id) as repeat_paying_users
from orders_by_dimension
left join earlier_buyers
    on orders_by_dimension.user_id = earlier_buyers.user_id
group by orders_by_dimension.dimension, orders_by_dimension.dimension_value
