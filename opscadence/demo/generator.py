"""A deterministic demo e-commerce shop, written into the warehouse's raw tables.

``generate_demo_frames`` builds one pandas frame per raw table (keys of
:data:`opscadence.warehouse.RAW_TABLES`) for ``days`` days ending on ``end_date``;
``load_demo`` writes them idempotently with :func:`opscadence.warehouse.replace_window`.
The same ``(users, days, seed, end_date)`` always gives identical frames.

The shop has a weekly rhythm (weekends ~20% more traffic, ±2% daily noise, slight
growth) and three planted stories for the KPI/alert/brief pipeline to find:

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

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from opscadence.warehouse import RAW_TABLES, init_schema, replace_window

__all__ = ["DemoShop", "generate_demo_frames", "load_demo", "load_demo_chunked"]

MIN_DAYS = 10

PLATFORMS = np.array(["ios", "android", "web", "miniprogram"], dtype=object)
PLATFORM_P = np.array([0.34, 0.36, 0.16, 0.14])
IOS, ANDROID = 0, 1

# Acquisition channels; index 5 (direct) carries no UTM parameters.
CHANNELS = np.array(["douyin", "baidu", "wechat", "xiaohongshu", "google", "direct"], dtype=object)
DIRECT = 5
USER_CHANNEL_P = np.array([0.26, 0.14, 0.18, 0.16, 0.04, 0.22])
SESSION_PAID_P = np.array([0.32, 0.20, 0.20, 0.20, 0.08])  # over the 5 paid channels
P_DIRECT_SESSION = 0.45
UTM_MEDIUM = np.array(["paid_social", "cpc", "paid_social", "paid_social", "cpc", None], dtype=object)
CAMPAIGNS: dict[str, tuple[str, str]] = {
    "douyin": ("信息流_日常拉新", "达人种草_夏季"),
    "baidu": ("品牌词_brand", "品类词_通用"),
    "wechat": ("朋友圈广告_拉新", "公众号_互推"),
    "xiaohongshu": ("笔记种草_新品", "KOC合作_双11预热"),
    "google": ("shopping_feed_intl", "brand_search_intl"),
}
PROMO_CAMPAIGN = "周年庆大促"
LOW_CTR_CHANNEL = "wechat"
# name: (base CTR, CPC in CNY, impressions per registered-user-of-the-shop per day)
AD_PARAMS: dict[str, tuple[float, float, float]] = {
    "douyin": (0.024, 1.10, 4.0),
    "baidu": (0.033, 2.40, 1.6),
    "wechat": (0.007, 1.80, 3.0),
    "xiaohongshu": (0.019, 1.30, 2.0),
    "google": (0.028, 3.20, 0.5),
}

REGIONS = np.array(
    ["广东", "浙江", "江苏", "上海", "北京", "四川", "山东", "湖北", "福建", "河南",
     "湖南", "安徽", "陕西", "重庆", "天津", "辽宁"], dtype=object)
REGION_P = np.array([0.16, 0.11, 0.10, 0.09, 0.08, 0.07, 0.07, 0.05, 0.05, 0.05,
                     0.04, 0.04, 0.03, 0.03, 0.02, 0.01])
REGION_P = REGION_P / REGION_P.sum()

METHODS = np.array(["alipay", "wechat_pay", "card", "unionpay"], dtype=object)
ALIPAY, WECHAT_PAY = 0, 1
METHOD_P_BY_PLATFORM = np.array([
    [0.52, 0.34, 0.08, 0.06],  # ios
    [0.44, 0.42, 0.04, 0.10],  # android
    [0.45, 0.15, 0.25, 0.15],  # web
    [0.00, 1.00, 0.00, 0.00],  # miniprogram (inside WeChat)
])
WALLET_ERRORS = (np.array(["INSUFFICIENT_FUNDS", "RISK_CONTROL_REJECTED", "GATEWAY_TIMEOUT"], dtype=object),
                 np.array([0.5, 0.25, 0.25]))
CARD_ERRORS = (np.array(["INSUFFICIENT_FUNDS", "CARD_DECLINED", "GATEWAY_TIMEOUT"], dtype=object),
               np.array([0.5, 0.3, 0.2]))

# Hour-of-day traffic weights (shop-local time).
HOUR_W = np.array([2.0, 1.2, 0.7, 0.4, 0.3, 0.4, 0.8, 1.6, 2.6, 3.4, 4.0, 4.4,
                   4.6, 4.2, 4.0, 4.0, 4.1, 4.2, 4.4, 5.2, 6.0, 6.6, 6.0, 4.0])
HOUR_P = HOUR_W / HOUR_W.sum()

# Event types in their order inside a session.
EV_LANDING, EV_PRODUCT, EV_PAGE, EV_CART, EV_SHARE, EV_CHECKOUT, EV_PAYMENT = range(7)
EV_NAMES = np.array(["page_view", "product_view", "page_view", "add_to_cart", "share", "checkout", "payment"],
                    dtype=object)
EV_ENGAGEMENT_MEAN = np.array([22.0, 38.0, 18.0, 6.0, 4.0, 25.0, 3.0])
N_SKUS = 400
BROWSE_PAGES = np.array(["/", "/category/women", "/category/men", "/category/beauty", "/category/home",
                         "/category/digital", "/search", "/cart", "/me/orders", "/coupons"], dtype=object)
BROWSE_P = np.array([0.18, 0.12, 0.08, 0.12, 0.1, 0.1, 0.14, 0.06, 0.05, 0.05])
LANDING_PAGES = np.array(["/", "/category/women", "/category/beauty", "/category/digital", "/search"], dtype=object)
LANDING_P = np.array([0.5, 0.15, 0.15, 0.1, 0.1])
PROMO_PAGE = "/promo/anniversary"

FEEDBACK_SOURCES = np.array(["app_review", "customer_service", "survey", "social"], dtype=object)
FEEDBACK_SOURCE_P = np.array([0.3, 0.35, 0.2, 0.15])
FEEDBACK_POSITIVE = [
    "物流很快，包装完好，好评！", "质量不错，已经回购第三次了", "客服回复很及时，问题解决了", "活动力度大，价格实惠",
    "新品颜值很高，朋友都问链接", "App 界面清爽，下单很方便", "Fast delivery and great packaging.",
    "Love the new collection, quality is great.", "Customer service solved my issue in minutes.",
    "Good value for money, will buy again.",
]
FEEDBACK_NEUTRAL = [
    "尺码偏小，建议拍大一号", "App 偶尔有点卡，希望优化", "优惠券规则有点复杂", "发货比预期慢了一天",
    "Delivery took a bit longer than expected but OK.", "Search results could be more relevant.",
    "Would like more colour options.",
]
FEEDBACK_NEGATIVE = [
    "退款太慢了，一周还没到账", "商品和图片有色差", "客服一直不回复", "快递包装破损，商品有划痕", "优惠券用不了",
    "Item arrived damaged.", "The app keeps crashing when I open the cart.", "Refund is taking forever.",
    "Coupon code did not work at checkout.",
]
FEEDBACK_URGENT = [
    "支付失败", "付款失败了，钱扣了订单没有", "账号被封", "账号被封了，无法登录，请尽快处理", "被重复扣款两次！",
    "payment failed twice", "my account was banned", "I was charged but the order is not showing.",
]
FEEDBACK_PAYMENT_INCIDENT = [
    "支付失败", "付款失败了，钱扣了订单没有", "支付宝付款一直超时", "iPhone 上用支付宝支付一直失败",
    "付款页面转圈然后提示支付失败", "payment failed twice", "Alipay keeps timing out on my iPhone.",
    "Payment failed again, please fix checkout!",
]


@dataclass(frozen=True)
class DemoShop:
    start: date  # first ds generated
    end: date  # last ds generated (the "latest complete day")
    promo_day: date
    payment_incident_day: date  # == end
    dau_drop_day: date
    low_ctr_channel: str
    row_counts: dict[str, int]  # per raw table key ("users", "events", ...)


def _columns(key: str) -> list[str]:
    return [c.name for c in RAW_TABLES[key].columns]


def _promo_offset(days: int) -> int:
    """Days before ``end`` of the promo: mid-window, away from the incidents and their baselines."""
    forbidden = {0, 2, 7, 9, 16}  # end, drop+7, end-7 (baseline of end), drop, drop-7
    preferred = 25 if days >= 40 else (days - 1) // 2
    candidates = sorted(range(1, days), key=lambda o: (abs(o - preferred), o))
    for off in candidates:
        if off not in forbidden and off + 7 <= days - 1:
            return off
    for off in candidates:  # window too short for a -7 baseline: just avoid the incidents
        if off not in forbidden:
            return off
    return preferred  # pragma: no cover - unreachable for days >= MIN_DAYS


def _seconds_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    hours = rng.choice(24, size=n, p=HOUR_P)
    return hours * 3600.0 + rng.random(n) * 3600.0


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    raw = total * weights / weights.sum()
    counts = np.floor(raw).astype(np.int64)
    rest = total - int(counts.sum())
    if rest > 0:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:rest]] += 1
    return counts


def _unique_hex_ids(rng: np.random.Generator, prefix: str, n: int, digits: int = 12) -> np.ndarray:
    """Unique random hex ids; none holds a run of 6+ decimal digits (nothing phone-like)."""
    values = rng.integers(0, 16 ** digits, size=n, dtype=np.int64)
    long_run = re.compile(r"\d{6,}")
    while True:
        ids = [f"{v:0{digits}x}" for v in values.tolist()]
        redo = np.array([bool(long_run.search(i)) for i in ids])
        _, first = np.unique(values, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        redo |= dup
        if not redo.any():
            return np.array([prefix + i for i in ids], dtype=object)
        values[redo] = rng.integers(0, 16 ** digits, size=int(redo.sum()), dtype=np.int64)


def _timestamps(start: date, day_idx: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Naive shop-local datetime64[us] from a day index and seconds into that day."""
    micros = np.clip(np.round(seconds * 1e6).astype(np.int64), 0, 86_400 * 10**6 - 1)
    base = np.datetime64(start, "us")
    return base + (day_idx.astype(np.int64) * 86_400 * 10**6 + micros).astype("timedelta64[us]")


