-- grain: one row per ds × metric, for the whole shop (dimension 'all'), for the days in [start, end)
-- The anomaly detector's history: values with their denominators (rates), nulls left out.
with kpis as (
    select ds, metric, value, denominator
    from mart_daily_kpis
    where ds >= :start
        and ds < :end
        and dimension = 'all'
        and value is not null
)

select ds, metric, value, denominator
from kpis
order by ds, metric
