-- grain: one row per channel × campaign with ad spend on a day in [start, end)
-- The ad spend the week's attributed revenue is judged against (ROI, ROAS, CPA).
with spend as (
    select channel, campaign, impressions, clicks, cost
    from raw_ad_spend
    where ds >= :start
        and ds < :end
)

select
    channel,
    campaign,
    sum(impressions) as impressions,
    sum(clicks) as clicks,
    sum(cost) as cost
from spend
group by channel, campaign
