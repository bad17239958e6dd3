"""Orders and payment attempts: every checkout is an order; its attempts succeed, fail and are
retried (the same or another method), or are abandoned; ``raw_orders`` and ``raw_payments`` rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opscadence.demo import incidents
from opscadence.demo.catalogue import (
    ALIPAY, CARD_ERRORS, CHANNELS, METHOD_P_BY_PLATFORM, METHODS, PLATFORMS, WALLET_ERRORS, WECHAT_PAY,
)
from opscadence.demo.draws import day_sequence, pick, stamped_ids, timestamps
from opscadence.demo.shop import Population, columns
from opscadence.demo.visits import Sessions

# plan per order: 0 ok | 1 fail→retry ok (same/switched method) | 2 fail→abandon | 3 fail→fail again
OK, RETRY_OK, ABANDON, FAIL_TWICE = range(4)


@dataclass
class Orders:
    """One entry per order (a checkout session), with its payment plan."""

    session: np.ndarray  # index of the checkout session
    day: np.ndarray
    platform: np.ndarray
    method: np.ndarray  # index into METHODS
    amount: np.ndarray
    no_attempt: np.ndarray  # left before paying
    delay1: np.ndarray  # seconds from checkout to the first attempt
    delay2: np.ndarray  # ... to the retry
    plan: np.ndarray
    retry_method: np.ndarray
    err1: np.ndarray
    err2: np.ndarray
    status: np.ndarray | None = None

    @property
    def paid(self) -> np.ndarray:
        return ~self.no_attempt & ((self.plan == OK) | (self.plan == RETRY_OK))


def draw_orders(rng: np.random.Generator, pop: Population, s: Sessions, checkout: np.ndarray,
                days: list[int], *, one_by_one: bool) -> Orders:
    """The orders of the checkout sessions: method by platform, amount (× 1.45 on the promo
    day), attempts and failures (1–2.5% a day, the payment incident on its day), status.
    ``one_by_one``: methods and failures drawn order by order (the default demo), else
    vectorised (large shops)."""
    o_sess = np.flatnonzero(checkout)
    n = len(o_sess)
    platform = s.platform[o_sess]
    method = _methods_one_by_one(rng, platform) if one_by_one else pick(rng, np.cumsum(METHOD_P_BY_PLATFORM, axis=1)[platform])
    amount = np.round(np.exp(rng.normal(np.log(150.0), 0.5, n)) * np.where(s.promo[o_sess], 1.45, 1.0), 2)
    no_attempt = rng.random(n) < 0.05
    delay1 = rng.uniform(5, 60, n)
    orders = Orders(
        session=o_sess, day=s.day[o_sess], platform=platform, method=method, amount=np.maximum(amount, 9.9),
        no_attempt=no_attempt, delay1=delay1, delay2=delay1 + rng.uniform(15, 120, n),
        plan=np.zeros(n, dtype=np.int64), retry_method=method.copy(),
        err1=np.full(n, None, dtype=object), err2=np.full(n, None, dtype=object),
    )
    if one_by_one:
        _failures_one_by_one(rng, orders, days, pop.planted.incident)
    else:
        _failures_vectorised(rng, orders, days, pop.planted.incident)
    u = rng.random(n)
    orders.status = np.where(orders.paid, np.where(u < 0.03, "refunded", "paid"),
                             np.where(u < 0.6, "cancelled", "created")).astype(object)
    return orders


def _methods_one_by_one(rng: np.random.Generator, platform: np.ndarray) -> np.ndarray:
    method = np.empty(len(platform), dtype=np.int64)
    for pl in range(len(PLATFORMS)):
        m = platform == pl
        method[m] = rng.choice(len(METHODS), size=int(m.sum()), p=METHOD_P_BY_PLATFORM[pl])
    return method


def _failures_one_by_one(rng: np.random.Generator, o: Orders, days: list[int], incident: int) -> None:
    def normal_error(i: int) -> str:
        codes, p = WALLET_ERRORS if o.method[i] in (ALIPAY, WECHAT_PAY) else CARD_ERRORS
        return str(rng.choice(codes, p=p))

    for d in days:
        idx = np.flatnonzero((o.day == d) & ~o.no_attempt)
        M = len(idx)
        if M == 0:
            continue
        if d == incident:
            incidents.payment_incident_one_by_one(rng, o, idx, normal_error)
            continue
        F = int(round(rng.uniform(0.008, 0.022) * M))
        if M >= 40:
            F = max(F, 1)
        F = min(F, int(np.floor(0.025 * M)))
        for i in rng.choice(idx, size=F, replace=False).tolist():
            o.err1[i] = normal_error(i)
            if rng.random() < 0.7:
                o.plan[i] = RETRY_OK
                if rng.random() < 0.4:
                    o.retry_method[i] = WECHAT_PAY if o.method[i] == ALIPAY else ALIPAY
            else:
                o.plan[i] = ABANDON


def _failures_vectorised(rng: np.random.Generator, o: Orders, days: list[int], incident: int) -> None:
    n = len(o.method)
    wallet = (o.method == ALIPAY) | (o.method == WECHAT_PAY)
    normal_err = np.where(
        wallet, WALLET_ERRORS[0][pick(rng, np.tile(np.cumsum(WALLET_ERRORS[1]), (n, 1)))],
        CARD_ERRORS[0][pick(rng, np.tile(np.cumsum(CARD_ERRORS[1]), (n, 1)))])
    for d in days:
        idx = np.flatnonzero((o.day == d) & ~o.no_attempt)
        M = len(idx)
        if M == 0:
            continue
        if d == incident:
            incidents.payment_incident_vectorised(rng, o, idx, normal_err)
            continue
        F = min(max(int(round(rng.uniform(0.008, 0.022) * M)), 1 if M >= 40 else 0), int(np.floor(0.025 * M)))
        fail = rng.choice(idx, size=F, replace=False)
        o.err1[fail] = normal_err[fail]
        retry = rng.random(F) < 0.7
        o.plan[fail] = np.where(retry, RETRY_OK, ABANDON)
        switch = fail[retry & (rng.random(F) < 0.4)]
        o.retry_method[switch] = np.where(o.method[switch] == ALIPAY, WECHAT_PAY, ALIPAY)


def orders_frame(pop: Population, s: Sessions, o: Orders, o_seconds: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """``raw_orders`` rows by day and time, ids numbered per day (o{YYYYMMDD}00001…), and the
    order ids in the orders' own order."""
    n = len(o.session)
    order = np.lexsort((np.arange(n), o_seconds, o.day))
    order_ids = np.empty(n, dtype=object)
    order_ids[order] = stamped_ids("o", pop.dates, o.day[order], day_sequence(o.day[order]), 5)
    return pd.DataFrame({
        "ds": pop.dates[o.day],
        "order_id": order_ids,
        "user_id": pop.user_ids[s.visitor[o.session]],
        "order_at": timestamps(pop.start, o.day, o_seconds),
        "amount": o.amount,
        "status": o.status,
        "platform": PLATFORMS[o.platform],
        "channel": CHANNELS[s.channel[o.session]],
    }).iloc[order].reset_index(drop=True)[columns("orders")], order_ids


