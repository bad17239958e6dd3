-- grain: one row per day × registered user active that day, for the days in [start, end)
-- include: staging/stg_paid_orders
-- Active: the user's id is on an event of the day (a logged-in visit), or the user has a paid
-- order (staging/stg_paid_orders) that day. Written per week into mart_weekly_active_users,
-- which retention reads.
with event_days as (
    select distinct ds, user_id
    from raw_events
    where ds >= :start
        and ds < :end
        and user_id is not null
),

order_days as (
    select distinct ds, user_id
    from stg_paid_orders
    where ds >= :start
        and ds < :end
)

select ds, user_id from event_days
union
select ds, user_id from order_days
