-- grain: one row per ds × visitor × platform × channel, for the days in [mau_start, end)
-- The daily visitor summary behind MAU (distinct visitors active in the 30 days ending on a
-- day). kpis.mau_by_day turns it into each day's MAU in one vectorised pass, so a range of
-- days reads each summary row once instead of once per day whose window holds it.
with visits as (
    select ds, visitor_id, platform, channel
    from mart_daily_visitors
    where ds >= :mau_start
        and ds < :end
)

select ds, visitor_id, platform, channel
from visits
