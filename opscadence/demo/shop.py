"""The demo's people: registered users and anonymous visitors, their daily rhythm, and the
``raw_users`` rows of the users who sign up.

A :class:`Population` is drawn once per shop; every day is then drawn from it. The default
demo and the large (chunked) shops draw their populations in different orders and with
different traffic levels, each kept as it always was so a seed gives the same shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from opscadence.core.errors import UserError
from opscadence.demo import incidents
from opscadence.demo.catalogue import CHANNELS, PLATFORM_P, PLATFORMS, REGION_P, REGIONS, USER_CHANNEL_P
from opscadence.demo.draws import ids, largest_remainder, timestamps, unique_hex_ids
from opscadence.demo.incidents import PlantedDays
from opscadence.warehouse import RAW_TABLES

MIN_DAYS = 10


@dataclass(frozen=True)
class DemoShop:
    start: date  # first ds generated
    end: date  # last ds generated (the "latest complete day")
    promo_day: date
    payment_incident_day: date  # == end
    dau_drop_day: date
    low_ctr_channel: str
    row_counts: dict[str, int]  # per raw table key ("users", "events", ...)

    def planted(self) -> list[str]:
        """One line per planted story, as ``opscadence demo`` prints them."""
        return [
            f"payment success below 95% on {self.payment_incident_day}",
            f"DAU more than 15% below the same weekday last week on {self.dau_drop_day}",
            f"promotion day {self.promo_day}; channel with CTR under 1%: {self.low_ctr_channel}",
        ]


@dataclass
class Population:
    """Everyone who may visit during the window, and how many visitors each day is aimed at.

    Users 0..N-1 register (on day ``u_day``); visitors N..N+A-1 stay anonymous.
    """

    N: int
    A: int
    dates: np.ndarray  # the window's days (datetime.date objects)
    wf: np.ndarray  # weekday factor: weekends 1.2
    target: np.ndarray  # daily active visitors aimed at
    traffic: np.ndarray  # each day's traffic relative to a typical day (ad impressions scale with it)
    planted: PlantedDays
    u_day: np.ndarray
    first_user_of_day: np.ndarray
    user_ids: np.ndarray
    u_channel: np.ndarray
    u_platform: np.ndarray
    u_region: np.ndarray
    u_lambda: np.ndarray  # daily return propensity
    u_buy: np.ndarray  # checkout propensity multiplier
    a_platform: np.ndarray
    a_logw: np.ndarray  # anonymous visitors' log-weights of coming on a day
    visitor_ids: np.ndarray
    v_platform: np.ndarray

    @property
    def start(self) -> date:
        return self.dates[0]


class DemoSizeError(UserError, ValueError):
    """A demo shop too small to hold its planted incidents."""


def check_size(users: int, days: int) -> None:
    if days < MIN_DAYS:
        raise DemoSizeError(f"days must be at least {MIN_DAYS} (got {days})")
    if users < 100:
        raise DemoSizeError(f"users must be at least 100 (got {users})")


def window(end_date: date, days: int) -> np.ndarray:
    start = end_date - timedelta(days=days - 1)
    return np.array([start + timedelta(days=i) for i in range(days)], dtype=object)


def daily_targets(rng: np.random.Generator, dates: np.ndarray, planted: PlantedDays, base: float,
                  growth: float) -> tuple[np.ndarray, np.ndarray]:
    """Weekday factors and exact DAU targets: weekends +20%, ±2% noise, compound ``growth`` a
    day, the promo's +5% and the drop day's × 0.72."""
    D = len(dates)
    wf = np.where(np.array([d.weekday() >= 5 for d in dates]), 1.2, 1.0)
    noise = rng.uniform(-0.02, 0.02, D)
    promo, drop = planted.promo, planted.drop
    if promo is not None and promo >= 7:  # the promo's DAU uplift vs last week stays at ~+5%, not +5% plus noise
        noise[promo] = noise[promo - 7]
    factor = wf * (1.0 + noise) * growth ** np.arange(D)
    if promo is not None:
        factor[promo] *= incidents.PROMO_DAU_UPLIFT
    if drop is not None:
        factor[drop] *= incidents.DAU_DROP_FACTOR
    return wf, np.round(base * factor).astype(np.int64)


def _signups(N: int, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each user's signup day (signups proportional to traffic) and the first user of each day."""
    signups = largest_remainder(N, target.astype(float))
    return np.repeat(np.arange(len(target)), signups), np.concatenate([[0], np.cumsum(signups)])


def _user_ids(rng: np.random.Generator, N: int) -> np.ndarray:
    return ids("u", 1_000_000 + np.cumsum(rng.integers(1, 40, N)), 8)


