-- grain: one row per week × metric × dimension × dimension_value, for the weeks starting in [start, end)
with kpis as (
    select ds, week, metric, dimension, dimension_value, value, numerator, denominator
    from mart_weekly_kpis
    where ds >= :start
        and ds < :end
)

select ds, week, metric, dimension, dimension_value, value, numerator, denominator
from kpis
order by ds, metric, dimension, dimension_value
