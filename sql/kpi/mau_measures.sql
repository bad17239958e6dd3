-- grain: one row per dimension × dimension_value for the 30 days ending on ds
-- Distinct visitors active in [mau_start, ds] (MAU); the window bounds are bound by the caller.
with events as (
    select
        visitor_id,
        coalesce(platform, 'unknown') as platform,
        coalesce(utm_source, 'direct') as channel
    from raw_events
    where ds >= :mau_start
        and ds <= :ds
),

events_by_dimension as (
    select 'all' as dimension, 'all' as dimension_value, visitor_id from events
    union all
    select 'platform', platform, visitor_id from events
    union all
    select 'channel', channel, visitor_id from events
)

select
    dimension,
    dimension_value,
    count(distinct visitor_id) as mau_visitors
from events_by_dimension
group by dimension, dimension_value