def payments_frame(pop: Population, o: Orders, o_seconds: np.ndarray, order_ids: np.ndarray) -> pd.DataFrame:
    """``raw_payments`` rows: each order's first attempt and its retry, if any, by day and time,
    ids numbered per day (pa{YYYYMMDD}000001…)."""
    has1 = ~o.no_attempt
    has2 = has1 & ((o.plan == RETRY_OK) | (o.plan == FAIL_TWICE))
    i1, i2 = np.flatnonzero(has1), np.flatnonzero(has2)
    p_order = np.concatenate([i1, i2])
    p_day = o.day[p_order]
    p_sec = np.concatenate([o_seconds[i1] + o.delay1[i1], o_seconds[i2] + o.delay2[i2]])
    p_sort = np.lexsort((np.arange(len(p_order)), p_sec, p_day))
    p_ids = np.empty(len(p_order), dtype=object)
    p_ids[p_sort] = stamped_ids("pa", pop.dates, p_day[p_sort], day_sequence(p_day[p_sort]), 6)
    return pd.DataFrame({
        "ds": pop.dates[p_day],
        "attempt_id": p_ids,
        "order_id": order_ids[p_order],
        "attempt_at": timestamps(pop.start, p_day, p_sec),
        "status": np.concatenate([np.where(o.plan[i1] == OK, "success", "failed"),
                                  np.where(o.plan[i2] == RETRY_OK, "success", "failed")]).astype(object),
        "method": np.concatenate([METHODS[o.method[i1]], METHODS[o.retry_method[i2]]]),
        "platform": PLATFORMS[o.platform[p_order]],
        "error_code": np.concatenate([o.err1[i1], o.err2[i2]]),
    }).iloc[p_sort].reset_index(drop=True)[columns("payments")]


def paid_event_offsets(o: Orders, co_offset: np.ndarray, *, sum_order: str) -> np.ndarray:
    """Offset from its session's start of each paid order's payment event: half a second after
    the successful attempt. ``sum_order``: the floating-point order each generator has always
    added the terms in ("demo": checkout + (delay + 0.5); "large": (checkout + delay) + 0.5),
    kept so that each one's timestamps stay identical."""
    paid = np.flatnonzero(o.paid)
    delay = np.where(o.plan[paid] == RETRY_OK, o.delay2[paid], o.delay1[paid])
    checkout = co_offset[o.session[paid]]
    return checkout + (delay + 0.5) if sum_order == "demo" else checkout + delay + 0.5
