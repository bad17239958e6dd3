-- grain: one row per registered user (user_id), with the user's region
-- The region of a registered user, for rows that carry a user_id (events, orders): one value
-- per user even if raw_users holds the user twice (the greatest); null when raw_users has none.
select
    user_id,
    max(region) as region
from raw_users
group by user_id