def generate_demo_frames(
    *, users: int = 10_000, days: int = 60, seed: int = 7, end_date: date
) -> tuple[dict[str, pd.DataFrame], DemoShop]:
    """Generate the demo shop's raw tables for ``days`` days ending on ``end_date``."""
    if days < MIN_DAYS:
        raise ValueError(f"days must be at least {MIN_DAYS} (got {days})")
    if users < 100:
        raise ValueError(f"users must be at least 100 (got {users})")
    rng = np.random.default_rng(seed)
    D, N = int(days), int(users)
    end = end_date
    start = end - timedelta(days=D - 1)
    dates = np.array([start + timedelta(days=i) for i in range(D)], dtype=object)
    promo = D - 1 - _promo_offset(D)
    drop = D - 1 - 9
    incident = D - 1
    promo_days = np.zeros(D, dtype=bool)
    promo_days[promo] = True

    # ---- daily rhythm: exact DAU targets -------------------------------------------------
    weekend = np.array([d.weekday() >= 5 for d in dates])
    wf = np.where(weekend, 1.2, 1.0)
    noise = rng.uniform(-0.02, 0.02, D)
    base = max(0.15 * N, 2.0 * N / D)
    if promo >= 7:  # the promo's DAU uplift vs last week stays at ~+5%, not +5% plus noise
        noise[promo] = noise[promo - 7]
    factor = wf * (1.0 + noise) * 1.0012 ** np.arange(D)
    factor[promo] *= 1.05
    factor[drop] *= 0.72
    target = np.round(base * factor).astype(np.int64)

    # ---- registered users (signups every day, proportional to traffic) -------------------
    signups = _largest_remainder(N, target.astype(float))
    u_day = np.repeat(np.arange(D), signups)
    first_user_of_day = np.concatenate([[0], np.cumsum(signups)])
    u_num = 1_000_000 + np.cumsum(rng.integers(1, 40, N))
    user_ids = np.array([f"u{n:08d}" for n in u_num.tolist()], dtype=object)
    u_channel = rng.choice(len(CHANNELS), size=N, p=USER_CHANNEL_P)
    u_platform = rng.choice(len(PLATFORMS), size=N, p=PLATFORM_P)
    u_region = rng.choice(len(REGIONS), size=N, p=REGION_P)
    sigma = 0.9
    u_lambda = 0.2 * np.exp(sigma * rng.standard_normal(N) - sigma**2 / 2)  # daily return propensity
    u_buy = np.exp(0.6 * rng.standard_normal(N) - 0.18)  # checkout propensity multiplier

    # ---- anonymous visitors (never register) --------------------------------------------
    A = int(max(2000, 2.5 * N))
    a_platform = rng.choice(len(PLATFORMS), size=A, p=PLATFORM_P)
    a_logw = 1.2 * rng.standard_normal(A)

    visitor_ids = _unique_hex_ids(rng, "v", N + A)
    v_platform = np.concatenate([u_platform, a_platform])

    # ---- who is active each day ----------------------------------------------------------
    act_vis, act_day, act_signup = [], [], []
    for d in range(D):
        new = np.arange(first_user_of_day[d], first_user_of_day[d + 1])
        eligible = np.arange(0, first_user_of_day[d])
        age = d - u_day[eligible]  # >= 1; returning visits fade with age, then level off
        p = np.minimum(0.9, u_lambda[eligible] * wf[d] * (0.35 + 0.65 * age ** -0.7))
        if d == drop:
            p = np.where(u_platform[eligible] == ANDROID, p * 0.25, p)
        ret = eligible[rng.random(len(eligible)) < p]
        cap = max(0, int(target[d]) - len(new) - int(np.ceil(0.1 * target[d])))
        if len(ret) > cap:
            ret = np.sort(rng.choice(ret, size=cap, replace=False))
        n_anon = max(0, int(target[d]) - len(new) - len(ret))
        logw = a_logw + (np.where(a_platform == ANDROID, np.log(0.25), 0.0) if d == drop else 0.0)
        keys = logw + rng.gumbel(size=A)
        n_anon = min(n_anon, A - 1)
        anon = np.sort(np.argpartition(-keys, n_anon)[:n_anon]) + N
        vis = np.concatenate([new, ret, anon])
        act_vis.append(vis)
        act_day.append(np.full(len(vis), d))
        act_signup.append(np.concatenate([np.ones(len(new), bool), np.zeros(len(vis) - len(new), bool)]))
    act_vis = np.concatenate(act_vis)
    act_day = np.concatenate(act_day)
    act_signup = np.concatenate(act_signup)

    # ---- sessions ------------------------------------------------------------------------
    n_sess_per = 1 + np.minimum(rng.poisson(0.3, len(act_vis)), 2)
    s_vis = np.repeat(act_vis, n_sess_per)
    s_day = np.repeat(act_day, n_sess_per)
    first_of_act = np.concatenate([[0], np.cumsum(n_sess_per)[:-1]])
    s_signup = np.zeros(len(s_vis), dtype=bool)
    s_signup[first_of_act[act_signup]] = True
    S = len(s_vis)
    s_reg = s_vis < N
    s_platform = v_platform[s_vis]
    s_promo = promo_days[s_day]

    # traffic source: the signup session comes from the user's acquisition channel
    paid = rng.choice(5, size=S, p=SESSION_PAID_P)
    s_channel = np.where(rng.random(S) < P_DIRECT_SESSION, DIRECT, paid)
    s_channel[s_signup] = u_channel[s_vis[s_signup]]
    camp_pick = rng.integers(0, 2, S)
    camp_table = np.array([CAMPAIGNS[str(c)] for c in CHANNELS[:5]] + [(None, None)], dtype=object)
    s_campaign = camp_table[s_channel, camp_pick]
    promo_campaign = s_promo & (s_channel != DIRECT) & (rng.random(S) < 0.6)
    s_campaign[promo_campaign] = PROMO_CAMPAIGN
    s_source = np.where(s_channel == DIRECT, None, CHANNELS[s_channel])
    s_medium = UTM_MEDIUM[s_channel]

    # funnel flags
    # (the signup session never bounces; new members get a first-order coupon, so they
    # convert far better than returning members; checkout requires login)
    rel = np.array([0.95, 1.0, 1.3, 1.1])[s_platform]  # web bounces most
    scale = 0.35 * S / max(float(rel[~s_signup].sum()), 1.0)  # ~35% of all sessions bounce
    bounce_p = np.minimum(0.9, scale * rel * np.where(s_promo, 0.8, 1.0))
    nb = (rng.random(S) >= bounce_p) | s_signup
    k_prod = np.where(nb, 1 + rng.poisson(1.2, S), 0)
    k_page = np.where(nb, rng.poisson(0.7, S), 0)
    p_cart = np.where(s_signup, 0.65, 0.3) * np.where(s_promo, 1.4, 1.0)
    cart = nb & (rng.random(S) < p_cart)
    share = nb & (rng.random(S) < 0.03)
    u_idx = np.where(s_reg, s_vis, 0)
    p_co = np.minimum(0.95, np.where(s_signup, 0.7, 0.16) * u_buy[u_idx] * np.where(s_promo, 1.35, 1.0))
    checkout = cart & s_reg & (rng.random(S) < p_co)

    # ---- orders and payment attempts -----------------------------------------------------
    o_sess = np.flatnonzero(checkout)
    n_orders = len(o_sess)
    o_day = s_day[o_sess]
    o_platform = s_platform[o_sess]
    o_method = np.empty(n_orders, dtype=np.int64)
    for pl in range(len(PLATFORMS)):
        m = o_platform == pl
        o_method[m] = rng.choice(len(METHODS), size=int(m.sum()), p=METHOD_P_BY_PLATFORM[pl])
    o_amount = np.round(np.exp(rng.normal(np.log(150.0), 0.5, n_orders)) * np.where(promo_days[o_day], 1.45, 1.0), 2)
    o_amount = np.maximum(o_amount, 9.9)
    no_attempt = rng.random(n_orders) < 0.05
    delay1 = rng.uniform(5, 60, n_orders)
    delay2 = delay1 + rng.uniform(15, 120, n_orders)
    # plan per order: 0 ok | 1 fail→retry ok (same/switched method) | 2 fail→abandon | 3 fail→fail again
    plan = np.zeros(n_orders, dtype=np.int64)
    retry_method = o_method.copy()
    err1 = np.full(n_orders, None, dtype=object)
    err2 = np.full(n_orders, None, dtype=object)

    def _normal_error(i: int) -> str:
        codes, p = WALLET_ERRORS if o_method[i] in (ALIPAY, WECHAT_PAY) else CARD_ERRORS
        return str(rng.choice(codes, p=p))

    for d in range(D):
        idx = np.flatnonzero((o_day == d) & ~no_attempt)
        M = len(idx)
        if M == 0:
            continue
        if d != incident:
            f = rng.uniform(0.008, 0.022)
            F = int(round(f * M))
            if M >= 40:
                F = max(F, 1)
            F = min(F, int(np.floor(0.025 * M)))
            for i in rng.choice(idx, size=F, replace=False).tolist():
                err1[i] = _normal_error(i)
                if rng.random() < 0.7:
                    plan[i] = 1
                    if rng.random() < 0.4:
                        retry_method[i] = WECHAT_PAY if o_method[i] == ALIPAY else ALIPAY
                else:
                    plan[i] = 2
            continue
        # the incident day: alipay on ios times out
        hit = (o_method[idx] == ALIPAY) & (o_platform[idx] == IOS)
        others = idx[~hit]
        F0 = int(round(rng.uniform(0.005, 0.012) * M))
        F, attempts = 0, M
        for i in rng.choice(others, size=min(F0, len(others)), replace=False).tolist():
            err1[i] = _normal_error(i)
            plan[i] = 1
            F += 1
            attempts += 1
        alipay_other = idx[(o_method[idx] == ALIPAY) & (o_platform[idx] != IOS)]
        candidates = np.concatenate([rng.permutation(idx[hit]), rng.permutation(alipay_other)]).tolist()
        goal = rng.uniform(0.095, 0.115)
        for i in candidates:
            if F / attempts >= goal:
                break
            err1[i] = "GATEWAY_TIMEOUT"
            r = rng.random()
            if r < 0.3:  # retried alipay, timed out again, gave up
                plan[i], err2[i] = 3, "GATEWAY_TIMEOUT"
                F, attempts = F + 2, attempts + 1
            elif r < 0.7:  # switched to WeChat Pay
                plan[i], retry_method[i] = 1, WECHAT_PAY
                F, attempts = F + 1, attempts + 1
            else:
                plan[i] = 2
                F += 1

    o_paid = ~no_attempt & ((plan == 0) | (plan == 1))
    u = rng.random(n_orders)
    o_status = np.where(o_paid, np.where(u < 0.03, "refunded", "paid"),
                        np.where(u < 0.6, "cancelled", "created")).astype(object)

    # ---- events --------------------------------------------------------------------------
    E, e_sess, e_type, sess_first, per_sess, engagement, offset = _session_events(
        rng, S, [k_prod, k_page, cart, share, checkout], o_sess[o_paid], nb
    )
    # payment happens at the successful attempt, after checkout
    sess_order = np.full(S, -1, dtype=np.int64)
    sess_order[o_sess] = np.arange(n_orders)
    co_event = np.flatnonzero(e_type == EV_CHECKOUT)
    co_offset = np.zeros(S)
    co_offset[e_sess[co_event]] = offset[co_event]
    pay_event = np.flatnonzero(e_type == EV_PAYMENT)
    pay_o = sess_order[e_sess[pay_event]]
    pay_delay = np.where(plan[pay_o] == 1, delay2[pay_o], delay1[pay_o]) + 0.5
    offset[pay_event] = co_offset[e_sess[pay_event]] + pay_delay

    last = sess_first + per_sess - 1
    bound = np.maximum(offset[last] + np.where(checkout, 200.0, 0.0), 60.0)
    s_start = np.minimum(_seconds_of_day(rng, S), 86_399.0 - bound - 1.0)
    e_seconds = s_start[e_sess] + offset
    e_day = s_day[e_sess]

    # pages
    sku_w = 1.0 / np.arange(1, N_SKUS + 1) ** 0.75
    sku_pages = np.array([f"/product/p{i:05d}" for i in range(1, N_SKUS + 1)], dtype=object)
    sku = rng.choice(N_SKUS, size=E, p=sku_w / sku_w.sum())
    page = sku_pages[sku]
    is_landing = e_type == EV_LANDING
    landing = LANDING_PAGES[rng.choice(len(LANDING_PAGES), size=E, p=LANDING_P)]
    landing = np.where(promo_days[e_day] & (rng.random(E) < 0.5), PROMO_PAGE, landing)
    landing = np.where(rng.random(E) < 0.25, page, landing)  # deep links straight to a product
    page = np.where(is_landing, landing, page)
    is_browse = e_type == EV_PAGE
    page[is_browse] = BROWSE_PAGES[rng.choice(len(BROWSE_PAGES), size=int(is_browse.sum()), p=BROWSE_P)]
    after_products = (e_type == EV_CART) | (e_type == EV_SHARE)
    last_product = sess_first[e_sess] + k_prod[e_sess]  # index of the session's last product_view
    page[after_products] = page[last_product[after_products]]
    page[e_type == EV_CHECKOUT] = "/checkout"
    page[e_type == EV_PAYMENT] = "/checkout/pay"

    s_ids_num = np.arange(S)
    e_vis = s_vis[e_sess]
    events = pd.DataFrame({
        "ds": dates[e_day],
        "event_id": None,
        "event_at": _timestamps(start, e_day, e_seconds),
        "visitor_id": visitor_ids[e_vis],
        "user_id": np.where(e_vis < N, user_ids[np.minimum(e_vis, N - 1)], None),
        "session_id": s_ids_num[e_sess],
        "event_name": EV_NAMES[e_type],
        "page": page,
        "platform": PLATFORMS[s_platform[e_sess]],
        "utm_source": s_source[e_sess],
        "utm_medium": s_medium[e_sess],
        "utm_campaign": s_campaign[e_sess],
        "engagement_seconds": engagement,
    })
    order_ev = np.lexsort((np.arange(E), events["event_at"].to_numpy()))
    events = events.iloc[order_ev].reset_index(drop=True)
    events["event_id"] = np.array([f"e{i:010d}" for i in range(1, E + 1)], dtype=object)
    # session ids numbered in order of first appearance (i.e. by session start)
    sess_num = events["session_id"].to_numpy()
    _, first_pos = np.unique(sess_num, return_index=True)
    rank = np.empty(S, dtype=np.int64)
    rank[np.argsort(first_pos, kind="stable")] = np.arange(S)
    events["session_id"] = np.array([f"s{r:09d}" for r in (rank[sess_num] + 1).tolist()], dtype=object)

    # ---- users ----------------------------------------------------------------------------
    signup_sess = np.flatnonzero(s_signup)
    su_user = s_vis[signup_sess]
    su_seconds = np.zeros(N)
    # registered right after the landing page, before the first product view
    landing_time = offset[sess_first[signup_sess] + 1]  # offset of the first product view
    su_seconds[su_user] = s_start[signup_sess] + rng.uniform(0.3, 0.9, len(signup_sess)) * landing_time
    users_df = pd.DataFrame({
        "ds": dates[u_day],
        "user_id": user_ids,
        "signup_at": _timestamps(start, u_day, su_seconds),
        "channel": CHANNELS[u_channel],
        "platform": PLATFORMS[u_platform],
        "region": REGIONS[u_region],
    })

    # ---- orders & payments frames --------------------------------------------------------
    o_seconds = s_start[o_sess] + co_offset[o_sess]
    o_at = _timestamps(start, o_day, o_seconds)
    o_ids = np.empty(n_orders, dtype=object)
    day_seq = np.zeros(D, dtype=np.int64)
    order_sorted = np.lexsort((np.arange(n_orders), o_seconds, o_day))
    for i in order_sorted.tolist():
        day_seq[o_day[i]] += 1
        o_ids[i] = f"o{dates[o_day[i]]:%Y%m%d}{day_seq[o_day[i]]:05d}"
    o_channel = CHANNELS[s_channel[o_sess]]
    orders_df = pd.DataFrame({
        "ds": dates[o_day],
        "order_id": o_ids,
        "user_id": user_ids[s_vis[o_sess]],
        "order_at": o_at,
        "amount": o_amount,
        "status": o_status,
        "platform": PLATFORMS[o_platform],
        "channel": o_channel,
    }).iloc[order_sorted].reset_index(drop=True)

    has1 = ~no_attempt
    has2 = has1 & ((plan == 1) | (plan == 3))
    i1, i2 = np.flatnonzero(has1), np.flatnonzero(has2)
    p_order = np.concatenate([i1, i2])
    p_sec = np.concatenate([o_seconds[i1] + delay1[i1], o_seconds[i2] + delay2[i2]])
    p_status = np.concatenate([np.where(plan[i1] == 0, "success", "failed"),
                               np.where(plan[i2] == 1, "success", "failed")]).astype(object)
    p_method = np.concatenate([METHODS[o_method[i1]], METHODS[retry_method[i2]]])
    p_error = np.concatenate([err1[i1], err2[i2]])
    p_sort = np.lexsort((np.arange(len(p_order)), p_sec, o_day[p_order]))
    p_ids = np.empty(len(p_order), dtype=object)
    day_seq[:] = 0
    for j in p_sort.tolist():
        d = o_day[p_order[j]]
        day_seq[d] += 1
        p_ids[j] = f"pa{dates[d]:%Y%m%d}{day_seq[d]:06d}"
    payments_df = pd.DataFrame({
        "ds": dates[o_day[p_order]],
        "attempt_id": p_ids,
        "order_id": o_ids[p_order],
        "attempt_at": _timestamps(start, o_day[p_order], p_sec),
        "status": p_status,
        "method": p_method,
        "platform": PLATFORMS[o_platform[p_order]],
        "error_code": p_error,
    }).iloc[p_sort].reset_index(drop=True)

    # ---- ad spend --------------------------------------------------------------------------
    traffic = target / base
    ad_rows: list[dict] = []
    for d in range(D):
        promo_window = promo - 2 <= d <= promo
        for ch, (ctr0, cpc0, per_user) in AD_PARAMS.items():
            camps = list(CAMPAIGNS[ch]) + ([PROMO_CAMPAIGN] if promo_window and ch != "google" else [])
            shares = [0.6, 0.4] + ([0.8] if len(camps) == 3 else [])
            for camp, sh in zip(camps, shares):
                impressions = int(round(N * per_user * sh * traffic[d] * rng.uniform(0.9, 1.1)))
                ctr = ctr0 * rng.uniform(0.9, 1.1)
                clicks = int(round(impressions * ctr))
                cost = round(clicks * cpc0 * rng.uniform(0.9, 1.1), 2)
                ad_rows.append({"ds": dates[d], "channel": ch, "campaign": camp,
                                "impressions": impressions, "clicks": clicks, "cost": cost})
    ad_df = pd.DataFrame(ad_rows, columns=_columns("ad_spend"))

    # ---- feedback --------------------------------------------------------------------------
    base_fb = float(np.clip(N / 280.0, 6.0, 45.0))
    fb_rows: list[dict] = []
    for d in range(D):
        n = int(round(base_fb * wf[d] * rng.uniform(0.8, 1.15)))
        kinds = rng.choice(3, size=n, p=[0.45, 0.2, 0.35]).tolist()
        if rng.random() < 0.4 or d % 3 == 1:
            kinds += [3] * int(rng.integers(1, 3))
        if d == incident:
            kinds += [4] * int(round(base_fb * 0.35 + 3))
        n_users = int(first_user_of_day[d + 1])
        seconds = np.sort(_seconds_of_day(rng, len(kinds)))
        for kind, sec in zip(kinds, seconds.tolist()):
            pool, lo, hi = [
                (FEEDBACK_POSITIVE, 4, 5), (FEEDBACK_NEUTRAL, 3, 3), (FEEDBACK_NEGATIVE, 1, 2),
                (FEEDBACK_URGENT, 1, 1), (FEEDBACK_PAYMENT_INCIDENT, 1, 2),
            ][kind]
            source = str(rng.choice(FEEDBACK_SOURCES, p=FEEDBACK_SOURCE_P))
            if kind == 4:
                source = str(rng.choice(["app_review", "customer_service", "social"]))
            linked = source in ("app_review", "customer_service") and rng.random() < 0.7
            fb_rows.append({
                "ds": dates[d],
                "source": source,
                "created_at": sec,
                "day": d,
                "rating": int(rng.integers(lo, hi + 1)),
                "text": pool[int(rng.integers(len(pool)))],
                "user_id": str(user_ids[rng.integers(n_users)]) if linked else None,
            })
    fb = pd.DataFrame(fb_rows)
    fb_day = fb.pop("day").to_numpy()
    fb["created_at"] = _timestamps(start, fb_day, fb["created_at"].to_numpy())
    seq = fb.groupby(fb_day).cumcount().to_numpy() + 1
    fb["feedback_id"] = [f"f{ds:%Y%m%d}{s:04d}" for ds, s in zip(fb["ds"].tolist(), seq.tolist())]
    feedback_df = fb[_columns("feedback")]

    frames = {
        "users": users_df[_columns("users")],
        "events": events[_columns("events")],
        "orders": orders_df[_columns("orders")],
        "payments": payments_df[_columns("payments")],
        "ad_spend": ad_df,
        "feedback": feedback_df,
    }
    shop = DemoShop(
        start=start,
        end=end,
        promo_day=dates[promo],
        payment_incident_day=end,
        dau_drop_day=dates[drop],
        low_ctr_channel=LOW_CTR_CHANNEL,
        row_counts={k: len(v) for k, v in frames.items()},
    )
    return frames, shop


