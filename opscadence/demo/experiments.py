"""The demo shop's A/B tests: ``raw_experiments`` rows, one per day × experiment × variant.

Two experiments run up to the demo's last day, each with a planted story for the weekly A/B
section (:mod:`opscadence.analytics.weekly.abtest`) to find:

* ``recall_sms_copy`` (21 days): the recall SMS with copy A (control) or B, split 50/50. B's
  click rate is really higher (10.6% vs 8.6%, +2.0 pp); ~520 recipients a day per variant give
  ~10,900 each, enough for the verdict "ship B" (z ≈ 5). Clicks carry no revenue (null).
* ``checkout_button`` (14 days): a checkout button colour with no real effect (30% conversion
  on both, the same order values), but a broken assignment: 45% of users land in A and 55% in
  B instead of 50/50, a sample ratio mismatch (chi-square p far below 0.001) that makes any
  verdict invalid.

The rows are drawn from their own random stream (``[seed, 2]``), so the other demo tables
are the same with or without them, and the same in the one-go and the chunked load. Sizes
do not scale with the shop: the planted verdicts hold at every demo size. A day's ``users``
are the users first assigned that day; ``conversions`` those of them who converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from opscadence.warehouse import raw_experiments

EXPERIMENTS_STREAM = 2  # the demo's random streams: [seed] the shop, [seed, 1, day] a large shop's day


@dataclass(frozen=True)
class PlantedExperiment:
    name: str
    variants: tuple[str, ...]  # the first is the control
    days: int  # running days, ending on the demo's last day
    daily_users: float  # users assigned per day, all variants together (Poisson mean)
    split: tuple[float, ...]  # the share of users each variant really receives
    rates: tuple[float, ...]  # each variant's true conversion rate
    order_value: tuple[float, float] | None  # lognormal (mu, sigma) of a conversion's revenue; None: no revenue


RECALL_SMS = PlantedExperiment("recall_sms_copy", ("A", "B"), days=21, daily_users=1040.0,
                               split=(0.5, 0.5), rates=(0.086, 0.106), order_value=None)
CHECKOUT_BUTTON = PlantedExperiment("checkout_button", ("A", "B"), days=14, daily_users=1200.0,
                                    split=(0.45, 0.55), rates=(0.30, 0.30), order_value=(5.0, 0.6))
EXPERIMENTS: tuple[PlantedExperiment, ...] = (RECALL_SMS, CHECKOUT_BUTTON)


def experiments_frame(seed: int, start: date, end: date) -> pd.DataFrame:
    """``raw_experiments`` rows of the planted experiments for the demo window [start, end]
    (an experiment longer than the window starts on its first day)."""
    rng = np.random.default_rng([seed, EXPERIMENTS_STREAM])
    rows: list[dict] = []
    for exp in EXPERIMENTS:
        first = max(start, end - timedelta(days=exp.days - 1))
        for offset in range((end - first).days + 1):
            ds = first + timedelta(days=offset)
            assigned = rng.multinomial(rng.poisson(exp.daily_users), exp.split)
            for variant, users, rate in zip(exp.variants, assigned.tolist(), exp.rates):
                conversions = int(rng.binomial(users, rate))
                revenue_sum = revenue_sum_squares = None
                if exp.order_value is not None:
                    values = np.round(rng.lognormal(*exp.order_value, size=conversions), 2)
                    revenue_sum, revenue_sum_squares = float(values.sum()), float((values ** 2).sum())
                rows.append({"ds": ds, "experiment": exp.name, "variant": variant, "users": int(users),
                             "conversions": conversions, "revenue_sum": revenue_sum,
                             "revenue_sum_squares": revenue_sum_squares})
    return pd.DataFrame(rows, columns=[c.name for c in raw_experiments.columns])
