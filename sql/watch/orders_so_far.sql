-- grain: one row per day ds: paid orders before the cutoff time, and last week's before the same time
-- include: staging/stg_paid_orders
with todays as (
    select order_id
    from stg_paid_orders
    where ds = :ds
        and order_at < :cutoff
),

last_weeks as (
    select order_id
    from stg_paid_orders
    where ds = :ds_last_week
        and order_at < :cutoff_last_week
)

select
    (select count(*) from todays) as orders_so_far,
    (select count(*) from last_weeks) as orders_last_week
