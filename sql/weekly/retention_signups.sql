-- grain: one row per registered user who signed up in [start, end)
-- The signup cohorts: each user's first signup day in the window (a user held twice keeps the
-- earlier day).
with signups as (
    select user_id, ds
    from raw_users
    where ds >= :start
        and ds < :end
)

select user_id, min(ds) as signup_ds
from signups
group by user_id
