-- grain: one row per week × step × dimension × dimension_value, for the weeks starting in [start, end)
with funnel as (
    select ds, week, step_index, step, dimension, dimension_value, users
    from mart_weekly_funnel
    where ds >= :start
        and ds < :end
)

select ds, week, step_index, step, dimension, dimension_value, users
from funnel
order by ds, dimension, dimension_value, step_index
