-- grain: one row per dimension × dimension_value for the day ds
-- Ad impressions, clicks and cost, in total and by channel.
with spend as (
    select channel, impressions, clicks, cost
    from raw_ad_spend
    where ds = :ds
),

spend_by_dimension as (
    select 'all' as dimension, 'all' as dimension_value, impressions, clicks, cost from spend
    union all
    select 'channel', channel, impressions, clicks, cost from spend
)

select
    dimension,
    dimension_value,
    sum(impressions) as ad_impressions,
    sum(clicks) as ad_clicks,
    sum(cost) as ad_cost
from spend_by_dimension
group by dimension, dimension_value
