-- grain: one row per paid order of [start, end), with its buyer's dimension values and whether it was a repeat purchase
-- include: staging/stg_paid_orders
-- include: staging/stg_user_region
-- The week's paid orders for its distinct buyers and repeat buyers (counted per dimension value
-- in opscadence.analytics.weekly.marts, once per buyer: never summed over days). A repeat
-- purchase is, as in kpi/order_measures, an order of a buyer who already had a paid order in
-- the 90 days before its day (dim_calendar.repurchase_window_start up to the day before). One
-- row per order rather than a fan-out by dimension: the joins run once, not once per dimension.
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
)

select
    paid_orders.user_id,
    paid_orders.platform,
    paid_orders.channel,
    coalesce(users.region, 'unknown') as region,
    case when repeat_buyers.user_id is null then 0 else 1 end as repeat_purchase
from paid_orders
left join repeat_buyers
    on paid_orders.user_id = repeat_buyers.user_id
    and paid_orders.ds = repeat_buyers.ds
left join stg_user_region as users
    on paid_orders.user_id = users.user_id
