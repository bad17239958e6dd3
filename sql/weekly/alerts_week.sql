-- grain: one row per stored breach (alerts: ds x rule x dimension value) with ds in [start, end).
-- Data-quality alerts name tables, not metrics; the caller links by metric, so they never match.
with breaches as (
    select ds, rule_id, metric, dimension, dimension_value, severity, kind
    from alerts
    where ds >= :start and ds < :end
)

select ds, rule_id, metric, dimension, dimension_value, severity, kind
from breaches
order by ds, rule_id, dimension_value
