"""Writing the demo into the warehouse's raw tables, idempotently (each window replaced in one
transaction): the default shop in one go, large shops a chunk of days at a time; the shop's A/B
tests (:mod:`opscadence.demo.experiments`) with either."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from opscadence.demo.experiments import experiments_frame
from opscadence.demo.generator import build_days, generate_demo_frames, large_profile, shop_summary
from opscadence.demo.shop import DemoShop, check_size, large_population
from opscadence.demo.social import DemoSocialApp, generate_social_frames
from opscadence.warehouse import RAW_TABLES, init_schema, raw_experiments, replace_window


def load_demo(engine: Engine, *, users: int = 10_000, days: int = 60, seed: int = 7, end_date: date,
              vertical: str = "ecommerce") -> DemoShop | DemoSocialApp:
    """Create the schema and replace the demo window of every raw table in one transaction:
    the e-commerce shop with its A/B tests (``raw_experiments``), or (``vertical="social"``) the
    social app, whose orders, payments and experiments are empty."""
    init_schema(engine)
    generate = {"ecommerce": generate_demo_frames, "social": generate_social_frames}.get(vertical)
    if generate is None:
        raise ValueError(f"unknown vertical {vertical!r}; expected ecommerce or social")
    frames, shop = generate(users=users, days=days, seed=seed, end_date=end_date)
    stop = shop.end + timedelta(days=1)
    with engine.begin() as conn:
        for key, table in RAW_TABLES.items():
            replace_window(conn, table, shop.start, stop, frames[key])
        experiments = experiments_frame(seed, shop.start, shop.end) if vertical == "ecommerce" else []
        replace_window(conn, raw_experiments, shop.start, stop, experiments)
    return shop


def load_demo_chunked(
    engine: Engine,
    *,
    users: int = 200_000,
    days: int = 365,
    seed: int = 7,
    end_date: date,
    chunk_days: int = 7,
    dau_fraction: float = 0.06,
    buy_boost: float = 5.0,
    progress: Callable[[date, dict[str, int]], None] | None = None,
) -> DemoShop:
    """A large demo shop, generated and loaded ``chunk_days`` days at a time (bounded memory).

    Statistically like :func:`load_demo` (same weekly rhythm, planted promo, DAU drop on
    ``end``−9, payment incident on ``end``, low-CTR ``wechat``), but not row-identical:
    every day is drawn from its own random stream (``seed``, day), so the shop is
    deterministic per seed whatever ``chunk_days`` is. ``dau_fraction`` sets the daily
    active visitors as a share of ``users``; ``buy_boost`` multiplies the returning
    members' checkout propensity (a busier shop than the default demo). Each chunk replaces
    its days in one transaction, so a rerun converges to the same state. The A/B tests are
    the same as :func:`load_demo`'s (their own random stream), written after the last chunk.
    """
    check_size(users, days)
    init_schema(engine)
    pop = large_population(seed, users, days, end_date, dau_fraction)
    profile = large_profile(buy_boost)
    totals = {key: 0 for key in RAW_TABLES}
    for first in range(0, days, chunk_days):
        chunk = range(first, min(days, first + chunk_days))
        per_day = [build_days(np.random.default_rng([seed, 1, d]), pop, [d], profile) for d in chunk]
        frames = {key: pd.concat([f[key] for f in per_day], ignore_index=True) for key in RAW_TABLES}
        del per_day
        start, stop = pop.dates[chunk[0]], pop.dates[chunk[-1]] + timedelta(days=1)
        with engine.begin() as conn:
            for key, table in RAW_TABLES.items():
                totals[key] += replace_window(conn, table, start, stop, frames[key])
        if progress:
            progress(pop.dates[chunk[-1]], {k: len(v) for k, v in frames.items()})
        del frames
    with engine.begin() as conn:
        replace_window(conn, raw_experiments, pop.dates[0], pop.dates[-1] + timedelta(days=1),
                       experiments_frame(seed, pop.dates[0], pop.dates[-1]))
    return shop_summary(pop, totals)
