-- grain: one row per day ds: events in the recent window today, and in the same window last week
with todays as (
    select event_id
    from raw_events
    where ds = :ds
        and event_at >= :window_start
        and event_at < :cutoff
),

last_weeks as (
    select event_id
    from raw_events
    where ds = :ds_last_week
        and event_at >= :window_start_last_week
        and event_at < :cutoff_last_week
)

select
    (select count(*) from todays) as events_recent,
    (select count(*) from last_weeks) as events_recent_last_week
