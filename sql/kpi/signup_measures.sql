-- grain: one row per ds × dimension × dimension_value, for the days in [start, end)
-- New registered users, by the signups dimensions: signup platform, acquisition channel and
-- the region of the signup row.
with signups as (
    select
        ds,
        user_id,
        coalesce(platform, 'unknown') as platform,
        coalesce(channel, 'direct') as channel,
        coalesce(region, 'unknown') as region
    from raw_users
    where ds >= :start
        and ds < :end
),

signups_by_dimension as (
    {{ fan_out('signups', 'signups') }}
)

select
    ds,
    dimension,
    dimension_value,
    count(distinct user_id) as new_users
from signups_by_dimension
group by ds, dimension, dimension_value
