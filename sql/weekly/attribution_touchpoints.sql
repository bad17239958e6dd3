-- grain: one row per session × buyer, for the buyers of a paid order with ds in [start, end) and their sessions with ds in [lookback_start, end)
-- The touchpoints of the week's attribution journeys (opscadence/analytics/weekly/attribution.py):
-- each session of a visitor (device) its buyer was logged in on at some time of the window, so
-- the sessions before the login count too; a device shared by two buyers counts for both. A
-- session's UTM tags are those of its first tagged event (the landing page's); null without
-- any: the channel 'direct'. Which sessions fall in each order's lookback window is decided
-- in pandas, against the order's time.
with buyers as (
    -- include: staging/stg_paid_orders
    select distinct user_id
    from stg_paid_orders
    where ds >= :start
        and ds < :end
),

buyer_visitors as (
    select distinct
        raw_events.visitor_id,
        raw_events.user_id
    from raw_events
    inner join buyers
        on raw_events.user_id = buyers.user_id
    where raw_events.ds >= :lookback_start
        and raw_events.ds < :end
),

visitor_events as (
    select
        raw_events.session_id,
        raw_events.visitor_id,
        raw_events.event_at,
        raw_events.utm_source,
        raw_events.utm_medium,
        raw_events.utm_campaign
    from raw_events
    where raw_events.ds >= :lookback_start
        and raw_events.ds < :end
        and raw_events.visitor_id in (select visitor_id from buyer_visitors)
),

sessions as (
    select
        session_id,
        visitor_id,
        min(event_at) as session_at
    from visitor_events
    group by session_id, visitor_id
),

first_tagged as (
    select
        session_id,
        min(event_at) as tagged_at
    from visitor_events
    where utm_source is not null
    group by session_id
),

landing as (
    -- two tagged events at the same first moment: the smallest tags (a rare tie, decided the same way every run)
    select
        visitor_events.session_id,
        min(visitor_events.utm_source) as utm_source,
        min(visitor_events.utm_medium) as utm_medium,
        min(visitor_events.utm_campaign) as utm_campaign
    from visitor_events
    inner join first_tagged
        on visitor_events.session_id = first_tagged.session_id
        and visitor_events.event_at = first_tagged.tagged_at
    where visitor_events.utm_source is not null
    group by visitor_events.session_id
)

select
    buyer_visitors.user_id,
    sessions.session_id,
    sessions.session_at,
    landing.utm_source,
    landing.utm_medium,
    landing.utm_campaign
from sessions
inner join buyer_visitors
    on sessions.visitor_id = buyer_visitors.visitor_id
left join landing
    on sessions.session_id = landing.session_id
