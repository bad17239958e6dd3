-- grain: one row per visitor × platform × channel × campaign × region active in [start, end)
-- The week's visitors reduced to what the weekly distinct counts need: each visitor's dimension
-- values (as kpi/session_facts names them, 'unknown'/'direct'/'none' when missing) and whether
-- the visitor reached each funnel event there during the window. The weekly marts count
-- distinct visitors per dimension value from these rows (a visitor active on five days counts
-- once), never by adding up days.
with users as (
    -- include: staging/stg_user_region
    select user_id, region
    from stg_user_region
),

visitor_facts as (
    select
        raw_events.visitor_id,
        coalesce(raw_events.platform, 'unknown') as platform,
        coalesce(raw_events.utm_source, 'direct') as channel,
        coalesce(raw_events.utm_campaign, 'none') as campaign,
        coalesce(users.region, 'unknown') as region,
        max(case when raw_events.event_name = 'product_view' then 1 else 0 end) as viewed_product,
        max(case when raw_events.event_name = 'add_to_cart' then 1 else 0 end) as added_to_cart,
        max(case when raw_events.event_name = 'checkout' then 1 else 0 end) as checked_out,
        max(case when raw_events.event_name = 'share' then 1 else 0 end) as shared,
        max(case when raw_events.event_name in ('like', 'comment', 'follow', 'post', 'share') then 1 else 0 end)
            as interacted,
        max(case when raw_events.event_name = 'post' then 1 else 0 end) as posted
    from raw_events
    left join users
        on raw_events.user_id = users.user_id
    where raw_events.ds >= :start
        and raw_events.ds < :end
    group by 1, 2, 3, 4, 5  -- by position: the coalesced values, not the raw columns
)

select
    visitor_id,
    platform,
    channel,
    campaign,
    region,
    viewed_product,
    added_to_cart,
    checked_out,
    shared,
    interacted,
    posted
from visitor_facts
