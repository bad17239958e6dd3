"""Event timelines: what happens in each session, when, on which page, and the ``raw_events``
rows (shared by the shop and the social app; the shop's actions and pages are here too)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opscadence.demo.catalogue import PLATFORMS
from opscadence.demo.draws import day_sequence, ids, seconds_of_day, stamped_ids, timestamps
from opscadence.demo.shop import Population, columns
from opscadence.demo.visits import Sessions, not_bounced

# The shop's event types in their order inside a session.
EV_LANDING, EV_PRODUCT, EV_PAGE, EV_CART, EV_SHARE, EV_CHECKOUT, EV_PAYMENT = range(7)
EV_NAMES = np.array(["page_view", "product_view", "page_view", "add_to_cart", "share", "checkout", "payment"],
                    dtype=object)
EV_ENGAGEMENT_MEAN = np.array([22.0, 38.0, 18.0, 6.0, 4.0, 25.0, 3.0])
BOUNCE_ENGAGEMENT_MEAN = 9.0  # the landing page of a session that goes no further

N_SKUS = 400
BROWSE_PAGES = np.array(["/", "/category/women", "/category/men", "/category/beauty", "/category/home",
                         "/category/digital", "/search", "/cart", "/me/orders", "/coupons"], dtype=object)
BROWSE_P = np.array([0.18, 0.12, 0.08, 0.12, 0.1, 0.1, 0.14, 0.06, 0.05, 0.05])
LANDING_PAGES = np.array(["/", "/category/women", "/category/beauty", "/category/digital", "/search"], dtype=object)
LANDING_P = np.array([0.5, 0.15, 0.15, 0.1, 0.1])
PROMO_PAGE = "/promo/anniversary"


@dataclass
class ShopActions:
    """How far each shop session goes (checkout requires login)."""

    nb: np.ndarray  # not bounced
    k_prod: np.ndarray  # product views
    k_page: np.ndarray  # other page views
    cart: np.ndarray
    share: np.ndarray
    checkout: np.ndarray


def draw_shop_actions(rng: np.random.Generator, pop: Population, s: Sessions, buy_boost: float,
                      cart_cap: float) -> ShopActions:
    """Bounce, product and page views, add-to-cart, share and checkout per session. New members
    get a first-order coupon, so they convert far better than returning members; the promo day
    lifts add-to-cart (× 1.4) and checkout (× 1.35); ``buy_boost`` makes a busier shop."""
    S = s.count
    nb = not_bounced(rng, s)
    k_prod = np.where(nb, 1 + rng.poisson(1.2, S), 0)
    k_page = np.where(nb, rng.poisson(0.7, S), 0)
    p_cart = np.where(s.signup, 0.65, 0.3) * np.where(s.promo, 1.4, 1.0) * min(buy_boost, 2.0)
    cart = nb & (rng.random(S) < np.minimum(cart_cap, p_cart))
    share = nb & (rng.random(S) < 0.03)
    u_idx = np.where(s.registered, s.visitor, 0)
    p_co = np.minimum(0.95, np.where(s.signup, 0.7, 0.16 * buy_boost) * pop.u_buy[u_idx] * np.where(s.promo, 1.35, 1.0))
    checkout = cart & s.registered & (rng.random(S) < p_co)
    return ShopActions(nb=nb, k_prod=k_prod, k_page=k_page, cart=cart, share=share, checkout=checkout)


@dataclass
class Timeline:
    """One entry per event: its session, type, engagement and offset from the session's start."""

    e_sess: np.ndarray
    e_type: np.ndarray
    sess_first: np.ndarray  # index of each session's first event
    per_sess: np.ndarray  # events per session
    engagement: np.ndarray
    offset: np.ndarray

    @property
    def count(self) -> int:
        return len(self.e_sess)


def session_timeline(rng: np.random.Generator, counts: np.ndarray, engagement_mean: np.ndarray,
                     nb: np.ndarray) -> Timeline:
    """Lay out every session's events from per-type counts (sessions × types, types in their
    order inside a session; type 0 is the landing page): one row per event, with engagement
    seconds and the offset of each event from its session's start (an exclusive cumulative
    sum within the session)."""
    S, types = counts.shape
    per_sess = counts.sum(axis=1)
    E = int(per_sess.sum())
    e_sess = np.repeat(np.arange(S), per_sess)
    e_type = np.repeat(np.tile(np.arange(types), S), counts.ravel())
    sess_first = np.concatenate([[0], np.cumsum(per_sess)[:-1]])
    mean = np.where((e_type == 0) & ~nb[e_sess], BOUNCE_ENGAGEMENT_MEAN, engagement_mean[e_type])
    engagement = np.round(rng.exponential(mean), 1)
    step = engagement + rng.uniform(1.0, 4.0, E)
    cum = np.cumsum(step)
    offset = cum - step - (cum - step)[sess_first][e_sess]
    return Timeline(e_sess=e_sess, e_type=e_type, sess_first=sess_first, per_sess=per_sess,
                    engagement=engagement, offset=offset)


def shop_timeline(rng: np.random.Generator, a: ShopActions, paid_sessions: np.ndarray) -> Timeline:
    s_paid = np.zeros(len(a.nb), dtype=bool)
    s_paid[paid_sessions] = True
    middle = [a.k_prod, a.k_page, a.cart, a.share, a.checkout]
    counts = np.stack([np.ones(len(a.nb), np.int64), *middle, s_paid], axis=1).astype(np.int64)
    return session_timeline(rng, counts, EV_ENGAGEMENT_MEAN, a.nb)