def load_demo(engine: Engine, *, users: int = 10_000, days: int = 60, seed: int = 7, end_date: date) -> DemoShop:
    """Create the schema and replace the demo window of every raw table in one transaction."""
    init_schema(engine)
    frames, shop = generate_demo_frames(users=users, days=days, seed=seed, end_date=end_date)
    stop = shop.end + timedelta(days=1)
    with engine.begin() as conn:
        for key, table in RAW_TABLES.items():
            replace_window(conn, table, shop.start, stop, frames[key])
    return shop


# --- large shops: generated and loaded day by day ----------------------------------------

def _pick(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """Vectorised categorical draw: ``cum`` is one cumulative-probability row per draw."""
    u = rng.random(len(cum))
    return np.minimum((u[:, None] > cum).sum(axis=1), cum.shape[1] - 1)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.array([f"{prefix}{n:0{width}d}" for n in numbers.tolist()], dtype=object)


@dataclass
class _Population:
    N: int
    A: int
    dates: np.ndarray
    wf: np.ndarray
    target: np.ndarray
    promo: int
    drop: int
    incident: int
    u_day: np.ndarray
    first_user_of_day: np.ndarray
    user_ids: np.ndarray
    u_channel: np.ndarray
    u_platform: np.ndarray
    u_region: np.ndarray
    u_lambda: np.ndarray
    u_buy: np.ndarray
    a_platform: np.ndarray
    a_logw: np.ndarray
    visitor_ids: np.ndarray
    v_platform: np.ndarray
    buy_boost: float


def _population(users: int, days: int, seed: int, end_date: date, dau_fraction: float, buy_boost: float) -> _Population:
    rng = np.random.default_rng([seed, 0])
    D, N = int(days), int(users)
    start = end_date - timedelta(days=D - 1)
    dates = np.array([start + timedelta(days=i) for i in range(D)], dtype=object)
    promo = D - 1 - _promo_offset(D)
    drop = D - 1 - 9
    weekend = np.array([d.weekday() >= 5 for d in dates])
    wf = np.where(weekend, 1.2, 1.0)
    noise = rng.uniform(-0.02, 0.02, D)
    if promo >= 7:
        noise[promo] = noise[promo - 7]
    factor = wf * (1.0 + noise) * (1.0 + 0.44 / max(D, 1)) ** np.arange(D)  # ~+55% over the window
    factor[promo] *= 1.05
    factor[drop] *= 0.72
    target = np.round(dau_fraction * N * factor).astype(np.int64)
    signups = _largest_remainder(N, target.astype(float))
    u_day = np.repeat(np.arange(D), signups)
    first_user_of_day = np.concatenate([[0], np.cumsum(signups)])
    u_num = 1_000_000 + np.cumsum(rng.integers(1, 40, N))
    A = int(max(2000, 2.5 * N))
    u_platform = rng.choice(len(PLATFORMS), size=N, p=PLATFORM_P)
    a_platform = rng.choice(len(PLATFORMS), size=A, p=PLATFORM_P)
    sigma = 0.9
    return _Population(
        N=N, A=A, dates=dates, wf=wf, target=target, promo=promo, drop=drop, incident=D - 1,
        u_day=u_day, first_user_of_day=first_user_of_day,
        user_ids=_ids("u", u_num, 8),
        u_channel=rng.choice(len(CHANNELS), size=N, p=USER_CHANNEL_P),
        u_platform=u_platform,
        u_region=rng.choice(len(REGIONS), size=N, p=REGION_P),
        u_lambda=0.2 * np.exp(sigma * rng.standard_normal(N) - sigma**2 / 2),
        u_buy=np.exp(0.6 * rng.standard_normal(N) - 0.18),
        a_platform=a_platform,
        a_logw=1.2 * rng.standard_normal(A),
        visitor_ids=_unique_hex_ids(rng, "v", N + A),
        v_platform=np.concatenate([u_platform, a_platform]),
        buy_boost=buy_boost,
    )


def _day_frames(pop: _Population, d: int, seed: int) -> dict[str, pd.DataFrame]:
    """One day of the shop, vectorised; depends only on (population, seed, d)."""
    rng = np.random.default_rng([seed, 1, d])
    N, A = pop.N, pop.A
    ds = pop.dates[d]
    target = int(pop.target[d])
    is_promo = d == pop.promo

    # who is active
    new = np.arange(pop.first_user_of_day[d], pop.first_user_of_day[d + 1])
    eligible = np.arange(0, pop.first_user_of_day[d])
    age = d - pop.u_day[eligible]
    p = np.minimum(0.9, pop.u_lambda[eligible] * pop.wf[d] * (0.35 + 0.65 * np.maximum(age, 1) ** -0.7))
    if d == pop.drop:
        p = np.where(pop.u_platform[eligible] == ANDROID, p * 0.25, p)
    ret = eligible[rng.random(len(eligible)) < p]
    cap = max(0, target - len(new) - int(np.ceil(0.1 * target)))
    if len(ret) > cap:
        ret = np.sort(rng.choice(ret, size=cap, replace=False))
    n_anon = min(max(0, target - len(new) - len(ret)), A - 1)
    logw = pop.a_logw + (np.where(pop.a_platform == ANDROID, np.log(0.25), 0.0) if d == pop.drop else 0.0)
    keys = logw + rng.gumbel(size=A)
    anon = np.sort(np.argpartition(-keys, n_anon)[:n_anon]) + N
    act_vis = np.concatenate([new, ret, anon])
    act_signup = np.zeros(len(act_vis), dtype=bool)
    act_signup[: len(new)] = True

    # sessions
    n_sess_per = 1 + np.minimum(rng.poisson(0.3, len(act_vis)), 2)
    s_vis = np.repeat(act_vis, n_sess_per)
    first_of_act = np.concatenate([[0], np.cumsum(n_sess_per)[:-1]])
    s_signup = np.zeros(len(s_vis), dtype=bool)
    s_signup[first_of_act[act_signup]] = True
    S = len(s_vis)
    s_reg = s_vis < N
    s_platform = pop.v_platform[s_vis]
    paid = rng.choice(5, size=S, p=SESSION_PAID_P)
    s_channel = np.where(rng.random(S) < P_DIRECT_SESSION, DIRECT, paid)
    s_channel[s_signup] = pop.u_channel[s_vis[s_signup]]
    camp_table = np.array([CAMPAIGNS[str(c)] for c in CHANNELS[:5]] + [(None, None)], dtype=object)
    s_campaign = camp_table[s_channel, rng.integers(0, 2, S)]
    if is_promo:
        s_campaign[(s_channel != DIRECT) & (rng.random(S) < 0.6)] = PROMO_CAMPAIGN
    s_source = np.where(s_channel == DIRECT, None, CHANNELS[s_channel])
    s_medium = UTM_MEDIUM[s_channel]

    rel = np.array([0.95, 1.0, 1.3, 1.1])[s_platform]
    scale = 0.35 * S / max(float(rel[~s_signup].sum()), 1.0)
    bounce_p = np.minimum(0.9, scale * rel * (0.8 if is_promo else 1.0))
    nb = (rng.random(S) >= bounce_p) | s_signup
    k_prod = np.where(nb, 1 + rng.poisson(1.2, S), 0)
    k_page = np.where(nb, rng.poisson(0.7, S), 0)
    p_cart = np.where(s_signup, 0.65, 0.3) * (1.4 if is_promo else 1.0) * min(pop.buy_boost, 2.0)
    cart = nb & (rng.random(S) < np.minimum(0.9, p_cart))
    share = nb & (rng.random(S) < 0.03)
    u_idx = np.where(s_reg, s_vis, 0)
    p_co = np.minimum(0.95, np.where(s_signup, 0.7, 0.16 * pop.buy_boost) * pop.u_buy[u_idx] * (1.35 if is_promo else 1.0))
    checkout = cart & s_reg & (rng.random(S) < p_co)

    # orders and payment attempts
    o_sess = np.flatnonzero(checkout)
    n_orders = len(o_sess)
    o_platform = s_platform[o_sess]
    o_method = _pick(rng, np.cumsum(METHOD_P_BY_PLATFORM, axis=1)[o_platform])
    o_amount = np.maximum(np.round(np.exp(rng.normal(np.log(150.0), 0.5, n_orders)) * (1.45 if is_promo else 1.0), 2), 9.9)
    no_attempt = rng.random(n_orders) < 0.05
    delay1 = rng.uniform(5, 60, n_orders)
    delay2 = delay1 + rng.uniform(15, 120, n_orders)
    plan = np.zeros(n_orders, dtype=np.int64)
    retry_method = o_method.copy()
    wallet = (o_method == ALIPAY) | (o_method == WECHAT_PAY)
    normal_err = np.where(
        wallet, WALLET_ERRORS[0][_pick(rng, np.tile(np.cumsum(WALLET_ERRORS[1]), (n_orders, 1)))],
        CARD_ERRORS[0][_pick(rng, np.tile(np.cumsum(CARD_ERRORS[1]), (n_orders, 1)))])
    err1 = np.full(n_orders, None, dtype=object)
    err2 = np.full(n_orders, None, dtype=object)
    idx = np.flatnonzero(~no_attempt)
    M = len(idx)
    if M and d != pop.incident:
        F = min(max(int(round(rng.uniform(0.008, 0.022) * M)), 1 if M >= 40 else 0), int(np.floor(0.025 * M)))
        fail = rng.choice(idx, size=F, replace=False)
        err1[fail] = normal_err[fail]
        retry = rng.random(F) < 0.7
        plan[fail] = np.where(retry, 1, 2)
        switch = fail[retry & (rng.random(F) < 0.4)]
        retry_method[switch] = np.where(o_method[switch] == ALIPAY, WECHAT_PAY, ALIPAY)
    elif M:  # the incident day: alipay on ios times out
        hit = (o_method[idx] == ALIPAY) & (o_platform[idx] == IOS)
        others = idx[~hit]
        few = rng.choice(others, size=min(int(round(rng.uniform(0.005, 0.012) * M)), len(others)), replace=False)
        err1[few], plan[few] = normal_err[few], 1
        alipay_other = idx[(o_method[idx] == ALIPAY) & (o_platform[idx] != IOS)]
        cand = np.concatenate([rng.permutation(idx[hit]), rng.permutation(alipay_other)])
        cand = cand[: int(round(rng.uniform(0.08, 0.095) * M))]
        err1[cand] = "GATEWAY_TIMEOUT"
        r = rng.random(len(cand))
        plan[cand] = np.where(r < 0.3, 3, np.where(r < 0.7, 1, 2))
        err2[cand[r < 0.3]] = "GATEWAY_TIMEOUT"
        retry_method[cand[(r >= 0.3) & (r < 0.7)]] = WECHAT_PAY
    o_paid = ~no_attempt & ((plan == 0) | (plan == 1))
    u = rng.random(n_orders)
    o_status = np.where(o_paid, np.where(u < 0.03, "refunded", "paid"), np.where(u < 0.6, "cancelled", "created")).astype(object)

    # events
    E, e_sess, e_type, sess_first, per_sess, engagement, offset = _session_events(
        rng, S, [k_prod, k_page, cart, share, checkout], o_sess[o_paid], nb
    )
    sess_order = np.full(S, -1, dtype=np.int64)
    sess_order[o_sess] = np.arange(n_orders)
    co_event = np.flatnonzero(e_type == EV_CHECKOUT)
    co_offset = np.zeros(S)
    co_offset[e_sess[co_event]] = offset[co_event]
    pay_event = np.flatnonzero(e_type == EV_PAYMENT)
    pay_o = sess_order[e_sess[pay_event]]
    offset[pay_event] = co_offset[e_sess[pay_event]] + np.where(plan[pay_o] == 1, delay2[pay_o], delay1[pay_o]) + 0.5
    last = sess_first + per_sess - 1
    bound = np.maximum(offset[last] + np.where(checkout, 200.0, 0.0), 60.0)
    s_start = np.minimum(_seconds_of_day(rng, S), 86_399.0 - bound - 1.0)
    e_seconds = s_start[e_sess] + offset

    sku_w = 1.0 / np.arange(1, N_SKUS + 1) ** 0.75
    sku_pages = np.array([f"/product/p{i:05d}" for i in range(1, N_SKUS + 1)], dtype=object)
    page = sku_pages[rng.choice(N_SKUS, size=E, p=sku_w / sku_w.sum())]
    landing = LANDING_PAGES[rng.choice(len(LANDING_PAGES), size=E, p=LANDING_P)]
    if is_promo:
        landing = np.where(rng.random(E) < 0.5, PROMO_PAGE, landing)
    landing = np.where(rng.random(E) < 0.25, page, landing)
    page = np.where(e_type == EV_LANDING, landing, page)
    is_browse = e_type == EV_PAGE
    page[is_browse] = BROWSE_PAGES[rng.choice(len(BROWSE_PAGES), size=int(is_browse.sum()), p=BROWSE_P)]
    after_products = (e_type == EV_CART) | (e_type == EV_SHARE)
    last_product = sess_first[e_sess] + k_prod[e_sess]
    page[after_products] = page[last_product[after_products]]
    page[e_type == EV_CHECKOUT] = "/checkout"
    page[e_type == EV_PAYMENT] = "/checkout/pay"

    day0 = np.full(E, 0)
    stamp = f"{ds:%Y%m%d}"
    order_ev = np.lexsort((np.arange(E), e_seconds))
    # sessions numbered by start time
    s_rank = np.empty(S, dtype=np.int64)
    s_rank[np.argsort(s_start, kind="stable")] = np.arange(1, S + 1)
    e_vis = s_vis[e_sess]
    events = pd.DataFrame({
        "ds": np.full(E, ds, dtype=object),
        "event_id": _ids(f"e{stamp}", np.arange(1, E + 1), 7),
        "event_at": _timestamps(ds, day0, e_seconds[order_ev]),
        "visitor_id": pop.visitor_ids[e_vis[order_ev]],
        "user_id": np.where(e_vis < N, pop.user_ids[np.minimum(e_vis, N - 1)], None)[order_ev],
        "session_id": _ids(f"s{stamp}", s_rank[e_sess[order_ev]], 6),
        "event_name": EV_NAMES[e_type[order_ev]],
        "page": page[order_ev],
        "platform": PLATFORMS[s_platform[e_sess[order_ev]]],
        "utm_source": s_source[e_sess[order_ev]],
        "utm_medium": s_medium[e_sess[order_ev]],
        "utm_campaign": s_campaign[e_sess[order_ev]],
        "engagement_seconds": engagement[order_ev],
    })

    # users who signed up today
    signup_sess = np.flatnonzero(s_signup)
    su_seconds = s_start[signup_sess] + rng.uniform(0.3, 0.9, len(signup_sess)) * offset[sess_first[signup_sess] + 1]
    su_user = s_vis[signup_sess]
    users_df = pd.DataFrame({
        "ds": np.full(len(su_user), ds, dtype=object),
        "user_id": pop.user_ids[su_user],
        "signup_at": _timestamps(ds, np.zeros(len(su_user), np.int64), su_seconds),
        "channel": CHANNELS[pop.u_channel[su_user]],
        "platform": PLATFORMS[pop.u_platform[su_user]],
        "region": REGIONS[pop.u_region[su_user]],
    })

    # orders and payments
    o_seconds = s_start[o_sess] + co_offset[o_sess]
    o_sorted = np.lexsort((np.arange(n_orders), o_seconds))
    o_ids = np.empty(n_orders, dtype=object)
    o_ids[o_sorted] = _ids(f"o{stamp}", np.arange(1, n_orders + 1), 5)
    orders_df = pd.DataFrame({
        "ds": np.full(n_orders, ds, dtype=object),
        "order_id": o_ids,
        "user_id": pop.user_ids[s_vis[o_sess]],
        "order_at": _timestamps(ds, np.zeros(n_orders, np.int64), o_seconds),
        "amount": o_amount,
        "status": o_status,
        "platform": PLATFORMS[o_platform],
        "channel": CHANNELS[s_channel[o_sess]],
    }).iloc[o_sorted].reset_index(drop=True)
    has1 = ~no_attempt
    has2 = has1 & ((plan == 1) | (plan == 3))
    i1, i2 = np.flatnonzero(has1), np.flatnonzero(has2)
    p_order = np.concatenate([i1, i2])
    p_sec = np.concatenate([o_seconds[i1] + delay1[i1], o_seconds[i2] + delay2[i2]])
    p_sort = np.lexsort((np.arange(len(p_order)), p_sec))
    p_ids = np.empty(len(p_order), dtype=object)
    p_ids[p_sort] = _ids(f"pa{stamp}", np.arange(1, len(p_order) + 1), 6)
    payments_df = pd.DataFrame({
        "ds": np.full(len(p_order), ds, dtype=object),
        "attempt_id": p_ids,
        "order_id": o_ids[p_order],
        "attempt_at": _timestamps(ds, np.zeros(len(p_order), np.int64), p_sec),
        "status": np.concatenate([np.where(plan[i1] == 0, "success", "failed"),
                                  np.where(plan[i2] == 1, "success", "failed")]).astype(object),
        "method": np.concatenate([METHODS[o_method[i1]], METHODS[retry_method[i2]]]),
        "platform": PLATFORMS[o_platform[p_order]],
        "error_code": np.concatenate([err1[i1], err2[i2]]),
    }).iloc[p_sort].reset_index(drop=True)

    # ad spend (impressions scale with the day's traffic)
    traffic = target / max(float(pop.target.mean()), 1.0)
    ad_rows = []
    promo_window = pop.promo - 2 <= d <= pop.promo
    for ch, (ctr0, cpc0, per_user) in AD_PARAMS.items():
        camps = list(CAMPAIGNS[ch]) + ([PROMO_CAMPAIGN] if promo_window and ch != "google" else [])
        for camp, sh in zip(camps, [0.6, 0.4, 0.8]):
            impressions = int(round(N * per_user * sh * traffic * rng.uniform(0.9, 1.1)))
            clicks = int(round(impressions * ctr0 * rng.uniform(0.9, 1.1)))
            ad_rows.append({"ds": ds, "channel": ch, "campaign": camp, "impressions": impressions,
                            "clicks": clicks, "cost": round(clicks * cpc0 * rng.uniform(0.9, 1.1), 2)})
    ad_df = pd.DataFrame(ad_rows, columns=_columns("ad_spend"))

    # feedback
    base_fb = float(np.clip(N / 280.0, 6.0, 45.0))
    kinds = rng.choice(3, size=int(round(base_fb * pop.wf[d] * rng.uniform(0.8, 1.15))), p=[0.45, 0.2, 0.35]).tolist()
    if rng.random() < 0.4 or d % 3 == 1:
        kinds += [3] * int(rng.integers(1, 3))
    if d == pop.incident:
        kinds += [4] * int(round(base_fb * 0.35 + 3))
    seconds = np.sort(_seconds_of_day(rng, len(kinds)))
    n_users = max(int(pop.first_user_of_day[d + 1]), 1)
    fb_rows = []
    for i, (kind, sec) in enumerate(zip(kinds, seconds.tolist())):
        pool, lo, hi = [(FEEDBACK_POSITIVE, 4, 5), (FEEDBACK_NEUTRAL, 3, 3), (FEEDBACK_NEGATIVE, 1, 2),
                        (FEEDBACK_URGENT, 1, 1), (FEEDBACK_PAYMENT_INCIDENT, 1, 2)][kind]
        source = str(rng.choice(FEEDBACK_SOURCES, p=FEEDBACK_SOURCE_P))
        if kind == 4:
            source = str(rng.choice(["app_review", "customer_service", "social"]))
        linked = source in ("app_review", "customer_service") and rng.random() < 0.7
        fb_rows.append({"ds": ds, "feedback_id": f"f{stamp}{i + 1:04d}", "source": source, "created_at": sec,
                        "rating": int(rng.integers(lo, hi + 1)), "text": pool[int(rng.integers(len(pool)))],
                        "user_id": str(pop.user_ids[rng.integers(n_users)]) if linked else None})
    fb = pd.DataFrame(fb_rows, columns=_columns("feedback"))
    fb["created_at"] = _timestamps(ds, np.zeros(len(fb), np.int64), fb["created_at"].to_numpy(dtype=float))

    return {
        "users": users_df[_columns("users")],
        "events": events[_columns("events")],
        "orders": orders_df[_columns("orders")],
        "payments": payments_df[_columns("payments")],
        "ad_spend": ad_df,
        "feedback": fb,
    }


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
    its days in one transaction, so a rerun converges to the same state.
    """
    if days < MIN_DAYS:
        raise ValueError(f"days must be at least {MIN_DAYS} (got {days})")
    if users < 100:
        raise ValueError(f"users must be at least 100 (got {users})")
    init_schema(engine)
    pop = _population(users, days, seed, end_date, dau_fraction, buy_boost)
    totals = {key: 0 for key in RAW_TABLES}
    for first in range(0, days, chunk_days):
        chunk = range(first, min(days, first + chunk_days))
        per_day = [_day_frames(pop, d, seed) for d in chunk]
        frames = {key: pd.concat([f[key] for f in per_day], ignore_index=True) for key in RAW_TABLES}
        del per_day
        start, stop = pop.dates[chunk[0]], pop.dates[chunk[-1]] + timedelta(days=1)
        with engine.begin() as conn:
            for key, table in RAW_TABLES.items():
                totals[key] += replace_window(conn, table, start, stop, frames[key])
        if progress:
            progress(pop.dates[chunk[-1]], {k: len(v) for k, v in frames.items()})
        del frames
    return DemoShop(
        start=pop.dates[0],
        end=end_date,
        promo_day=pop.dates[pop.promo],
        payment_incident_day=end_date,
        dau_drop_day=pop.dates[pop.drop],
        low_ctr_channel=LOW_CTR_CHANNEL,
        row_counts=totals,
    )


def _session_events(rng, S, middle_counts, paid_sessions, nb):
    """Lay out every session's events: per-type counts → one row per event, with engagement
    seconds and the offset of each event from its session's start (an exclusive cumulative sum
    within the session). Shared by the in-memory and the chunked generators."""
    s_paid = np.zeros(S, dtype=bool)
    s_paid[paid_sessions] = True
    counts = np.stack([np.ones(S, np.int64), *middle_counts, s_paid], axis=1).astype(np.int64)
    per_sess = counts.sum(axis=1)
    E = int(per_sess.sum())
    e_sess = np.repeat(np.arange(S), per_sess)
    e_type = np.repeat(np.tile(np.arange(7), S), counts.ravel())
    sess_first = np.concatenate([[0], np.cumsum(per_sess)[:-1]])
    mean = np.where((e_type == EV_LANDING) & ~nb[e_sess], 9.0, EV_ENGAGEMENT_MEAN[e_type])
    engagement = np.round(rng.exponential(mean), 1)
    step = engagement + rng.uniform(1.0, 4.0, E)
    cum = np.cumsum(step)
    offset = cum - step - (cum - step)[sess_first][e_sess]
    return E, e_sess, e_type, sess_first, per_sess, engagement, offset
