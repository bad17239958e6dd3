-- grain: one row per ds × metric × dimension × dimension_value, for the days in [start, end)
with kpis as (
    select ds, metric, dimension, dimension_value, value, numerator, denominator
    from mart_daily_kpis
    where ds >= :start
        and ds < :end
)

select ds, metric, dimension, dimension_value, value, numerator, denominator
from kpis
order by ds, metric, dimension, dimension_value
