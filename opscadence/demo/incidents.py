"""The stories planted in the demo shops for the pipeline to find, and where they fall.

* the promotion (``promo``): mid-window, away from the incidents and their baselines;
* the DAU drop (``drop`` = ``end`` − 9): traffic × 0.72, returning and anonymous ``android``
  visitors × 0.25;
* the payment incident (``incident`` = ``end``): ``alipay`` on ``ios`` times out
  (``GATEWAY_TIMEOUT``), drawn order by order (the default demo) or vectorised (large shops);
* the social app's share incident (``end``): the share button fails on ``ios`` (share
  probability × 0.05).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from opscadence.demo.catalogue import ALIPAY, ANDROID, IOS, WECHAT_PAY

DAU_DROP_FACTOR = 0.72  # the drop day's traffic target
ANDROID_DROP_FACTOR = 0.25  # how many android visitors still come that day
PROMO_DAU_UPLIFT = 1.05

SHARE_DROP_PLATFORM = IOS
SHARE_DROP_FACTOR = 0.05  # share probability × of an ios session on the share incident day


@dataclass(frozen=True)
class PlantedDays:
    """Day indexes (0 = first day of the window) of the planted stories; None: not planted."""

    promo: int | None
    drop: int | None
    incident: int


def shop_days(days: int) -> PlantedDays:
    """The e-commerce shop's stories over a window of ``days`` days."""
    return PlantedDays(promo=days - 1 - promo_offset(days), drop=days - 1 - 9, incident=days - 1)


def promo_offset(days: int) -> int:
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


def dau_drop_return(p: np.ndarray, platforms: np.ndarray) -> np.ndarray:
    """Returning members' visit probabilities on the drop day."""
    return np.where(platforms == ANDROID, p * ANDROID_DROP_FACTOR, p)


def dau_drop_anonymous(platforms: np.ndarray) -> np.ndarray:
    """Log-weight shift of anonymous visitors on the drop day."""
    return np.where(platforms == ANDROID, np.log(ANDROID_DROP_FACTOR), 0.0)


def share_drop(p: np.ndarray, platforms: np.ndarray) -> np.ndarray:
    """Share probabilities of sessions on the share incident day."""
    return np.where(platforms == SHARE_DROP_PLATFORM, p * SHARE_DROP_FACTOR, p)


def payment_incident_one_by_one(rng: np.random.Generator, attempts, idx: np.ndarray,
                                normal_error: Callable[[int], str]) -> None:
    """The incident day, order by order: a few ordinary failures elsewhere, then alipay on ios
    (then alipay elsewhere) times out until 9.5–11.5% of the attempts failed."""
    hit = (attempts.method[idx] == ALIPAY) & (attempts.platform[idx] == IOS)
    others = idx[~hit]
    M = len(idx)
    F0 = int(round(rng.uniform(0.005, 0.012) * M))
    F, tries = 0, M
    for i in rng.choice(others, size=min(F0, len(others)), replace=False).tolist():
        attempts.err1[i] = normal_error(i)
        attempts.plan[i] = 1
        F += 1
        tries += 1
    alipay_other = idx[(attempts.method[idx] == ALIPAY) & (attempts.platform[idx] != IOS)]
    candidates = np.concatenate([rng.permutation(idx[hit]), rng.permutation(alipay_other)]).tolist()
    goal = rng.uniform(0.095, 0.115)
    for i in candidates:
        if F / tries >= goal:
            break
        attempts.err1[i] = "GATEWAY_TIMEOUT"
        r = rng.random()
        if r < 0.3:  # retried alipay, timed out again, gave up
            attempts.plan[i], attempts.err2[i] = 3, "GATEWAY_TIMEOUT"
            F, tries = F + 2, tries + 1
        elif r < 0.7:  # switched to WeChat Pay
            attempts.plan[i], attempts.retry_method[i] = 1, WECHAT_PAY
            F, tries = F + 1, tries + 1
        else:
            attempts.plan[i] = 2
            F += 1


def payment_incident_vectorised(rng: np.random.Generator, attempts, idx: np.ndarray,
                                normal_err: np.ndarray) -> None:
    """The incident day for large shops: 8–9.5% of the orders time out on their first attempt,
    alipay on ios first."""
    M = len(idx)
    hit = (attempts.method[idx] == ALIPAY) & (attempts.platform[idx] == IOS)
    others = idx[~hit]
    few = rng.choice(others, size=min(int(round(rng.uniform(0.005, 0.012) * M)), len(others)), replace=False)
    attempts.err1[few], attempts.plan[few] = normal_err[few], 1
    alipay_other = idx[(attempts.method[idx] == ALIPAY) & (attempts.platform[idx] != IOS)]
    cand = np.concatenate([rng.permutation(idx[hit]), rng.permutation(alipay_other)])
    cand = cand[: int(round(rng.uniform(0.08, 0.095) * M))]
    attempts.err1[cand] = "GATEWAY_TIMEOUT"
    r = rng.random(len(cand))
    attempts.plan[cand] = np.where(r < 0.3, 3, np.where(r < 0.7, 1, 2))
    attempts.err2[cand[r < 0.3]] = "GATEWAY_TIMEOUT"
    attempts.retry_method[cand[(r >= 0.3) & (r < 0.7)]] = WECHAT_PAY
