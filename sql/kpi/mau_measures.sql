-- grain: one row per dimension × dimension_value for the 30 days ending on ds
-- Distinct visitors active in [mau_start, ds] (MAU); the window bounds are bound by the caller.
-- Reads the daily visitor summary (one row per ds × visitor × platform × channel, platform
-- 'unknown' / channel 'direct' when missing), which kpis.compute_measures writes for ds and
-- for any day of the window that lacks it, so the cost does not grow with events per visitor.
with visits as (
    select visitor_id, platform, channel
    from mart_daily_visitors
    where ds >= :mau_start
        and ds <= :ds
),

visits_by_dimension as (
    select 'all' as dimension, 'all' as dimension_value, visitor_id from visits
    union all
    select 'platform', platform, visitor_id from visits
    union all
    select 'channel', channel, visitor_id from visits
)

select
    dimension,
    dimension_value,
    count(distinct visitor_id) as mau_visitors
from visits_by_dimension
group by dimension, dimension_value
