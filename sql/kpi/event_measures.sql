-- grain: one row per dimension × dimension_value for the day ds
-- Event-based measures: active visitors (DAU), sessions and bounces, funnel-step users,
-- engagement time and sharers. Dimensions: all, platform, channel (session utm_source),
-- campaign (session utm_campaign), region (the registered user's region; 'unknown' otherwise).
with users as (
    select user_id, max(region) as region
    from raw_users
    group by user_id
),

events as (
    select
        raw_events.visitor_id,
        raw_events.session_id,
        raw_events.event_name,
        coalesce(raw_events.platform, 'unknown') as platform,
        coalesce(raw_events.utm_source, 'direct') as channel,
        coalesce(raw_events.utm_campaign, 'none') as campaign,
        coalesce(users.region, 'unknown') as region,
        coalesce(raw_events.engagement_seconds, 0) as engagement_seconds
    from raw_events
    left join users
        on raw_events.user_id = users.user_id
    where raw_events.ds = :ds
),

events_by_dimension as (
    select 'all' as dimension, 'all' as dimension_value, visitor_id, session_id, event_name, engagement_seconds
    from events
    union all
    select 'platform', platform, visitor_id, session_id, event_name, engagement_seconds
    from events
    union all
    select 'channel', channel, visitor_id, session_id, event_name, engagement_seconds
    from events
    union all
    select 'campaign', campaign, visitor_id, session_id, event_name, engagement_seconds
    from events
    union all
    select 'region', region, visitor_id, session_id, event_name, engagement_seconds
    from events
),

session_sizes as (
    select dimension, dimension_value, session_id, count(*) as event_count
    from events_by_dimension
    group by dimension, dimension_value, session_id
),

session_measures as (
    select
        dimension,
        dimension_value,
        count(*) as sessions,
        sum(case when event_count = 1 then 1 else 0 end) as bounced_sessions
    from session_sizes
    group by dimension, dimension_value
),

visitor_measures as (
    select
        dimension,
        dimension_value,
        count(distinct visitor_id) as active_visitors,
        count(distinct case when event_name = 'product_view' then visitor_id end) as product_viewers,
        count(distinct case when event_name = 'add_to_cart' then visitor_id end) as cart_adders,
        count(distinct case when event_name = 'checkout' then visitor_id end) as checkout_users,
        count(distinct case when event_name = 'share' then visitor_id end) as sharers,
        sum(engagement_seconds) as engagement_seconds
    from events_by_dimension
    group by dimension, dimension_value
)

select
    visitor_measures.dimension,
    visitor_measures.dimension_value,
    visitor_measures.active_visitors,
    visitor_measures.product_viewers,
    visitor_measures.cart_adders,
    visitor_measures.checkout_users,
    visitor_measures.sharers,
    visitor_measures.engagement_seconds,
    session_measures.sessions,
    session_measures.bounced_sessions
from visitor_measures
inner join session_measures
    on visitor_measures.dimension = session_measures.dimension
    and visitor_measures.dimension_value = session_measures.dimension_value
