-- Grain: one row per alert episode (alert_states: one per fingerprint) that fired in
-- [:fired_from, :fired_to), naive UTC like fired_at: the intraday watch's alerts are only here.
with episodes as (
    select fingerprint, rule_id, metric, dimension, dimension_value, severity, kind, fired_at
    from alert_states
    where fired_at is not null and fired_at >= :fired_from and fired_at < :fired_to
)

select fingerprint, rule_id, metric, dimension, dimension_value, severity, kind, fired_at
from episodes
order by fired_at, fingerprint