def _return_propensity(rng: np.random.Generator, N: int) -> np.ndarray:
    sigma = 0.9
    return 0.2 * np.exp(sigma * rng.standard_normal(N) - sigma**2 / 2)


def _buy_propensity(rng: np.random.Generator, N: int) -> np.ndarray:
    return np.exp(0.6 * rng.standard_normal(N) - 0.18)


def _platforms(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(len(PLATFORMS), size=n, p=PLATFORM_P)


def _anonymous(N: int) -> int:
    return int(max(2000, 2.5 * N))


def demo_population(rng: np.random.Generator, users: int, dates: np.ndarray, planted: PlantedDays) -> Population:
    """The default demo's population: ``max(15%, 2/days)`` of the users a day, +0.12% a day."""
    D, N = len(dates), int(users)
    base = max(0.15 * N, 2.0 * N / D)
    wf, target = daily_targets(rng, dates, planted, base, growth=1.0012)
    u_day, first_user_of_day = _signups(N, target)
    user_ids = _user_ids(rng, N)
    u_channel = rng.choice(len(CHANNELS), size=N, p=USER_CHANNEL_P)
    u_platform = _platforms(rng, N)
    u_region = rng.choice(len(REGIONS), size=N, p=REGION_P)
    u_lambda, u_buy = _return_propensity(rng, N), _buy_propensity(rng, N)
    A = _anonymous(N)
    a_platform = _platforms(rng, A)
    a_logw = 1.2 * rng.standard_normal(A)
    return Population(
        N=N, A=A, dates=dates, wf=wf, target=target, traffic=target / base, planted=planted,
        u_day=u_day, first_user_of_day=first_user_of_day, user_ids=user_ids, u_channel=u_channel,
        u_platform=u_platform, u_region=u_region, u_lambda=u_lambda, u_buy=u_buy,
        a_platform=a_platform, a_logw=a_logw, visitor_ids=unique_hex_ids(rng, "v", N + A),
        v_platform=np.concatenate([u_platform, a_platform]),
    )


def large_population(seed: int, users: int, days: int, end_date: date, dau_fraction: float) -> Population:
    """A large shop's population (its own random stream): ``dau_fraction`` of the users a day,
    growing ~55% over the window."""
    rng = np.random.default_rng([seed, 0])
    D, N = int(days), int(users)
    dates = window(end_date, D)
    planted = incidents.shop_days(D)
    wf, target = daily_targets(rng, dates, planted, dau_fraction * N, growth=1.0 + 0.44 / max(D, 1))
    u_day, first_user_of_day = _signups(N, target)
    user_ids = _user_ids(rng, N)
    A = _anonymous(N)
    u_platform = _platforms(rng, N)
    a_platform = _platforms(rng, A)
    u_channel = rng.choice(len(CHANNELS), size=N, p=USER_CHANNEL_P)
    u_region = rng.choice(len(REGIONS), size=N, p=REGION_P)
    u_lambda, u_buy = _return_propensity(rng, N), _buy_propensity(rng, N)
    return Population(
        N=N, A=A, dates=dates, wf=wf, target=target, traffic=target / max(float(target.mean()), 1.0),
        planted=planted, u_day=u_day, first_user_of_day=first_user_of_day, user_ids=user_ids,
        u_channel=u_channel, u_platform=u_platform, u_region=u_region, u_lambda=u_lambda, u_buy=u_buy,
        a_platform=a_platform, a_logw=1.2 * rng.standard_normal(A), visitor_ids=unique_hex_ids(rng, "v", N + A),
        v_platform=np.concatenate([u_platform, a_platform]),
    )


def columns(key: str) -> list[str]:
    """The columns of a raw table (by key of RAW_TABLES), in the table's order."""
    return [c.name for c in RAW_TABLES[key].columns]


def users_frame(rng: np.random.Generator, pop: Population, s_visitor: np.ndarray, s_day: np.ndarray,
                signup_sessions: np.ndarray, signup_starts: np.ndarray, landing_seconds: np.ndarray) -> pd.DataFrame:
    """``raw_users`` rows of the users whose signup session is listed: each registers during the
    landing page of that session (``signup_starts`` + a share of ``landing_seconds``)."""
    user = s_visitor[signup_sessions]
    day = s_day[signup_sessions]
    seconds = signup_starts + rng.uniform(0.3, 0.9, len(signup_sessions)) * landing_seconds
    return pd.DataFrame({
        "ds": pop.dates[day],
        "user_id": pop.user_ids[user],
        "signup_at": timestamps(pop.start, day, seconds),
        "channel": CHANNELS[pop.u_channel[user]],
        "platform": PLATFORMS[pop.u_platform[user]],
        "region": REGIONS[pop.u_region[user]],
    })[columns("users")]
