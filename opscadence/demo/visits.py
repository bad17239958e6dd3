"""Who visits on a day, their sessions and where each session comes from (shared by the shop and
the social app)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from opscadence.demo import incidents
from opscadence.demo.catalogue import (
    CAMPAIGNS, CHANNELS, DIRECT, P_DIRECT_SESSION, PROMO_CAMPAIGN, SESSION_PAID_P, UTM_MEDIUM,
)
from opscadence.demo.shop import Population


def active_visitors(rng: np.random.Generator, pop: Population, d: int) -> tuple[np.ndarray, int]:
    """Day ``d``'s visitors (today's new users first, then returning users, then anonymous
    visitors up to the day's target) and how many of them are new."""
    N, A, target = pop.N, pop.A, int(pop.target[d])
    new = np.arange(pop.first_user_of_day[d], pop.first_user_of_day[d + 1])
    eligible = np.arange(0, pop.first_user_of_day[d])
    age = d - pop.u_day[eligible]  # >= 1; returning visits fade with age, then level off
    p = np.minimum(0.9, pop.u_lambda[eligible] * pop.wf[d] * (0.35 + 0.65 * age ** -0.7))
    if d == pop.planted.drop:
        p = incidents.dau_drop_return(p, pop.u_platform[eligible])
    ret = eligible[rng.random(len(eligible)) < p]
    cap = max(0, target - len(new) - int(np.ceil(0.1 * target)))
    if len(ret) > cap:
        ret = np.sort(rng.choice(ret, size=cap, replace=False))
    n_anon = min(max(0, target - len(new) - len(ret)), A - 1)
    logw = pop.a_logw + (incidents.dau_drop_anonymous(pop.a_platform) if d == pop.planted.drop else 0.0)
    keys = logw + rng.gumbel(size=A)
    anon = np.sort(np.argpartition(-keys, n_anon)[:n_anon]) + N
    return np.concatenate([new, ret, anon]), len(new)


@dataclass
class Sessions:
    """One entry per session of the window's days (arrays of equal length)."""

    visitor: np.ndarray  # index into the population (< N: a registered user)
    day: np.ndarray  # day index in the window
    signup: np.ndarray  # the user's first session, in which they register
    registered: np.ndarray
    platform: np.ndarray
    promo: np.ndarray  # on the promotion day
    channel: np.ndarray  # index into CHANNELS
    campaign: np.ndarray
    source: np.ndarray  # utm_source (None: direct)
    medium: np.ndarray

    @property
    def count(self) -> int:
        return len(self.visitor)


def draw_sessions(rng: np.random.Generator, pop: Population, days: Iterable[int]) -> Sessions:
    """The visitors of ``days`` (one draw per day, in order), 1–3 sessions each, and each
    session's traffic source: the signup session comes from the user's acquisition channel."""
    days = list(days)
    act_vis, act_day, act_signup = [], [], []
    for d in days:
        vis, n_new = active_visitors(rng, pop, d)
        act_vis.append(vis)
        act_day.append(np.full(len(vis), d))
        act_signup.append(np.concatenate([np.ones(n_new, bool), np.zeros(len(vis) - n_new, bool)]))
    visitors, day, signup = np.concatenate(act_vis), np.concatenate(act_day), np.concatenate(act_signup)
    per = 1 + np.minimum(rng.poisson(0.3, len(visitors)), 2)
    s_vis, s_day = np.repeat(visitors, per), np.repeat(day, per)
    s_signup = np.zeros(len(s_vis), dtype=bool)
    s_signup[np.concatenate([[0], np.cumsum(per)[:-1]])[signup]] = True
    S = len(s_vis)
    s_promo = s_day == pop.planted.promo if pop.planted.promo is not None else np.zeros(S, dtype=bool)
    paid = rng.choice(5, size=S, p=SESSION_PAID_P)
    channel = np.where(rng.random(S) < P_DIRECT_SESSION, DIRECT, paid)
    channel[s_signup] = pop.u_channel[s_vis[s_signup]]
    camp_table = np.array([CAMPAIGNS[str(c)] for c in CHANNELS[:5]] + [(None, None)], dtype=object)
    campaign = camp_table[channel, rng.integers(0, 2, S)]
    if pop.planted.promo in days:
        campaign[s_promo & (channel != DIRECT) & (rng.random(S) < 0.6)] = PROMO_CAMPAIGN
    return Sessions(
        visitor=s_vis, day=s_day, signup=s_signup, registered=s_vis < pop.N, platform=pop.v_platform[s_vis],
        promo=s_promo, channel=channel, campaign=campaign,
        source=np.where(channel == DIRECT, None, CHANNELS[channel]), medium=UTM_MEDIUM[channel],
    )


def not_bounced(rng: np.random.Generator, s: Sessions) -> np.ndarray:
    """Sessions that go past their landing page: ~35% bounce (web most, 20% fewer on the promo
    day); the signup session never bounces."""
    rel = np.array([0.95, 1.0, 1.3, 1.1])[s.platform]
    scale = 0.35 * s.count / max(float(rel[~s.signup].sum()), 1.0)
    bounce_p = np.minimum(0.9, scale * rel * np.where(s.promo, 0.8, 1.0))
    return (rng.random(s.count) >= bounce_p) | s.signup
