-- grain: one row per feedback record (raw_feedback) with ds in [start, end).
-- The pain-point list reads two ISO weeks at once (last week and this week) and splits them by ds.
with feedback as (
    select ds, feedback_id, source, created_at, rating, text, user_id
    from raw_feedback
    where ds >= :start and ds < :end
)

select ds, feedback_id, source, created_at, rating, text, user_id
from feedback
order by ds, created_at, feedback_id
