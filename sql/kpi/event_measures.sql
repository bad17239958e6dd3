-- grain: one row per ds × dimension × dimension_value, for the days in [start, end)
-- Event-based measures: active visitors (DAU), sessions and bounces, funnel-step users,
-- engagement time and sharers. Dimensions: all, platform, channel (session utm_source),
-- campaign (session utm_campaign), region (the registered user's region; 'unknown' otherwise).
-- Events are first reduced to one row per session × visitor × dimension values (with the
-- session's event count and which funnel events it holds): the dimension fan-out and the
-- distinct counts then run over ~4x fewer rows than the raw events.
with users as (
    select user_id, max(region) as region
    from raw_users
    group by user_id
),

session_facts as (
    select
        raw_events.ds,
        raw_events.session_id,
        raw_events.visitor_id,
        coalesce(raw_events.platform, 'unknown') as platform,
        coalesce(raw_events.utm_source, 'direct') as channel,
        coalesce(raw_events.utm_campaign, 'none') as campaign,
        coalesce(users.region, 'unknown') as region,
        count(*) as event_count,
        max(case when raw_events.event_name = 'product_view' then 1 else 0 end) as viewed_product,
        max(case when raw_events.event_name = 'add_to_cart' then 1 else 0 end) as added_to_cart,
        max(case when raw_events.event_name = 'checkout' then 1 else 0 end) as checked_out,
        max(case when raw_events.event_name = 'share' then 1 else 0 end) as shared,
        sum(coalesce(raw_events.engagement_seconds, 0)) as engagement_seconds
    from raw_events
    left join users
        on raw_events.user_id = users.user_id
    where raw_events.ds >= :start
        and raw_events.ds < :end
    group by 1, 2, 3, 4, 5, 6, 7
),

facts_by_dimension as (
    select ds, 'all' as dimension, 'all' as dimension_value, session_id, visitor_id, event_count, viewed_product, added_to_cart, checked_out, shared, engagement_seconds
    from session_facts
    union all
    select ds, 'platform', platform, session_id, visitor_id, event_count, viewed_product, added_to_cart, checked_out, shared, engagement_seconds
    from session_facts
    union all
    select ds, 'channel', channel, session_id, visitor_id, event_count, viewed_product, added_to_cart, checked_out, shared, engagement_seconds
    from session_facts
    union all
    select ds, 'campaign', campaign, session_id, visitor_id, event_count, viewed_product, added_to_cart, checked_out, shared, engagement_seconds
    from session_facts
    union all
    select ds, 'region', region, session_id, visitor_id, event_count, viewed_product, added_to_cart, checked_out, shared, engagement_seconds
    from session_facts
),

session_sizes as (
    select ds, dimension, dimension_value, session_id, sum(event_count) as event_count
    from facts_by_dimension
    group by ds, dimension, dimension_value, session_id
),

session_measures as (
    select
        ds,
        dimension,
        dimension_value,
        count(*) as sessions,
        sum(case when event_count = 1 then 1 else 0 end) as bounced_sessions
    from session_sizes
    group by ds, dimension, dimension_value
),

visitor_measures as (
    select
        ds,
        dimension,
        dimension_value,
        count(distinct visitor_id) as active_visitors,
        count(distinct case when viewed_product = 1 then visitor_id end) as product_viewers,
        count(distinct case when added_to_cart = 1 then visitor_id end) as cart_adders,
        count(distinct case when checked_out = 1 then visitor_id end) as checkout_users,
        count(distinct case when shared = 1 then visitor_id end) as sharers,
        sum(engagement_seconds) as engagement_seconds
    from facts_by_dimension
    group by ds, dimension, dimension_value
)

select
    visitor_measures.ds,
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
    on visitor_measures.ds = session_measures.ds
    and visitor_measures.dimension = session_measures.dimension
    and visitor_measures.dimension_value = session_measures.dimension_value
