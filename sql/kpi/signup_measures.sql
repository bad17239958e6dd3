-- grain: one row per ds × dimension × dimension_value, for the days in [start, end)
-- New registered users, by signup platform, acquisition channel and region.
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
    select ds, 'all' as dimension, 'all' as dimension_value, user_id from signups
    union all
    select ds, 'platform', platform, user_id from signups
    union all
    select ds, 'channel', channel, user_id from signups
    union all
    select ds, 'region', region, user_id from signups
)

select
    ds,
    dimension,
    dimension_value,
    count(distinct user_id) as new_users
from signups_by_dimension
group by ds, dimension, dimension_value
