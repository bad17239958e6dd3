-- grain: one row per alert episode (alert_states: one per fingerprint) that fired in [start, end),
-- the week's bounds in naive UTC like fired_at. The intraday watch's alerts are only here.
with episodes as (
    select fingerprint, rule_id, metric, dimension, dimension_value, severity, kind, fired_at
    from alert_states
    where fired_at is not null and fired_at >= :start and fired_at < :end
)

select fingerprint, rule_id, metric, dimension, dimension_value, severity, kind, fired_at
from episodes
order by fired_at, fingerprint
