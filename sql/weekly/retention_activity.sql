-- grain: one row per user × day in [start, end) on which a user who signed up in [start, end) was active
-- include: staging/stg_paid_orders
-- Active: the user's id is on an event of the day (logged in), or the user has a paid order
-- (staging/stg_paid_orders) that day. Retention (opscadence.analytics.weekly.retention) reads
-- these days against each user's signup day. The cohort is joined before the distinct, so only
-- the cohort's events are de-duplicated, not every logged-in visitor's.
with cohort as (
    select distinct user_id
    from raw_users
    where ds >= :start
        and ds < :end
),

event_days as (
    select distinct raw_events.user_id, raw_events.ds
    from raw_events
    inner join cohort
        on raw_events.user_id = cohort.user_id
    where raw_events.ds >= :start
        and raw_events.ds < :end
),

order_days as (
    select distinct paid_orders.user_id, paid_orders.ds
    from stg_paid_orders as paid_orders
    inner join cohort
        on paid_orders.user_id = cohort.user_id
    where paid_orders.ds >= :start
        and paid_orders.ds < :end
)

select user_id, ds from event_days
union
select user_id, ds from order_days
