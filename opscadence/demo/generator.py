"""A deterministic demo e-commerce shop: one frame per raw table, drawn day by day.

``generate_demo_frames`` builds one pandas frame per raw table (keys of
:data:`opscadence.warehouse.RAW_TABLES`) for ``days`` days ending on ``end_date``; the same
``(users, days, seed, end_date)`` always gives identical frames. :func:`build_days` draws the
rows of a run of days from a population; the in-memory shop is one run over the whole window
with one random stream, and ``opscadence.demo.load.load_demo_chunked`` runs it once per day,
each day with its own stream (so a large shop is the same whatever its chunk size). The two
draw a few things in their own way (:class:`Profile`), so they are alike but not row-identical.

The shop has a weekly rhythm (weekends ~20% more traffic, ±2% daily noise, slight
growth) and three planted stories for the KPI/alert/brief pipeline to find
(:mod:`opscadence.demo.incidents`):

* ``promo_day``: a sale — DAU +5% only, but add-to-cart, checkout and AOV rise strongly
  (GMV well over +50% vs the same weekday a week earlier).
* ``dau_drop_day`` (``end`` − 9 days): DAU 24–31% below the same weekday a week
  earlier, concentrated on ``android`` visitors.
* ``payment_incident_day`` (== ``end``): payment success rate 85–92% (normal days
  97.5–99.5% at the default size), concentrated in ``alipay`` on ``ios`` failing with
  ``GATEWAY_TIMEOUT``; more payment complaints in the feedback that day.

Ad spend CTR is 1.5–4% on every paid channel except ``low_ctr_channel`` (``wechat``),
which stays at 0.6–0.8% every day.

No personal data: ids are synthetic (``u00001234``, ``v…`` device ids, ``o…`` orders),
there are no names, phones or e-mails, and feedback texts come from a fixed pool of
templates. Sessions without UTM parameters are ``direct``; ``direct`` is also the
``users.channel``/``orders.channel`` value for them. Checkout requires login, so
anonymous visitors (who never register) stop at ``add_to_cart`` at most.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from opscadence.demo import events, feedback, incidents, orders
from opscadence.demo.ads import LOW_CTR_CHANNEL, ad_spend_frame
from opscadence.demo.events import EV_CHECKOUT, EV_PAYMENT
from opscadence.demo.shop import DemoShop, Population, check_size, demo_population, users_frame, window
from opscadence.demo.visits import draw_sessions

__all__ = ["DemoShop", "Profile", "DEMO", "build_days", "generate_demo_frames", "large_profile"]


@dataclass(frozen=True)
class Profile:
    """How a shop's days are drawn: the default demo's way (:data:`DEMO`) or a large shop's
    (:func:`large_profile`)."""

    buy_boost: float = 1.0  # returning members' checkout propensity ×; add-to-cart × min(boost, 2)
    cart_cap: float = 1.0  # the highest add-to-cart probability of a session
    one_by_one: bool = True  # payment methods and failures drawn order by order (else vectorised)
    window_ids: bool = True  # event and session ids numbered over the window (else per day)
    # the order of two floating-point sums (payment event offset, ad clicks), as each
    # generator has always added them: kept so each one's rows stay identical
    sum_order: Literal["demo", "large"] = "demo"


DEMO = Profile()


def large_profile(buy_boost: float) -> Profile:
    return Profile(buy_boost=buy_boost, cart_cap=0.9, one_by_one=False, window_ids=False, sum_order="large")


def build_days(rng: np.random.Generator, pop: Population, days: Iterable[int], profile: Profile) -> dict[str, pd.DataFrame]:
    """Every raw table's rows for the consecutive day indexes ``days``, drawn from ``rng`` in a
    fixed order: visitors and sessions, what each session does, orders and attempts, event
    times and pages, signups, ad spend, feedback."""
    days = list(days)
    s = draw_sessions(rng, pop, days)
    actions = events.draw_shop_actions(rng, pop, s, profile.buy_boost, profile.cart_cap)
    placed = orders.draw_orders(rng, pop, s, actions.checkout, days, one_by_one=profile.one_by_one)
    tl = events.shop_timeline(rng, actions, placed.session[placed.paid])
    # the checkout event's offset per session; the payment event follows the successful attempt
    co_offset = np.zeros(s.count)
    co_event = np.flatnonzero(tl.e_type == EV_CHECKOUT)
    co_offset[tl.e_sess[co_event]] = tl.offset[co_event]
    tl.offset[tl.e_type == EV_PAYMENT] = orders.paid_event_offsets(placed, co_offset, sum_order=profile.sum_order)
    s_start = events.session_starts(rng, tl, np.where(actions.checkout, 200.0, 0.0))
    pages = events.shop_pages(rng, tl, s.promo, actions.k_prod)
    events_df = events.events_frame(pop, s, tl, s_start, events.EV_NAMES, pages, window_ids=profile.window_ids)
    signup = np.flatnonzero(s.signup)
    # registered during the landing page, before the first product view
    users_df = users_frame(rng, pop, s.visitor, s.day, signup, s_start[signup], tl.offset[tl.sess_first[signup] + 1])
    o_seconds = s_start[placed.session] + co_offset[placed.session]
    orders_df, order_ids = orders.orders_frame(pop, s, placed, o_seconds)
    return {
        "users": users_df,
        "events": events_df,
        "orders": orders_df,
        "payments": orders.payments_frame(pop, placed, o_seconds, order_ids),
        "ad_spend": ad_spend_frame(rng, pop, days, sum_order=profile.sum_order),
        "feedback": feedback.feedback_frame(rng, pop, days, feedback.SHOP),
    }


def shop_summary(pop: Population, row_counts: dict[str, int]) -> DemoShop:
    planted = pop.planted
    return DemoShop(
        start=pop.dates[0],
        end=pop.dates[-1],
        promo_day=pop.dates[planted.promo],
        payment_incident_day=pop.dates[planted.incident],
        dau_drop_day=pop.dates[planted.drop],
        low_ctr_channel=LOW_CTR_CHANNEL,
        row_counts=row_counts,
    )


def generate_demo_frames(
    *, users: int = 10_000, days: int = 60, seed: int = 7, end_date: date
) -> tuple[dict[str, pd.DataFrame], DemoShop]:
    """Generate the demo shop's raw tables for ``days`` days ending on ``end_date``."""
    check_size(users, days)
    rng = np.random.default_rng(seed)
    pop = demo_population(rng, users, window(end_date, int(days)), incidents.shop_days(int(days)))
    frames = build_days(rng, pop, range(int(days)), DEMO)
    return frames, shop_summary(pop, {k: len(v) for k, v in frames.items()})
