-- grain: one row per experiment × variant, for the experiments with a row in [start, end)
-- Each such experiment's totals over all its days before end: the days it ran, its users,
-- conversions and revenue (raw_experiments counts a user on the day of assignment, so days add
-- up). revenue_days < days: some day lacks revenue, and the revenue totals are incomplete.
with experiment_days as (
    select ds, experiment, variant, users, conversions, revenue_sum, revenue_sum_squares
    from raw_experiments
    where ds < :end
),

week_experiments as (
    select distinct experiment
    from experiment_days
    where ds >= :start
)

select
    d.experiment,
    d.variant,
    min(d.ds) as first_ds,
    max(d.ds) as last_ds,
    count(distinct d.ds) as days,
    sum(d.users) as users,
    sum(d.conversions) as conversions,
    sum(d.revenue_sum) as revenue_sum,
    sum(d.revenue_sum_squares) as revenue_sum_squares,
    sum(case when d.revenue_sum is not null and d.revenue_sum_squares is not null then 1 else 0 end) as revenue_days
from experiment_days as d
inner join week_experiments as w on w.experiment = d.experiment
group by d.experiment, d.variant
order by d.experiment, d.variant
