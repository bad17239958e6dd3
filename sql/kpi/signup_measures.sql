-- grain: one row per dimension × dimension_value for the day ds
-- New registered users, by signup platform, acquisition channel and region.
with signups as (
    select
        user_id,
        coalesce(platform, 'unknown') as platform,
        coalesce(channel, 'direct') as channel,
        coalesce(region, 'unknown') as region
    from raw_users
    where ds = :ds
),

signups_by_dimension as (
    select 'all' as dimension, 'all' as dimension_value, user_id from signups
    union all
    select 'platform', platform, user_id from signups
    union all
    select 'channel', channel, user_id from signups
    union all
    select 'region', region, user_id from signups
)

select
    dimension,
    dimension_value,
    count(distinct user_id) as new_users
from signups_by_dimension
group by dimension, dimension_value
