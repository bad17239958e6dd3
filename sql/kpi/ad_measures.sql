-- grain: one row per ds × dimension × dimension_value, for the days in [start, end)
-- Ad impressions, clicks and cost, in total and by the ads dimensions (channel).
with spend as (
    select ds, channel, impressions, clicks, cost
    from raw_ad_spend
    where ds >= :start
        and ds < :end
),

spend_by_dimension as (
    {{ fan_out('ads', 'spend') }}
)

select
    ds,
    dimension,
    dimension_value,
    sum(impressions) as ad_impressions,
    sum(clicks) as ad_clicks,
    sum(cost) as ad_cost
from spend_by_dimension
group by ds, dimension, dimension_value
