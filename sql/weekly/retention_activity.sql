-- grain: one row per user × day in [start, end) on which a user who signed up in [start, end) was active
-- The active days (mart_weekly_active_users, written with each week's marts) of the users whose
-- signup falls in the window; retention (opscadence.analytics.weekly.retention) reads them
-- against each user's signup day.
with cohort as (
    select distinct user_id
    from raw_users
    where ds >= :start
        and ds < :end
),

active_days as (
    select ds, user_id
    from mart_weekly_active_users
    where ds >= :start
        and ds < :end
)

select active_days.user_id, active_days.ds
from active_days
inner join cohort
    on active_days.user_id = cohort.user_id
