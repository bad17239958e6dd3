-- grain: one row per user × day in [start, end) on which a user who signed up in [start, end) was active
-- include: staging/stg_paid_orders
-- Active: the user's id is on an event of the day (logged in), or the user has a paid order
-- (staging/stg_paid_orders) that day. Retention (opscadence.analytics.weekly.retention) reads
-- these days against each user's signup day.
with cohort as (
    select distinct user_id
    from raw_users
    where ds >= :start
        and ds < :end
),

event_days as (
    select distinct user_id, ds
    from raw_events
    where ds >= :start
        and ds < :end
        and user_id is not null
),

order_days as (
    select distinct user_id, ds
    from stg_paid_orders
    where ds >= :start
        and ds < :end
),

active_days as (
    select user_id, ds from event_days
    union
    select user_id, ds from order_days
)

select active_days.user_id, active_days.ds
from active_days
inner join cohort
    on active_days.user_id = cohort.user_id
