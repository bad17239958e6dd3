-- grain: one row per ds × step × dimension × dimension_value, for the days in [start, end)
with funnel as (
    select ds, step_index, step, dimension, dimension_value, users
    from mart_daily_funnel
    where ds >= :start
        and ds < :end
)

select ds, step_index, step, dimension, dimension_value, users
from funnel
order by ds, dimension, dimension_value, step_index
