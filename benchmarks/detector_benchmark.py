"""Labeled synthetic benchmark for the seasonal KPI anomaly detector (opscadence.detection.detector).

Run:  .venv/bin/python benchmarks/detector_benchmark.py --seeds 1,2,3,4,5 [--series N] [--json out.json]
      (per seed, per kind, false pages a month on a clean twin; seeds 0, 6, 7 were used for tuning)
      .venv/bin/python benchmarks/detector_benchmark.py [--seed N] [--no-ablations] [--stl]   (--stl adds a robust-STL candidate on the count series; it
      needs statsmodels, which is not a dependency, and takes ~15 s)

Each series is ~1 year of one daily KPI, generated deterministically from the seed, with the
behaviour real KPIs have and the failure modes ops teams complain about:

* counts / currency (dau, orders, gmv, new_users, aov): weekly seasonality (weekend-high,
  weekend-low or mid-week profiles, 5–35 %), trend (-20 %..+50 %/year), a mild yearly
  wave, log-normal noise (2–6 %) plus Poisson noise;
* rates with denominators: payment success ~97.5–99.2 % on 200–20 000 attempts/day with
  day-to-day over-dispersion, low-volume payment success on 15–40 attempts/day at 93–98 %
  with some over-dispersion (noise only: must NOT be flagged), add-to-cart and paying-rate
  conversions, bounce rate;
* a business calendar shared by all series (Spring Festival week, 618, National Day,
  双11, 双12) plus two shop "member days" per series, with known uplifts — NOT anomalies
  (the realised uplift deviates from the listed one by ~5 %, a forecast error);
* missing days (gaps of 1–4 days — not anomalies).

Injected, labeled anomalies (positives only when the metric's business direction says the
ops team wants the alert — a drop-only metric's rises are negatives):

* spikes (1 day, +20..+80 %) and drops / outages (1–3 days, -15..-60 %; for payment
  success the failure rate ×3..×15); half of them are followed by a second incident
  5–9 days after ("echo": an incident left in the baseline hides the next one);
* outages: a level drop of 5–14 days (-20..-50 %; payment success failure rate ×3..×15;
  bounce rate: a rise) with every day labeled, then a return to the old level — the return
  and the 14 days after it are normal ("recovery": a "rise" page there is false);
* slow declines of 2–5 % a day to -30..-45 %, then a new level (labeled like gradual
  degradations, below);
* level shifts (first 3 days labeled; days 4–14 are ignored — flagging or not is
  acceptable while the new level settles; afterwards the new level is normal);
* gradual degradations over 2–5 weeks (the first 3 days where the deviation from the
  undisturbed series reaches 15 % are labeled; the rest of the degradation and 14 days
  after it are ignored);
* a 双11 that under-delivers by 35–60 % against its uplift (a real drop, although the
  value is above a normal day);
* wrong-direction events (DAU bot spikes, bounce-rate dips, conversion jumps) — negatives;
* on the volume series (dau, orders, gmv, new_users), from a stream of their own so that the
  other scenarios' labels are unchanged: holiday weeks (a slide over 2–4 days down 25–50 %,
  5–9 days at the bottom, a recovery over 2–5 days; the bottom and the slide days 15 %+ down
  are labeled drops, the recovery days and the 14 days after them are normal,
  "holiday_return") and seasonal lows (15–30 % lower over 3–6 weeks, gradual down and back;
  the low is ignored, "season_low" — a known season, not an incident, that no method is told
  about; the return and the 14 days after it are normal, "season_return").

No anomaly is injected in the first 6 weeks (every method needs history), but flags there
count as false positives. Magnitudes are drawn independently of any detector; some are
within the noise of their series (e.g. -15 % on a low-volume paying rate) and no method
can find them.

All series of a seed are judged in one ``detect_long`` call (many series judged together: the
false-discovery control works across them). ``--seeds`` also judges a clean twin of every
seed (``make_dataset(..., clean=True)``: the same series with nothing injected) and reports
its flags as false pages per month for a shop with 50 monitored series.

Every labeled point's signal-to-noise ratio is computed from the generator's own noise model at
that day's volume, without new draws (counts: log-normal, Poisson and the calendar's forecast
error; rates: binomial at the undisturbed rate plus the over-dispersion; payment success: the
extra failures against Poisson and over-dispersed failure counts). Points below ``SNR_MIN``
(3 sigmas) are labeled ``sub_noise`` and not scored (about a tenth of the injected points, most
of them on the paying rate); the report says how many, and how often each method flags them.

Scoring is per point: TP = labeled point flagged in the labeled direction; FP = flag on an
unlabeled (non-ignored) point or in the wrong direction; FN = labeled point not flagged.

Methods: (a) the opscadence detector with the calendar; (b) an Elementary-style z-score
(trailing 14 days mean/std, |z| > 3, no seasonality, no calendar); (c) a Chaos-Genius-style
EWSTD band (exponentially weighted mean/std, span 14, k = 3). Rows marked "ablation" or
"+direction" or "candidate" are diagnostics (what each ingredient is worth, and the
baselines that were considered for the detector), not the required baselines. Design
choices of the detector were made on seed 0; the default --seed 1 and others are held out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opscadence.detection.detector import (  # noqa: E402
    CalendarDay,
    DetectorConfig,
    default_policy,
    detect_long,
)

START = date(2024, 1, 1)
DAYS = 365
WARMUP = 42  # no injected anomaly in the first 6 weeks (every method needs history)
MEANINGFUL = 0.15  # a gradual degradation is worth an alert once it is 15 % off
# An injected effect smaller than this many standard deviations of its day's own noise
# (log-normal, Poisson, binomial and over-dispersion at that day's volume) is labeled
# "sub_noise" and ignored: no method can tell it from noise (-40 % on a 2.5 % paying rate
# at 450 visitors is 11 buyers against 7, inside the binomial spread).
SNR_MIN = 3.0

# Shared business calendar: (day, name, uplift of orders); other metrics scale it.
SHARED_EVENTS: list[tuple[date, str, float]] = (
    [(date(2024, 2, 9) + timedelta(i), "春节 Spring Festival", -0.35) for i in range(9)]
    + [(date(2024, 6, 17), "618 presale", 0.3), (date(2024, 6, 18), "618", 1.0)]
    + [(date(2024, 10, 1) + timedelta(i), "国庆 National Day", -0.15) for i in range(7)]
    + [(date(2024, 11, 10), "双11 presale", 0.3), (date(2024, 11, 11), "双11", 1.5)]
    + [(date(2024, 12, 12), "双12", 0.6)]
)
# Listed uplift of each volume metric as a share of the orders uplift.
UPLIFT_SHARE = {"dau": 0.35, "orders": 1.0, "gmv": 1.25, "new_users": 0.6}

# Series templates (series i uses TEMPLATES[i % len(TEMPLATES)]).
TEMPLATES = [
    "dau", "orders", "gmv", "payment_success_rate", "payment_success_rate_low",
    "add_to_cart_conversion", "bounce_rate", "new_users", "paying_rate", "aov",
]


@dataclass
class Series:
    metric: str  # unique series name, e.g. "dau#0"
    kind: str  # catalog metric the policy comes from
    frame: pd.DataFrame  # ds, value, denominator, label, label_dir, tag
    calendar: list[CalendarDay] = field(default_factory=list)


def _logu(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _weekly(rng: np.random.Generator, amp_lo: float, amp_hi: float) -> np.ndarray:
    """Log weekly profile indexed by weekday (0 = Monday)."""
    a = rng.uniform(amp_lo, amp_hi)
    shape = rng.choice(["weekend_high", "weekend_low", "midweek"])
    if shape == "weekend_high":
        prof = np.array([0, 0, 0, 0, 0.5, 1, 1]) * a
    elif shape == "weekend_low":
        prof = -np.array([0, 0, 0, 0, 0.2, 1, 1]) * a
    else:
        prof = a * np.cos(2 * np.pi * (np.arange(7) - 2) / 7)
    return np.log1p(prof) if shape != "midweek" else prof


def _calendar_uplift(kind: str, member_days: list[tuple[date, float]]) -> dict[date, tuple[str, float]]:
    """Listed uplift per day for this metric kind (rates get their traffic uplift listed)."""
    out: dict[date, tuple[str, float]] = {}
    events = SHARED_EVENTS + [(d, "会员日 member day", u) for d, u in member_days]
    for d, name, u in events:
        if kind == "aov":
            lift = (1 + UPLIFT_SHARE["gmv"] * u) / (1 + u) - 1
        else:
            lift = UPLIFT_SHARE.get(kind, 1.0) * u
        out[d] = (name, lift)
    return out


def make_series(i: int, rng: np.random.Generator, clean: bool = False,
                season_rng: np.random.Generator | None = None) -> Series:
    """Series i of a dataset; ``clean``: the same generator with no injected anomaly (for false pages).

    ``season_rng`` draws the holiday weeks and seasonal lows (its own stream, so that every
    other scenario's draws, and so its labels, are those of the generator without them)."""
    kind_t = TEMPLATES[i % len(TEMPLATES)]
    low_volume = kind_t.endswith("_low")
    kind = kind_t.removesuffix("_low")
    policy = default_policy(kind)
    ds = [START + timedelta(d) for d in range(DAYS)]
    t = np.arange(DAYS)
    wd = np.array([d.weekday() for d in ds])
    is_rate = policy.is_rate

    # --- calendar -----------------------------------------------------------------
    reserved = np.zeros(DAYS, bool)
    reserved[:WARMUP] = True
    cal_day = np.zeros(DAYS, bool)
    for d, _, _ in SHARED_EVENTS:
        cal_day[(d - START).days] = True
    member_days: list[tuple[date, float]] = []
    while len(member_days) < 2:
        d = int(rng.integers(60, DAYS - 10))
        if not cal_day[max(d - 3, 0):d + 4].any():
            cal_day[d] = True
            member_days.append((START + timedelta(d), float(rng.uniform(0.3, 0.8))))
    listed = _calendar_uplift(kind, member_days)
    calendar = [CalendarDay(d, name, u) for d, (name, u) in sorted(listed.items())]
    listed_lift = np.zeros(DAYS)
    orders_lift = np.zeros(DAYS)  # traffic uplift, for denominators
    for d, name, u in SHARED_EVENTS + [(d, "", u) for d, u in member_days]:
        orders_lift[(d - START).days] = u
    for d, (_, u) in listed.items():
        listed_lift[(d - START).days] = u
    for k in np.flatnonzero(cal_day):
        reserved[max(k - 1, 0):k + 2] = True

    # --- gaps ---------------------------------------------------------------------
    missing = np.zeros(DAYS, bool)
    for _ in range(int(rng.integers(0, 4))):
        for _attempt in range(50):
            s, n = int(rng.integers(20, DAYS - 5)), int(rng.integers(1, 5))
            if not reserved[s - 1:s + n + 1].any():
                missing[s:s + n] = True
                reserved[s - 1:s + n + 1] = True
                break

    # --- undisturbed signal (log level for volume; logit for rates) -----------------
    trend = rng.uniform(-0.2, 0.5) * t / 365
    yearly = rng.uniform(0, 0.08) * np.sin(2 * np.pi * t / 365 + rng.uniform(0, 2 * np.pi))
    labels = np.zeros(DAYS, int)
    label_dir = np.array([""] * DAYS, dtype=object)
    tag = np.where(cal_day, "promo", "normal").astype(object)
    effect = np.zeros(DAYS)  # log multiplier on the level (volume) or on the rate's "badness"
    fail_mult = np.ones(DAYS)  # payment success: failure-rate multiplier
    season_eff = np.zeros(DAYS)  # log multiplier of a seasonal low (kept out of the incidents' SNR)

    allowed = {"drop": policy.direction in ("drop", "both"), "rise": policy.direction in ("rise", "both")}
    bad = "rise" if policy.direction == "rise" else "drop"

    # Days of the long scenarios (outages, declines, shifts, degradations, holiday weeks) and
    # the warm-up: a seasonal low may hold point incidents, never another long scenario.
    long_res = np.zeros(DAYS, bool)
    long_res[:WARMUP] = True

    def free(a: int, b: int) -> bool:
        return 0 <= a and b <= DAYS and not reserved[a:b].any()

    def mark(a: int, b: int, direction: str, name: str, label: bool = True):
        for k in range(a, b):
            if label and allowed[direction]:
                labels[k], label_dir[k] = 1, direction
                tag[k] = name
            else:
                tag[k] = "wrong_direction" if not allowed[direction] else name

    def magnitude(direction: str) -> float:
        if kind == "payment_success_rate":
            return float(rng.uniform(3, 15))  # failure-rate multiplier
        if direction == "drop":
            return float(rng.uniform(0.15, 0.6))
        return float(rng.uniform(0.2, 0.8))

    def apply(a: int, b: int, direction: str, m: float):
        if kind == "payment_success_rate":
            fail_mult[a:b] *= m if direction == "drop" else 1 / m
        else:
            effect[a:b] += np.log1p(-m) if direction == "drop" else np.log1p(m)

    if not low_volume and not clean:
        # Outage: a level drop of 5–14 days, then recovery to the old level. Every outage day
        # is labeled; the return and the 14 days after it are normal (the "recovery rise").
        if rng.random() < 0.5:
            for _attempt in range(50):
                s, n = int(rng.integers(WARMUP + 14, DAYS - 30)), int(rng.integers(5, 15))
                if free(s - 3, s + n + 15):
                    apply(s, s + n, bad, magnitude(bad) if kind == "payment_success_rate"
                          else float(rng.uniform(0.2, 0.5)))
                    mark(s, s + n, bad, "outage")
                    tag[s + n:s + n + 14] = "recovery"
                    reserved[s - 3:s + n + 15] = long_res[s - 3:s + n + 15] = True
                    break
        # Slow decline of 2–5 % a day until it is 30–45 % down, then a new level (labeled like
        # a gradual degradation).
        if rng.random() < 0.35 and kind not in ("payment_success_rate", "aov"):
            for _attempt in range(50):
                s = int(rng.integers(WARMUP + 14, DAYS - 60))
                daily, total = float(rng.uniform(0.02, 0.05)), float(rng.uniform(0.30, 0.45))
                n = int(np.ceil(np.log1p(-total) / np.log1p(-daily)))
                if free(s - 3, s + n + 15):
                    ramp = np.maximum(np.log1p(-daily) * (np.arange(DAYS - s) + 1), np.log1p(-total))
                    if bad == "rise":
                        ramp = -ramp
                    effect[s:] += ramp
                    dev = np.abs(np.expm1(np.concatenate([np.zeros(s), ramp])))
                    first = int(np.flatnonzero(dev >= MEANINGFUL)[0])
                    labels[s:s + n + 14] = -1
                    tag[s:s + n + 14] = "ignored"
                    mark(first, first + 3, bad, "slow_decline")
                    reserved[s - 3:s + n + 15] = long_res[s - 3:s + n + 15] = True
                    break
        # Level shift or gradual degradation (at most one each).
        if rng.random() < 0.5 and kind != "payment_success_rate":
            for _attempt in range(50):
                s = int(rng.integers(WARMUP + 14, DAYS - 30))
                if free(s - 3, s + 15):
                    direction = "drop" if rng.random() < 0.5 else "rise"
                    m = float(rng.uniform(0.15, 0.35))
                    effect[s:] += np.log1p(-m) if direction == "drop" else np.log1p(m)
                    mark(s, s + 3, direction, "level_shift")
                    if allowed[direction]:
                        labels[s + 3:s + 14] = -1
                        tag[s + 3:s + 14] = "ignored"
                    reserved[s - 3:s + 15] = long_res[s - 3:s + 15] = True
                    break
        if rng.random() < 0.35 and kind not in ("payment_success_rate", "aov"):
            for _attempt in range(50):
                s, n = int(rng.integers(WARMUP + 14, DAYS - 60)), int(rng.integers(14, 36))
                if free(s - 3, s + n + 15):
                    total = float(rng.uniform(0.25, 0.5))
                    ramp = np.log1p(-total) * np.minimum(np.arange(DAYS - s) + 1, n) / n
                    if bad == "rise":  # a worsening rise-only metric (bounce rate) climbs
                        ramp = -ramp
                    effect[s:] += ramp
                    dev = np.abs(np.expm1(np.concatenate([np.zeros(s), ramp])))
                    hit = np.flatnonzero(dev >= MEANINGFUL)
                    first = int(hit[0])
                    labels[s:s + n + 14] = -1
                    tag[s:s + n + 14] = "ignored"
                    mark(first, first + 3, bad, "gradual")
                    reserved[s - 3:s + n + 15] = long_res[s - 3:s + n + 15] = True
                    break
        # Point incidents, half of them echoed 5–9 days later.
        wrong = [d for d in ("drop", "rise") if not allowed[d]]
        n_inc = int(rng.integers(4, 8))
        for j in range(n_inc + (1 if wrong else 0)):
            if j == n_inc:  # one wrong-direction event for direction-restricted metrics
                direction = wrong[0]
            elif kind == "payment_success_rate":
                direction = "drop"
            else:
                direction = bad if not wrong else ("drop" if allowed["drop"] else "rise")
                if policy.direction == "both":
                    direction = "drop" if rng.random() < 0.6 else "rise"
            for _attempt in range(50):
                s = int(rng.integers(WARMUP, DAYS - 3))
                n = 1 if direction == "rise" else int(rng.integers(1, 4))
                if free(s - 2, s + n + 2):
                    apply(s, s + n, direction, magnitude(direction))
                    mark(s, s + n, direction, "spike" if direction == "rise" else "drop")
                    reserved[s - 2:s + n + 2] = True
                    if j < n_inc and rng.random() < 0.5:
                        e = s + n + int(rng.integers(4, 9))
                        if free(e - 1, e + 2):
                            apply(e, e + 1, direction, magnitude(direction))
                            mark(e, e + 1, direction, "echo")
                            reserved[e - 1:e + 2] = True
                    break
        # 双11 under-delivering (volume metrics judged in both directions).
        if kind in ("orders", "gmv") and rng.random() < 0.5:
            k = (date(2024, 11, 11) - START).days
            effect[k] += np.log1p(-rng.uniform(0.35, 0.6))
            labels[k], label_dir[k], tag[k] = 1, "drop", "promo_underperf"

    # Holiday weeks and seasonal lows on the volume series (a ride-count-like series with
    # holidays: after the low, the return to normal is no "rise"). Drawn from their own
    # stream, placed on days no other scenario uses.
    if season_rng is not None and not clean and kind in ("dau", "orders", "gmv", "new_users"):
        srng = season_rng
        if srng.random() < 0.6:
            # Holiday week: a slide over 2–4 days down 25–50 %, 5–9 days at the bottom, a
            # recovery over 2–5 days. The bottom is the event (labeled drop); a slide day is
            # labeled once it is 15 % down (ignored before); the recovery days back toward
            # normal and the 14 days after them are normal ("holiday_return").
            a, b, c = int(srng.integers(2, 5)), int(srng.integers(5, 10)), int(srng.integers(2, 6))
            depth = float(srng.uniform(0.25, 0.5))
            for _attempt in range(50):
                s = int(srng.integers(WARMUP + 14, DAYS - (a + b + c) - 15))
                n = a + b + c
                if free(s - 3, s + n + 15):
                    frac = np.concatenate([np.arange(1, a + 1) / a, np.ones(b), 1 - np.arange(1, c + 1) / (c + 1)])
                    effect[s:s + n] += np.log1p(-depth) * frac
                    dev = -np.expm1(np.log1p(-depth) * frac)
                    for j in range(a):
                        if dev[j] >= MEANINGFUL:
                            mark(s + j, s + j + 1, "drop", "holiday")
                        else:
                            labels[s + j], tag[s + j] = -1, "ignored"
                    mark(s + a, s + a + b, "drop", "holiday")
                    tag[s + a + b:s + n + 14] = "holiday_return"
                    reserved[s - 3:s + n + 15] = long_res[s - 3:s + n + 15] = True
                    break
        if srng.random() < 0.5:
            # Seasonal low: a gradual slide to a 15–30 % lower level over 1–2 weeks, the low held,
            # a gradual return over 1–2 weeks, 3–6 weeks in all (it may hold point incidents,
            # which keep their labels). The low is a known business
            # season, not an incident, but no method sees a season it was not told about: its
            # days are ignored (flagging them or not is acceptable; counted as "season_low").
            # The return and the 14 days after it are normal ("season_return").
            total = int(srng.integers(21, 43))
            down, up = int(srng.integers(7, min(15, total // 2 + 1))), int(srng.integers(7, min(15, total // 2 + 1)))
            depth = float(srng.uniform(0.15, 0.30))
            for _attempt in range(50):
                s = int(srng.integers(WARMUP + 14, DAYS - total - 15))
                if 0 <= s - 3 and s + total + 15 <= DAYS and not long_res[s - 3:s + total + 15].any():
                    hold = total - down - up
                    frac = np.concatenate([np.arange(1, down + 1) / down, np.ones(hold),
                                           1 - np.arange(1, up + 1) / (up + 1)])
                    season_eff[s:s + total] += np.log1p(-depth) * frac
                    # point incidents inside keep their labels (their effect is relative)
                    plain = (labels == 0) & (tag == "normal")
                    low, back = np.zeros(DAYS, bool), np.zeros(DAYS, bool)
                    low[s:s + down + hold] = True
                    back[s + down + hold:s + total + 14] = True
                    labels[low & plain] = -1
                    tag[low & plain] = "season_low"
                    tag[back & plain] = "season_return"
                    reserved[s - 3:s + total + 15] = long_res[s - 3:s + total + 15] = True
                    break

    # --- realise the series ---------------------------------------------------------
    uplift_err = np.where(cal_day, rng.normal(0, 0.05, DAYS), 0.0)
    denominator = np.full(DAYS, np.nan)
    if not is_rate:
        base = {"dau": (5e3, 2e5), "orders": (500, 2e4), "gmv": (5e4, 5e6), "new_users": (300, 5e3),
                "aov": (80, 400)}[kind]
        weekly = _weekly(rng, 0.02, 0.08) if kind == "aov" else _weekly(rng, 0.05, 0.35)
        sigma = rng.uniform(0.02, 0.06)
        log_level = (np.log(_logu(rng, *base)) + trend * (0.3 if kind == "aov" else 1) + yearly + weekly[wd]
                     + np.log1p(listed_lift) + uplift_err + effect + season_eff)
        lam = np.exp(log_level + rng.normal(0, sigma, DAYS))
        value = rng.poisson(lam).astype(float) if kind in ("dau", "orders", "new_users") else lam
        poisson = 1.0 / np.exp(log_level - effect - season_eff) if kind in ("dau", "orders", "new_users") else 0.0
        snr = np.abs(np.expm1(effect)) / np.sqrt(sigma**2 + np.where(cal_day, 0.05**2, 0.0) + poisson)
    else:
        if kind == "payment_success_rate":
            p0, tau, weekly_r = rng.uniform(0.975, 0.992), rng.uniform(0.05, 0.25), np.zeros(7)
        elif kind == "add_to_cart_conversion":
            p0, tau, weekly_r = rng.uniform(0.06, 0.15), rng.uniform(0.02, 0.08), _weekly(rng, 0.0, 0.1)
        elif kind == "paying_rate":
            p0, tau, weekly_r = rng.uniform(0.02, 0.06), rng.uniform(0.02, 0.06), _weekly(rng, 0.0, 0.1)
        else:  # bounce_rate
            p0, tau, weekly_r = rng.uniform(0.3, 0.6), rng.uniform(0.02, 0.06), _weekly(rng, 0.0, 0.08)
        if low_volume:  # 15–40 attempts a day at 93–98 %: every dip is noise
            p0, tau = rng.uniform(0.93, 0.98), rng.uniform(0.0, 0.3)
            trials = rng.integers(15, 41, DAYS).astype(float)
            tag[tag == "normal"] = "low_volume"
        else:
            n0 = {"payment_success_rate": (200, 20000), "add_to_cart_conversion": (2000, 50000),
                  "paying_rate": (300, 3000), "bounce_rate": (1000, 30000)}[kind]
            vol = np.exp(np.log(_logu(rng, *n0)) + trend + _weekly(rng, 0.05, 0.3)[wd]
                         + np.log1p(orders_lift) + rng.normal(0, 0.1, DAYS))
            trials = rng.poisson(vol).astype(float) + 1
        noise = rng.normal(0, tau, DAYS)
        if kind == "payment_success_rate":
            fail = (1 - p0) * np.exp(noise) * fail_mult
            p = np.clip(1 - fail, 0.0, 1.0)
            lam_fail = (1 - p0) * trials  # expected failures without the incident
            snr = np.abs(fail_mult - 1) * lam_fail / np.sqrt(lam_fail + (lam_fail * tau) ** 2)
        else:
            promo = np.where(cal_day & (orders_lift > 0) & (kind != "bounce_rate"), 0.15, 0.0)  # conversion up
            p = np.clip(np.exp(np.log(p0) + weekly_r[wd] + 0.3 * yearly + noise + effect + promo), 0.0, 0.95)
            p_normal = np.clip(np.exp(np.log(p0) + weekly_r[wd] + 0.3 * yearly + promo), 1e-6, 0.95)
            snr = np.abs(np.expm1(effect)) / np.sqrt((1 - p_normal) / (trials * p_normal) + tau**2)
        value = rng.binomial(trials.astype(int), p) / trials
        denominator = trials

    sub_noise = (labels == 1) & (snr < SNR_MIN)
    labels = np.where(sub_noise, -1, labels)
    tag = np.where(sub_noise, "sub_noise", tag)
    frame = pd.DataFrame({
        "ds": ds, "value": value, "denominator": denominator,
        "label": labels, "label_dir": label_dir, "tag": tag,
    })[~missing].reset_index(drop=True)
    return Series(f"{kind_t}#{i}", kind, frame, calendar)


def make_dataset(seed: int, n_series: int, clean: bool = False) -> list[Series]:
    rng = np.random.default_rng(seed)
    seeds = [int(rng.integers(2**63)) for _ in range(n_series)]
    return [make_series(i, np.random.default_rng(s), clean, np.random.default_rng([s, 1])) for i, s in enumerate(seeds)]


def long_frame(data: list[Series]) -> pd.DataFrame:
    return pd.concat([s.frame.assign(metric=s.metric, kind=s.kind) for s in data], ignore_index=True)


# ------------------------------------------------------------------------- baselines


def _rolling_baseline(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Flags per row of one series: Elementary z-score or Chaos-Genius EWSTD (no seasonality)."""
    s = frame.set_index(pd.to_datetime(frame["ds"]))["value"]
    s = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="D"))
    if kind == "zscore":
        mean = s.rolling(14, min_periods=7).mean().shift(1)
        std = s.rolling(14, min_periods=7).std().shift(1)
    else:
        ew = s.ewm(span=14, min_periods=7, ignore_na=True)
        mean, std = ew.mean().shift(1), ew.std().shift(1)
    z = (s - mean) / std
    flag = (z.abs() > 3) & (std > 0)
    direction = np.where(flag, np.where(z < 0, "drop", "rise"), "")
    out = pd.DataFrame({"flag": flag.to_numpy(), "direction": direction}, index=s.index)
    return out.loc[pd.to_datetime(frame["ds"])].reset_index(drop=True)


def run_baseline(data: list[Series], kind: str, directional: bool = False) -> pd.DataFrame:
    parts = []
    for s in data:
        res = _rolling_baseline(s.frame, kind)
        if directional:
            pol = default_policy(s.kind)
            keep = (pol.direction == "both") | (res["direction"] == pol.direction)
            res.loc[~keep, ["flag", "direction"]] = [False, ""]
        parts.append(res)
    return pd.concat(parts, ignore_index=True)


def run_detector(data: list[Series], *, calendar: bool = True, rates: bool = True,
                 config: DetectorConfig = DetectorConfig(), policy_fn=default_policy) -> pd.DataFrame:
    frame = long_frame(data)[["ds", "metric", "value", "denominator"]]
    policies = {s.metric: (policy_fn(s.kind) if rates else replace(policy_fn(s.kind), is_rate=False))
                for s in data}
    cal = {s.metric: s.calendar for s in data} if calendar else ()
    out = detect_long(frame, policies=policies, calendar=cal, config=config)
    # detect_long sorts by metric, ds: restore the dataset's order.
    order = {s.metric: i for i, s in enumerate(data)}
    out = out.assign(_o=out["metric"].map(order)).sort_values(["_o", "ds"], kind="stable").reset_index(drop=True)
    return pd.DataFrame({"flag": out["is_anomaly"].to_numpy(), "direction": out["direction"].to_numpy()})


def run_stl(data: list[Series], window: int = 84, k: float = 3.0) -> pd.DataFrame | None:
    """Candidate baseline: robust STL (period 7) refitted on the trailing window every day.

    Same rules as the detector around it (calendar uplift and exclusion, out-of-band points
    left out of training, a 5-of-7 run accepted as a level shift, direction, materiality);
    only the expected value differs (trend[-1] + seasonal one week back, on log values, gaps
    interpolated); the spread is, as in the detector, 1.4826 × MAD of the past one-step
    errors (STL's in-sample residuals are far too small out of sample). Count /
    currency series only; None when statsmodels is not installed (it is not a dependency).
    """
    try:
        from statsmodels.tsa.seasonal import STL
    except ImportError:
        return None
    parts = []
    for s in data:
        pol = default_policy(s.kind)
        f = s.frame
        days = (pd.to_datetime(f["ds"]) - pd.Timestamp(START)).dt.days.to_numpy()
        y = np.full(DAYS, np.nan)
        y[days] = np.log(np.maximum(f["value"].to_numpy(), 1e-9))
        uplift = np.zeros(DAYS)
        is_cal = np.zeros(DAYS, bool)
        for c in s.calendar:
            uplift[(c.ds - START).days] = c.expected_uplift
            is_cal[(c.ds - START).days] = True
        train = np.where(is_cal, np.nan, y)
        oob = np.zeros(DAYS, int)
        errors = np.full(DAYS, np.nan)
        flag = np.zeros(DAYS, bool)
        direction = np.array([""] * DAYS, dtype=object)
        for t in range(DAYS):
            w = train[max(0, t - window):t]
            if np.isnan(y[t]) or np.count_nonzero(~np.isnan(w)) < 28:
                continue
            idx = np.arange(len(w))
            good = ~np.isnan(w)
            filled = np.interp(idx, idx[good], w[good])
            fit = STL(filled, period=7, robust=True).fit()
            expected = fit.trend[-1] + fit.seasonal[-7] + np.log1p(uplift[t])
            past = errors[max(0, t - window):t]
            past = past[~np.isnan(past)]
            if len(past) < 14:
                if not is_cal[t]:
                    errors[t] = y[t] - expected
                continue
            sigma = max(1.4826 * np.median(np.abs(past)), 1e-3)
            z = (y[t] - expected) / sigma
            rel = np.expm1(y[t] - expected)
            if abs(z) > k:
                if not is_cal[t]:
                    oob[t] = np.sign(z)
                train[t] = np.nan
                if abs(rel) >= pol.min_relative_change:
                    d = "drop" if z < 0 else "rise"
                    if pol.direction in (d, "both"):
                        flag[t], direction[t] = True, d
            elif not is_cal[t]:
                errors[t] = y[t] - expected
            run = oob[max(0, t - 6):t + 1]
            for sign in (1, -1):
                if (run == sign).sum() >= 5:
                    sel = np.flatnonzero(run == sign) + max(0, t - 6)
                    train[sel] = y[sel]
                    oob[sel] = 0
        parts.append(pd.DataFrame({"flag": flag[days], "direction": direction[days]}))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------------- scoring


def score(truth: pd.DataFrame, pred: pd.DataFrame) -> dict:
    label = truth["label"].to_numpy()
    pos = label == 1
    counted = label != -1
    flag = pred["flag"].to_numpy().astype(bool)
    right = flag & (pred["direction"].to_numpy() == truth["label_dir"].to_numpy())
    tp = int((pos & right).sum())
    fp = int((counted & flag & ~(pos & right)).sum())
    fn = int((pos & ~right).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    tags = truth["tag"].to_numpy()
    recall_by = {t: round(float(right[pos & (tags == t)].mean()), 3) for t in sorted(set(tags[pos]))}
    fp_by = {t: int((flag & counted & ~pos & (tags == t)).sum()) for t in sorted(set(tags[counted & ~pos]))}
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "tp": tp, "fp": fp, "fn": fn, "recall_by_scenario": recall_by, "fp_by_scenario": fp_by}


def scale_test(n_metrics: int = 50, days: int = 730, seed: int = 0) -> float:
    """Seconds for detect_long on n_metrics × days (a third of them rates)."""
    rng = np.random.default_rng(seed)
    ds = [date(2023, 1, 1) + timedelta(d) for d in range(days)]
    parts = []
    for i in range(n_metrics):
        if i % 3 == 0:
            n = rng.integers(200, 20000, days).astype(float)
            v = rng.binomial(n.astype(int), 0.985) / n
            parts.append(pd.DataFrame({"ds": ds, "metric": "payment_success_rate", "dimension": "shop",
                                       "dimension_value": str(i), "value": v, "denominator": n}))
        else:
            v = 1000 * np.exp(rng.normal(0, 0.05, days) + 0.2 * (np.arange(days) % 7 >= 5))
            parts.append(pd.DataFrame({"ds": ds, "metric": "orders", "dimension": "shop",
                                       "dimension_value": str(i), "value": v, "denominator": np.nan}))
    frame = pd.concat(parts, ignore_index=True)
    t0 = time.perf_counter()
    detect_long(frame)
    return time.perf_counter() - t0


def score_by_kind(truth: pd.DataFrame, pred: pd.DataFrame) -> dict[str, dict]:
    """Precision / recall / F1 per series template (dau, payment_success_rate_low, ...)."""
    kinds = truth["metric"].str.split("#").str[0]
    return {k: score(truth[kinds == k].reset_index(drop=True), pred[(kinds == k).to_numpy()].reset_index(drop=True))
            for k in TEMPLATES if (kinds == k).any()}


def false_pages_per_month(data: list[Series], pred: pd.DataFrame, shop_series: int = 50) -> float:
    """Flags on clean data (each flagged series-day is one page) per 30 days for a shop of 50 series.

    The first 6 weeks are left out (every method needs history; a shop's detector has it).
    """
    truth = long_frame(data)
    judged = (pd.to_datetime(truth["ds"]) >= pd.Timestamp(START + timedelta(WARMUP))).to_numpy()
    flags = int((pred["flag"].to_numpy().astype(bool) & judged).sum())
    return flags / judged.sum() * 30 * shop_series


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=str, default=None,
                    help="comma-separated seeds: one row per seed and method, per kind summed over the seeds")
    ap.add_argument("--series", type=int, default=40)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--ablations", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--stl", action="store_true",
                    help="also run the robust-STL candidate on the count series (needs statsmodels; slow)")
    args = ap.parse_args(argv)
    if args.seeds:
        return main_seeds([int(x) for x in args.seeds.split(",")], args.series, args.json)

    data = make_dataset(args.seed, args.series)
    truth = long_frame(data)
    results_stl: dict = {}
    methods: list[tuple[str, Callable[[], pd.DataFrame]]] = [
        ("opscadence detector", lambda: run_detector(data)),
        ("Elementary-style z-score (14d, abs z > 3)", lambda: run_baseline(data, "zscore")),
        ("Chaos-Genius-style EWSTD (span 14, k=3)", lambda: run_baseline(data, "ewstd")),
    ]
    if args.ablations:
        methods += [
            ("+direction: Elementary-style z-score", lambda: run_baseline(data, "zscore", True)),
            ("+direction: Chaos-Genius-style EWSTD", lambda: run_baseline(data, "ewstd", True)),
            ("ablation: detector without calendar", lambda: run_detector(data, calendar=False)),
            ("ablation: detector without the ramp test",
             lambda: run_detector(data, config=DetectorConfig(ramp_sensitivity=None))),
            ("ablation: detector without the return rule",
             lambda: run_detector(data, config=DetectorConfig(return_z=None))),
            ("ablation: relative errors, normal p-values",
             lambda: run_detector(data, config=DetectorConfig(log_scale=False, t_pvalues=False))),
            ("ablation: detector without anomaly exclusion",
             lambda: run_detector(data, config=DetectorConfig(exclude_anomalies=False))),
            ("ablation: detector, rates without denominators", lambda: run_detector(data, rates=False)),
            ("ablation: payment success at the generic 5 % floor",
             lambda: run_detector(data, policy_fn=lambda k: replace(default_policy(k), min_relative_change=0.05))),
            ("candidate: same-weekday median of 4 weeks",
             lambda: run_detector(data, config=DetectorConfig(baseline="weekday_median", season_cycles=4))),
            ("candidate: level only (no weekly profile)",
             lambda: run_detector(data, config=DetectorConfig(baseline="level"))),
        ]
    results = {}
    for name, fn in methods:
        t0 = time.perf_counter()
        pred = fn()
        elapsed = time.perf_counter() - t0
        assert len(pred) == len(truth)
        results[name] = {**score(truth, pred), "runtime_s": round(elapsed, 3)}

    n_pos = int((truth["label"] == 1).sum())
    print(f"seed {args.seed}: {args.series} series, {len(truth)} points, {n_pos} labeled anomalies, "
          f"{int((truth['label'] == -1).sum())} ignored\n")
    print("| method | precision | recall | F1 | runtime s |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['runtime_s']:.2f} |")
    print("\nrecall by scenario / false positives by scenario:")
    for name in list(results)[:3]:
        r = results[name]
        print(f"- {name}: recall {r['recall_by_scenario']}; FP {r['fp_by_scenario']}")
    if args.stl:
        counts = [s for s in data if not default_policy(s.kind).is_rate]
        t0 = time.perf_counter()
        stl = run_stl(counts)
        stl_s = time.perf_counter() - t0
        if stl is None:
            print("\n(robust STL candidate skipped: statsmodels is not installed)")
        else:
            c_truth = long_frame(counts)
            t0 = time.perf_counter()
            ours = run_detector(counts)
            ours_s = time.perf_counter() - t0
            stl_results = {"opscadence detector": {**score(c_truth, ours), "runtime_s": round(ours_s, 3)},
                           "candidate: robust STL refit daily": {**score(c_truth, stl), "runtime_s": round(stl_s, 3)}}
            print(f"\ncount/currency series only ({len(counts)} series, {len(c_truth)} points):\n")
            print("| method | precision | recall | F1 | runtime s |")
            print("|---|---:|---:|---:|---:|")
            for name, r in stl_results.items():
                print(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['runtime_s']:.2f} |")
            results_stl = stl_results
    scale = scale_test()
    print(f"\nscale: detect_long on 50 metrics × 730 days: {scale:.2f} s")
    report = {"seed": args.seed, "series": args.series, "points": len(truth), "positives": n_pos,
              "results": results, "scale_test_50x730_s": round(scale, 3)}
    if args.stl and results_stl:
        report["counts_only_vs_stl"] = results_stl
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def _methods(data: list[Series]) -> list[tuple[str, Callable[[], pd.DataFrame]]]:
    return [
        ("opscadence detector", lambda: run_detector(data)),
        ("Elementary-style z-score (14d, abs z > 3)", lambda: run_baseline(data, "zscore")),
        ("Chaos-Genius-style EWSTD (span 14, k=3)", lambda: run_baseline(data, "ewstd")),
        ("ablation: detector without the return rule",
         lambda: run_detector(data, config=DetectorConfig(return_z=None))),
        ("ablation: relative errors, normal p-values",
         lambda: run_detector(data, config=DetectorConfig(log_scale=False, t_pvalues=False))),
    ]


def main_seeds(seeds: list[int], n_series: int, json_out: Path | None) -> dict:
    """Overall P/R/F1 per seed, per kind over all seeds, and false pages per month on clean data."""
    rows: dict[str, list[dict]] = {}
    pooled: dict[str, tuple[list, list]] = {}
    pages: dict[str, list[float]] = {}
    for seed in seeds:
        data = make_dataset(seed, n_series)
        truth = long_frame(data)
        clean = make_dataset(seed, n_series, clean=True)
        for (name, fn), (_, fn_clean) in zip(_methods(data), _methods(clean)):
            pred = fn()
            rows.setdefault(name, []).append({"seed": seed, **score(truth, pred)})
            truths, preds = pooled.setdefault(name, ([], []))
            truths.append(truth)
            preds.append(pred)
            pages.setdefault(name, []).append(false_pages_per_month(clean, fn_clean()))
    print(f"seeds {seeds}: {n_series} series each; pages/month = flagged series-days on the clean twin "
          f"(no injected anomaly) per 30 days for a shop of 50 series\n")
    print("| method | seed | precision | recall | F1 | false pages/month (50 series) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, per_seed in rows.items():
        for r, pg in zip(per_seed, pages[name]):
            print(f"| {name} | {r['seed']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {pg:.1f} |")
    print("\nper kind, all seeds pooled (precision / recall / F1):\n")
    names = list(rows)
    print("| kind | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    by_kind = {name: score_by_kind(pd.concat(pooled[name][0], ignore_index=True),
                                   pd.concat(pooled[name][1], ignore_index=True)) for name in names}
    overall = {name: score(pd.concat(pooled[name][0], ignore_index=True),
                           pd.concat(pooled[name][1], ignore_index=True)) for name in names}
    for kind in TEMPLATES:
        cells = []
        for name in names:
            r = by_kind[name].get(kind)
            cells.append("-" if r is None else f"{r['precision']:.2f} / {r['recall']:.2f} / {r['f1']:.2f}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print("| **overall** | " + " | ".join(
        f"{overall[n]['precision']:.3f} / {overall[n]['recall']:.3f} / {overall[n]['f1']:.3f}" for n in names) + " |")
    print("\nrecall / false positives by scenario, all seeds pooled:")
    for name in names:
        r = overall[name]
        print(f"- {name}: recall {r['recall_by_scenario']}; FP {r['fp_by_scenario']}")
    print("\nholiday weeks and seasonal lows, all seeds pooled (flags = flagged series-days):\n")
    print("| method | holiday recall | holiday_return flags (false) | season_low flags (not scored) "
          "| season_return flags (false) | outage recovery flags (false) |")
    print("|---|---:|---:|---:|---:|---:|")
    scenario_rows = {}
    for name in names:
        tr = pd.concat(pooled[name][0], ignore_index=True)
        pr = pd.concat(pooled[name][1], ignore_index=True)
        flag = pr["flag"].to_numpy().astype(bool)
        tags = tr["tag"].to_numpy()
        hol = (tags == "holiday") & (tr["label"].to_numpy() == 1)
        hit = flag & (pr["direction"].to_numpy() == tr["label_dir"].to_numpy())
        row = {"holiday_recall": round(float(hit[hol].mean()), 3) if hol.any() else None,
               "holiday_points": int(hol.sum())}
        for t in ("holiday_return", "season_low", "season_return", "recovery"):
            row[t] = [int((flag & (tags == t)).sum()), int((tags == t).sum())]
        scenario_rows[name] = row
        print(f"| {name} | {row['holiday_recall']} of {row['holiday_points']} | {row['holiday_return'][0]} of "
              f"{row['holiday_return'][1]} | {row['season_low'][0]} of {row['season_low'][1]} | "
              f"{row['season_return'][0]} of {row['season_return'][1]} | {row['recovery'][0]} of {row['recovery'][1]} |")
    # The injected effects left out as within their day's noise (SNR < SNR_MIN): how many, and how
    # often each method flags them in the injected direction anyway (not scored either way).
    truth_all = pd.concat(pooled[names[0]][0], ignore_index=True)
    sub = (truth_all["tag"] == "sub_noise").to_numpy()
    injected = int(sub.sum() + (truth_all["label"] == 1).sum())
    print(f"\nsub-noise injected points (SNR < {SNR_MIN:g}, not scored): {int(sub.sum())} of {injected} injected "
          f"labeled points ({sub.sum() / max(injected, 1):.0%}); flagged in their direction:")
    sub_hits = {}
    for name in names:
        pred = pd.concat(pooled[name][1], ignore_index=True)
        hit = pred["flag"].to_numpy().astype(bool) & (pred["direction"].to_numpy() == truth_all["label_dir"].to_numpy())
        sub_hits[name] = round(float(hit[sub].mean()), 3) if sub.any() else None
        print(f"- {name}: {sub_hits[name]}")
    report = {"seeds": seeds, "series": n_series, "per_seed": rows, "overall": overall, "by_kind": by_kind,
              "false_pages_per_month_50_series": pages, "sub_noise_points": int(sub.sum()),
              "sub_noise_hit_rate": sub_hits, "scenarios": scenario_rows}
    if json_out:
        json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


if __name__ == "__main__":
    main()