def session_starts(rng: np.random.Generator, tl: Timeline, tail: np.ndarray) -> np.ndarray:
    """Each session's start (seconds into its day), drawn from the hourly rhythm and early
    enough for its events plus ``tail`` seconds to end before midnight."""
    last = tl.sess_first + tl.per_sess - 1
    bound = np.maximum(tl.offset[last] + tail, 60.0)
    return np.minimum(seconds_of_day(rng, len(tl.sess_first)), 86_399.0 - bound - 1.0)


def shop_pages(rng: np.random.Generator, tl: Timeline, promo: np.ndarray, k_prod: np.ndarray) -> np.ndarray:
    """The page of each shop event: products by popularity, landing pages (the promo page on
    the promo day, a product for deep links), browse pages, cart and share on the last product."""
    E, e_type = tl.count, tl.e_type
    sku_w = 1.0 / np.arange(1, N_SKUS + 1) ** 0.75
    sku_pages = np.array([f"/product/p{i:05d}" for i in range(1, N_SKUS + 1)], dtype=object)
    page = sku_pages[rng.choice(N_SKUS, size=E, p=sku_w / sku_w.sum())]
    landing = LANDING_PAGES[rng.choice(len(LANDING_PAGES), size=E, p=LANDING_P)]
    if promo.any():
        landing = np.where(promo[tl.e_sess] & (rng.random(E) < 0.5), PROMO_PAGE, landing)
    landing = np.where(rng.random(E) < 0.25, page, landing)  # deep links straight to a product
    page = np.where(e_type == EV_LANDING, landing, page)
    is_browse = e_type == EV_PAGE
    page[is_browse] = BROWSE_PAGES[rng.choice(len(BROWSE_PAGES), size=int(is_browse.sum()), p=BROWSE_P)]
    after_products = (e_type == EV_CART) | (e_type == EV_SHARE)
    last_product = tl.sess_first[tl.e_sess] + k_prod[tl.e_sess]  # index of the session's last product_view
    page[after_products] = page[last_product[after_products]]
    page[e_type == EV_CHECKOUT] = "/checkout"
    page[e_type == EV_PAYMENT] = "/checkout/pay"
    return page


def _window_numbering(event_at: np.ndarray, e_sess: np.ndarray, n_sessions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events by time, numbered over the window (e0000000001…); sessions numbered in order of
    first appearance (s000000001…)."""
    E = len(e_sess)
    order = np.lexsort((np.arange(E), event_at))
    event_ids = ids("e", np.arange(1, E + 1), 10)
    sess_sorted = e_sess[order]
    _, first_pos = np.unique(sess_sorted, return_index=True)
    rank = np.empty(n_sessions, dtype=np.int64)
    rank[np.argsort(first_pos, kind="stable")] = np.arange(n_sessions)
    return order, event_ids, ids("s", rank[sess_sorted] + 1, 9)


def _daily_numbering(pop: Population, e_day: np.ndarray, e_seconds: np.ndarray, e_sess: np.ndarray,
                     s_day: np.ndarray, s_start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events by day and time, numbered per day (e{YYYYMMDD}0000001…); sessions numbered per
    day by start time (s{YYYYMMDD}000001…)."""
    order = np.lexsort((np.arange(len(e_sess)), e_seconds, e_day))
    days = e_day[order]
    event_ids = stamped_ids("e", pop.dates, days, day_sequence(days), 7)
    s_order = np.lexsort((np.arange(len(s_day)), s_start, s_day))
    s_rank = np.empty(len(s_day), dtype=np.int64)
    s_rank[s_order] = day_sequence(s_day[s_order])
    return order, event_ids, stamped_ids("s", pop.dates, days, s_rank[e_sess[order]], 6)


def events_frame(pop: Population, s: Sessions, tl: Timeline, s_start: np.ndarray, names: np.ndarray,
                 pages: np.ndarray, *, window_ids: bool) -> pd.DataFrame:
    """``raw_events`` rows in time order; ids numbered over the window or per day."""
    e_day = s.day[tl.e_sess]
    e_seconds = s_start[tl.e_sess] + tl.offset
    event_at = timestamps(pop.start, e_day, e_seconds)
    if window_ids:
        order, event_ids, session_ids = _window_numbering(event_at, tl.e_sess, s.count)
    else:
        order, event_ids, session_ids = _daily_numbering(pop, e_day, e_seconds, tl.e_sess, s.day, s_start)
    e_sess = tl.e_sess[order]
    e_vis = s.visitor[e_sess]
    N = pop.N
    return pd.DataFrame({
        "ds": pop.dates[e_day[order]],
        "event_id": event_ids,
        "event_at": event_at[order],
        "visitor_id": pop.visitor_ids[e_vis],
        "user_id": np.where(e_vis < N, pop.user_ids[np.minimum(e_vis, N - 1)], None),
        "session_id": session_ids,
        "event_name": names[tl.e_type[order]],
        "page": pages[order],
        "platform": PLATFORMS[s.platform[e_sess]],
        "utm_source": s.source[e_sess],
        "utm_medium": s.medium[e_sess],
        "utm_campaign": s.campaign[e_sess],
        "engagement_seconds": tl.engagement[order],
    })[columns("events")]
