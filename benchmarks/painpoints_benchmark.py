"""Pain points: how much of the demo's feedback the default keyword rules categorise, and how fast.

Prints, for the shop and the social demo (60 days, 20k users, seeds 7/11/13), the share of pain
feedback (rated <= 3) that lands in "other" and each category's share; then the time to
categorise 100k and 1M texts (the demo's texts repeated, and made distinct). Numbers only, no asserts.

    .venv/bin/python benchmarks/painpoints_benchmark.py
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd

from opscadence.analytics.weekly.painpoints import CATEGORY_OTHER, PainPointConfig, categorise, pain_feedback
from opscadence.demo import feedback, incidents, social
from opscadence.demo.shop import demo_population, window

DAYS, USERS = 60, 20_000


def demo_feedback(pools: feedback.Pools, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pop = demo_population(rng, USERS, window(date(2026, 11, 29), DAYS), incidents.shop_days(DAYS))
    return feedback.feedback_frame(rng, pop, list(range(DAYS)), pools)


def main() -> None:
    settings = PainPointConfig()
    for name, pools in (("shop", feedback.SHOP), ("social", social.SOCIAL)):
        for seed in (7, 11, 13):
            fb = demo_feedback(pools, seed)
            pain = pain_feedback(fb, settings)
            shares = pain["category"].value_counts(normalize=True)
            everything = float((categorise(fb["text"], settings.categories) == CATEGORY_OTHER).mean())
            print(f"{name} seed {seed}: {len(fb)} feedback, {len(pain)} pain (rated <= 3); "
                  f"other {shares.get(CATEGORY_OTHER, 0.0):.1%} of pain, {everything:.1%} of all (praise included)")
            if seed == 7:
                print("    " + ", ".join(f"{c} {s:.1%}" for c, s in shares.items()))
    texts = demo_feedback(feedback.SHOP, 7)["text"]
    for n in (100_000, 1_000_000):
        repeated = pd.Series(np.resize(texts.to_numpy(dtype=object), n))
        # every text distinct (a number appended), as real feedback mostly is: no text matched twice
        distinct = repeated + " #" + pd.Series(range(n)).astype(str)
        for kind, sample in (("demo texts repeated", repeated), ("all distinct", distinct)):
            started = time.perf_counter()
            categorise(sample, settings.categories)
            seconds = time.perf_counter() - started
            print(f"categorise {n:,} texts ({kind}): {seconds:.2f} s ({n / seconds:,.0f} texts/s)")


if __name__ == "__main__":
    main()
