"""The seasonal anomaly detector on series whose expected values are computed by hand.

The "flat week" used throughout: Monday–Friday 100, Saturday/Sunday 60, no noise, starting
Monday 2024-01-01 (day i has weekday i % 7). The weekday factors of a noise-free week are
exactly 1.0 (weekdays) and 0.6 (weekend), the deseasonalised level is exactly 100, so the
expected value of a clean weekday is 100 and of a weekend day 60. The residual spread of
a noise-free history is 0, so the band is set by the 5 % materiality floor: 95–105.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from opscadence.detection.detector import (
    CalendarDay,
    DetectorConfig,
    MetricPolicy,
    default_policy,
    detect_long,
    detect_series,
)

START = date(2024, 1, 1)  # a Monday
BOTH = MetricPolicy(direction="both")


def day(i: int) -> date:
    return START + timedelta(days=i)


def flat_week(n: int = 112) -> list[float]:
    return [60.0 if i % 7 in (5, 6) else 100.0 for i in range(n)]


def frame(values, denominators=None) -> pd.DataFrame:
    data = {"ds": [day(i) for i in range(len(values))], "value": values}
    if denominators is not None:
        data["denominator"] = denominators
    return pd.DataFrame(data)


def flagged(out: pd.DataFrame) -> list[int]:
    return [(d - START).days for d in out.loc[out["is_anomaly"], "ds"]]


def test_flat_week_with_one_drop():
    values = flat_week()
    values[77] = 70.0  # day 77 is a Monday: expected 100, -30 %
    out = detect_series(frame(values), policy=BOTH)

    assert list(out.columns) == ["ds", "value", "expected", "lower", "upper", "is_anomaly", "direction", "score"]
    assert flagged(out) == [77]
    row = out.iloc[77]
    assert row["direction"] == "drop"
    assert row["expected"] == pytest.approx(100.0)
    assert (row["lower"], row["upper"]) == (pytest.approx(95.0), pytest.approx(105.0))
    assert row["score"] < -3
    assert out.iloc[82]["expected"] == pytest.approx(60.0)  # a Saturday after the drop
    assert out.iloc[84]["expected"] == pytest.approx(100.0)  # next Monday: the drop did not leak in
    assert set(out.loc[~out["is_anomaly"], "direction"]) == {""}


def test_no_look_ahead_and_any_row_order():
    rng = np.random.default_rng(7)
    n = 160
    weekly = np.array([1.0, 1.05, 1.0, 0.95, 1.1, 0.7, 0.65])
    values = 1000 * weekly[np.arange(n) % 7] * np.exp(rng.normal(0, 0.04, n))
    values[[60, 61, 95]] *= 0.5
    values[120:] *= 1.3  # a level shift
    dens = rng.integers(200, 5000, n).astype(float)
    rates = rng.binomial(dens.astype(int), 0.97) / dens
    rates[100] = 0.8
    keep = np.ones(n, bool)
    keep[[30, 31, 32, 70]] = False  # gaps
    counts_f = frame(values)[keep].reset_index(drop=True)
    rates_f = frame(rates, dens)[keep].reset_index(drop=True)
    rate_policy = default_policy("payment_success_rate")

    full_c = detect_series(counts_f.sample(frac=1, random_state=1), policy=BOTH)  # shuffled input
    full_r = detect_series(rates_f, policy=rate_policy)
    assert full_c["ds"].is_monotonic_increasing
    assert full_c["is_anomaly"].any() and full_r["is_anomaly"].any()
    for cut in (40, 59, 61, 100, 125):
        part_c = detect_series(counts_f.iloc[:cut], policy=BOTH)
        part_r = detect_series(rates_f.iloc[:cut], policy=rate_policy)
        pd.testing.assert_frame_equal(part_c, full_c.iloc[:cut].reset_index(drop=True))
        pd.testing.assert_frame_equal(part_r, full_r.iloc[:cut].reset_index(drop=True))


def test_an_incident_does_not_poison_the_baseline_of_the_next():
    values = flat_week()
    for i in (70, 71, 72, 73, 77):  # a 4-day incident (Mon–Thu), then the next Monday
        values[i] *= 0.6
    out = detect_series(frame(values), policy=BOTH)
    assert flagged(out) == [70, 71, 72, 73, 77]
    assert out.iloc[77]["expected"] == pytest.approx(100.0)

    # The mechanism: with a one-week level, the 4 incident days are 4 of the last 7 without
    # exclusion (median 60 -> day 77 looks normal); with exclusion the level comes from
    # days 74–76 (100, 60, 60 deseasonalised to 100).
    short = DetectorConfig(level_days=7)
    kept = detect_series(frame(values), policy=BOTH, config=short)
    poisoned = detect_series(frame(values), policy=BOTH, config=DetectorConfig(level_days=7, exclude_anomalies=False))
    assert 77 in flagged(kept) and kept.iloc[77]["expected"] == pytest.approx(100.0)
    assert 77 not in flagged(poisoned) and poisoned.iloc[77]["expected"] == pytest.approx(60.0)


def test_promotion_day_in_the_calendar():
    values = flat_week()
    values[79] = 200.0  # a Wednesday promotion: twice the usual 100
    promo = [CalendarDay(day(79), "member day", expected_uplift=1.0)]

    listed = detect_series(frame(values), policy=BOTH, calendar=promo)
    assert flagged(listed) == []
    assert listed.iloc[79]["expected"] == pytest.approx(200.0)  # 100 × (1 + 1.0)
    assert listed.iloc[80]["expected"] == pytest.approx(100.0)  # the promotion did not train

    unlisted = detect_series(frame(values), policy=BOTH)
    assert flagged(unlisted) == [79]
    assert unlisted.iloc[79]["direction"] == "rise"
    assert unlisted.iloc[79]["expected"] == pytest.approx(100.0)

    # A listed holiday week (-50 %) does not train: without the exclusion the 14-day level
    # would be the median of 7 × 50 and 7 × 100 = 75 the day after.
    holiday = flat_week()
    holiday[70:77] = [v * 0.5 for v in holiday[70:77]]
    week = [CalendarDay(day(i), "holiday", expected_uplift=-0.5) for i in range(70, 77)]
    after = detect_series(frame(holiday), policy=BOTH, calendar=week)
    assert flagged(after) == []
    assert after.iloc[70]["expected"] == pytest.approx(50.0)
    assert after.iloc[77]["expected"] == pytest.approx(100.0)

    # A promotion that under-delivers is judged against the uplifted expectation.
    values[79] = 150.0  # above a normal day, but -25 % vs the expected 200
    weak = detect_series(frame(values), policy=BOTH, calendar=promo)
    assert flagged(weak) == [79] and weak.iloc[79]["direction"] == "drop"


def test_rates_are_judged_against_their_denominator():
    # 60 days of exactly 98.5 % on 5,000 attempts (4,925 successes): expected rate 0.985.
    rates = [0.985] * 60 + [0.88, 17 / 20, 20 / 25]
    dens = [5000.0] * 60 + [5000.0, 20.0, 25.0]
    policy = default_policy("payment_success_rate")
    out = detect_series(frame(rates, dens), policy=policy)

    big = out.iloc[60]  # 88 % of 5,000: 4,400 successes where 4,925 were expected
    assert big["is_anomaly"] and big["direction"] == "drop"
    assert big["expected"] == pytest.approx(0.985)
    sd = math.sqrt(5000 * 0.985 * 0.015)  # binomial sd of the successes: 8.595
    assert big["score"] == pytest.approx(-(4925 - 4400 - 0.5) / sd, rel=1e-6)  # -61.0

    # 3 failures in 20 (85 %): below the 30-trial floor, and not significant anyway:
    # P(failures >= 3 | n=20, q=0.015) = 1 - (0.73914 + 0.22512 + 0.03257) = 0.0032 -> z = -2.73.
    small = out.iloc[61]
    assert not small["is_anomaly"]
    tail = 1 - sum(math.comb(20, f) * 0.015**f * 0.985 ** (20 - f) for f in range(3))
    assert small["score"] == pytest.approx(special.ndtri(tail), rel=1e-6)
    assert small["score"] == pytest.approx(-2.73, abs=0.01)

    # 5 failures in 25 (80 %) is significant, only the min_denominator floor keeps it quiet.
    assert not out.iloc[62]["is_anomaly"]
    no_floor_policy = MetricPolicy(direction="drop", is_rate=True, min_denominator=0)
    no_floor = detect_series(frame(rates, dens), policy=no_floor_policy)
    # Without the floor day 61 is the outage's second day: alone it is inside the band (-2.73),
    # but the run test adds it to day 60 capped at the band (at most -k = -3 ... the band is at
    # least 3 sigmas): (-3 - 2.73) / sqrt(2) = -4.05, beyond the run test's 3.5, and |-2.73| >= 2.5.
    assert flagged(no_floor) == [60, 61, 62]
    no_run = detect_series(frame(rates, dens), policy=no_floor_policy,
                           config=DetectorConfig(sustained_sensitivity=None))
    assert flagged(no_run) == [60, 62]


def test_direction_filter():
    values = flat_week()
    values[77] = 150.0  # spike on a Monday
    values[91] = 50.0  # drop on a later Monday
    out = detect_series(frame(values), policy=default_policy("dau"))
    assert default_policy("dau").direction == "drop"
    assert out.iloc[77]["score"] > 3  # statistically out of band ...
    assert flagged(out) == [91]  # ... but only the drop alerts
    assert out.iloc[84]["expected"] == pytest.approx(100.0)  # and the spike did not train

    rise_only = detect_series(frame(values), policy=MetricPolicy(direction="rise"))
    assert flagged(rise_only) == [77]
    assert rise_only.iloc[77]["direction"] == "rise"


def test_level_shift_alerts_for_a_few_days_then_becomes_normal():
    values = flat_week(140)
    values[70:] = [v * 1.3 for v in values[70:]]
    out = detect_series(frame(values), policy=BOTH)
    # 12 out-of-band days within 14 are accepted as the new level (days 70–81 re-admitted),
    # so an outage of up to 11 days alerts throughout and never becomes the normal.
    assert flagged(out) == list(range(70, 82))
    assert out.iloc[82]["expected"] == pytest.approx(78.0)  # Saturday: 60 × 1.3
    assert out.iloc[84]["expected"] == pytest.approx(130.0)


def test_an_outage_alerts_throughout_and_its_end_is_no_rise():
    values = flat_week(140)
    values[70:80] = [v * 0.6 for v in values[70:80]]  # a 10-day outage at -40 %
    out = detect_series(frame(values), policy=BOTH)
    # 10 out-of-band days in 14 do not reach the 12 of a level shift: every outage day
    # alerts as a drop, and the return to 100 / 60 (day 80 on) is judged against the
    # untouched level, so it is normal.
    assert flagged(out) == list(range(70, 80))
    assert set(out.iloc[70:80]["direction"]) == {"drop"}
    assert out.iloc[84]["expected"] == pytest.approx(100.0)  # Monday after: the old level


def test_a_return_to_the_level_before_an_accepted_shift_is_no_rise():
    values = flat_week(168)
    values[70:90] = [v * 0.6 for v in values[70:90]]  # a 20-day outage: accepted as a level after 12 days
    out = detect_series(frame(values), policy=BOTH)
    assert flagged(out) == list(range(70, 82))
    assert out.iloc[84]["expected"] == pytest.approx(60.0)  # Monday inside: 100 × 0.6
    # Day 90 (a Sunday, 60) is +67 % against the shifted 36 but equal to the level before the
    # shift, so neither it nor day 91 alerts; the second such day in a row restores the old
    # level (the outage days leave the training set).
    assert not out.iloc[90:]["is_anomaly"].any()
    assert out.iloc[98]["expected"] == pytest.approx(100.0)  # the Monday a week after: the old level


def test_min_history():
    values = [1.0, 1000.0] * 7 + [100.0] * 20  # wild first two weeks
    out = detect_series(frame(values), policy=BOTH)
    assert not out.iloc[:14]["is_anomaly"].any()
    assert out.iloc[:14]["expected"].isna().all()
    assert out.iloc[:14]["lower"].isna().all() and out.iloc[:14]["upper"].isna().all()
    later = detect_series(frame(values), policy=BOTH, min_history=20)
    assert later.iloc[:20]["expected"].isna().all()


def test_detect_long_round_trip():
    n = 70
    counts = flat_week(n)
    counts[60] = 40.0
    dau = pd.DataFrame({"ds": [day(i) for i in range(n)], "metric": "dau", "value": counts, "denominator": np.nan})
    psr = pd.DataFrame({"ds": [day(i) for i in range(n)], "metric": "payment_success_rate",
                        "value": [0.985] * 50 + [0.88] + [0.985] * (n - 51), "denominator": 5000.0})
    long = pd.concat([psr, dau]).sample(frac=1, random_state=3).reset_index(drop=True)

    out = detect_long(long)
    assert list(out.columns) == ["ds", "metric", "value", "expected", "lower", "upper", "is_anomaly", "direction",
                                 "score"]
    assert len(out) == 2 * n
    assert list(out["metric"]) == ["dau"] * n + ["payment_success_rate"] * n
    assert list(out["ds"]) == [day(i) for i in range(n)] * 2
    alerts = out[out["is_anomaly"]]
    assert list(zip(alerts["metric"], alerts["ds"], alerts["direction"])) == [
        ("dau", day(60), "drop"),
        ("payment_success_rate", day(50), "drop"),
    ]
    # Same verdicts as one series at a time with the default policies.
    one = detect_series(psr[["ds", "value", "denominator"]], policy=default_policy("payment_success_rate"))
    pd.testing.assert_frame_equal(out.iloc[n:].drop(columns="metric").reset_index(drop=True), one)

    # Dimension columns are part of the series key and passed through.
    dims = long.assign(dimension="channel", dimension_value="app")
    out_dims = detect_long(dims, calendar={"dau": [CalendarDay(day(60), "promo", -0.6)]})
    assert list(out_dims.columns[:4]) == ["ds", "metric", "dimension", "dimension_value"]
    assert list(out_dims.loc[out_dims["is_anomaly"], "metric"]) == ["payment_success_rate"]  # the dau dip was listed


def test_default_policies():
    assert default_policy("bounce_rate").direction == "rise" and default_policy("bounce_rate").is_rate
    assert default_policy("gmv") == MetricPolicy(direction="both", is_rate=False)
    assert default_policy("aov").is_rate is False  # currency with a denominator is not a rate
    for metric in ("paying_rate", "stickiness", "repurchase_rate", "add_to_cart_conversion",
                   "registration_conversion", "payment_success_rate"):
        assert default_policy(metric).direction == "drop" and default_policy(metric).is_rate
    assert default_policy("unknown_metric") == MetricPolicy()


def test_detect_long_on_many_series():
    # Speed is measured in benchmarks/detector_benchmark.py, not asserted here.
    rng = np.random.default_rng(0)
    days = 730
    parts = []
    for i in range(50):
        v = 1000 * np.exp(rng.normal(0, 0.05, days))
        parts.append(pd.DataFrame({"ds": [day(d) for d in range(days)], "metric": f"m{i}", "value": v}))
    out = detect_long(pd.concat(parts, ignore_index=True))
    assert len(out) == 50 * days
    assert set(out["metric"]) == {f"m{i}" for i in range(50)}
    # Log-normal noise with sigma 5%: a 3-sigma band flags well under 5% of the points.
    assert out["is_anomaly"].mean() < 0.05


def test_the_season_is_a_parameter_weekly_series_without_a_weekday_profile():
    from datetime import date, timedelta

    import pandas as pd

    from opscadence.detection.detector import DetectorConfig, MetricPolicy, detect_series

    # 30 ISO weeks (Mondays) of a flat 1000 ± 1%, then a week at 700: a 30% drop
    mondays = [date(2026, 1, 5) + timedelta(weeks=n) for n in range(31)]
    values = [1000 + (10 if n % 2 else -10) for n in range(30)] + [700]
    frame = pd.DataFrame({"ds": mondays, "value": values})
    weekly = DetectorConfig(grain="week", season=None)
    out = detect_series(frame, policy=MetricPolicy(direction="drop"), min_history=8, config=weekly)
    assert bool(out["is_anomaly"].iloc[-1]) and out["direction"].iloc[-1] == "drop"
    assert not out["is_anomaly"].iloc[:-1].any()
    # median of the alternating 990/1010 weeks is 1000: the drop is judged against it
    assert out["expected"].iloc[-1] == pytest.approx(1000, rel=0.011)


def test_low_volume_rate_is_judged_by_a_beta_binomial_with_overdispersion_from_history():
    # 40 payments a day, successes alternating 38 / 40 (0 or 2 failures): every weekday holds
    # six of each over the 12-week window, so the expected rate is exactly 39/40 = 0.975 and
    # each past error is ±0.025, against a binomial variance 0.975 × 0.025 / 40 = 0.000609.
    # Extra variance: (1.4826 × MAD 0.025)² - 0.000609 = 0.001374 - 0.000609 = 0.000764,
    # widened for 84 residuals by (t(0.37 × 84)(Phi(3)) / 3)² = 1.1810 -> 0.000903; as a
    # beta-binomial intra-class correlation rho = 0.000903 / (0.975 × 0.025) = 0.03704.
    n_days = 169
    successes = [38.0 if i % 2 == 0 else 40.0 for i in range(n_days)]
    successes[168] = 32.0  # 8 failures where 1 is expected
    out = detect_series(frame([x / 40 for x in successes], [40.0] * n_days), policy=default_policy("payment_success_rate"))

    ss = special.stdtrit(0.37 * 84, special.ndtr(3.0)) / 3.0
    extra = ((1.4826 * 0.025) ** 2 - 0.975 * 0.025 / 40) * ss**2
    rho = extra / (0.975 * 0.025)
    assert rho == pytest.approx(0.03704, abs=1e-5)
    # Binomial: P(X <= 32 | 40, 0.975) = 5.7e-6, z = -4.39; the normal branch, sd
    # sqrt(40 × 0.975 × 0.025 + 40² × 0.000903) = 1.555, z = -(39 - 32 - 0.5) / 1.555 = -4.18:
    # both would page. Beta-binomial(40, 0.975 (1/rho - 1) = 25.35, 0.025 (1/rho - 1) = 0.650):
    # P(X <= 32) = 0.00667, z = -2.47, inside the band: this series' own days vary that much.
    assert special.ndtri(stats.binom.cdf(32, 40, 0.975)) == pytest.approx(-4.387, abs=1e-3)
    assert -6.5 / math.sqrt(40 * 0.975 * 0.025 + 1600 * extra) == pytest.approx(-4.179, abs=1e-3)
    ab = 1 / rho - 1
    z_bb = special.ndtri(stats.betabinom.cdf(32, 40, 0.975 * ab, 0.025 * ab))
    assert z_bb == pytest.approx(-2.475, abs=1e-3)
    row = out.iloc[168]
    assert row["expected"] == pytest.approx(0.975)
    assert row["score"] == pytest.approx(z_bb, rel=1e-6)
    assert not out["is_anomaly"].any()


def test_false_discovery_rate_across_the_series_of_one_run():
    from opscadence.detection.detector import _control_fdr

    # Day 0: four series with p = 0.001, 0.008, 0.03, 0.5, all flagged by their own test.
    # BH at q = 0.02: thresholds q·i/m = 0.005, 0.010, 0.015, 0.020; the largest i with
    # p_(i) <= q·i/m is i = 2 (0.008 <= 0.010), so the first two keep their alert.
    # Day 1: one series alone (m = 1), p = 0.01 <= 0.02 keeps it; on day 2, p = 0.03 does not.
    days = [np.array([0, 1]), np.array([0, 2]), np.array([0]), np.array([0])]
    results = [
        {"pval": np.array([0.001, 0.01]), "flag": np.array([-1, -1], np.int8)},
        {"pval": np.array([0.008, 0.03]), "flag": np.array([1, 1], np.int8)},
        {"pval": np.array([0.03]), "flag": np.array([-1], np.int8)},
        {"pval": np.array([0.5]), "flag": np.array([0], np.int8)},
    ]
    _control_fdr(days, results, 0.02)
    assert [r["flag"].tolist() for r in results] == [[-1, -1], [1, 0], [0], [0]]
    # The same rule as scipy's BH-adjusted p-values <= q on day 0.
    adjusted = stats.false_discovery_control([0.001, 0.008, 0.03, 0.5])
    assert (adjusted <= 0.02).tolist() == [True, True, False, False]


def test_week_over_week_drift_catches_a_slow_decline_the_daily_band_misses():
    wobble = [0.04, -0.04, 0.02, -0.02, 0.0, 0.04, -0.04]  # a fixed ±4 % wobble, shifted each week
    values = [100.0 * (1 + wobble[(i + i // 7) % 7]) * 0.97 ** max(0, i - 99) for i in range(130)]
    # The run test and the ramp test off in both, so that the drift test alone makes the
    # difference; scores on relative errors (the arithmetic below; on the log scale day 109
    # is -3.7 sigmas, beyond the band).
    on = detect_series(frame(values), policy=BOTH,
                       config=DetectorConfig(sustained_sensitivity=None, ramp_sensitivity=None, log_scale=False))
    off = detect_series(frame(values), policy=BOTH,
                        config=DetectorConfig(drift_sensitivity=None, sustained_sensitivity=None,
                                              ramp_sensitivity=None, log_scale=False))
    assert not on.iloc[:100]["is_anomaly"].any()  # the wobble alone never alerts
    # Day 109 (-3 % a day for 10 days) is inside the daily band (|z| < 3) ...
    assert abs(off.iloc[109]["score"]) < 3 and not off.iloc[109]["is_anomaly"]
    # ... but the median of days 103–109 (76.0 76.7 76.8 80.0 82.4 82.4 92.1 -> 80.0) is
    # about 19 % below that of days 96–102 (91.3 92.2 96 98.9 100 104 104 -> 98.9): a drop.
    assert on.iloc[109]["is_anomaly"] and on.iloc[109]["direction"] == "drop"
    assert set(flagged(off)) < set(flagged(on))


def test_run_test_pages_a_sustained_dip_that_no_single_day_shows():
    # 60 days of exactly 98.5 % on 5,000 attempts (no over-dispersion: the binomial sd of the
    # successes is sqrt(5000 * 0.985 * 0.015) = 8.595), then 3 days at 4,900 successes: the
    # normal approximation says -(4925 - 4900 - 0.5) / 8.595 = -2.85, the exact binomial tail
    # (lighter on this side) -2.733; the detector keeps the more cautious. Inside the band.
    rates = [0.985] * 60 + [4900 / 5000] * 3 + [0.985] * 5
    policy = MetricPolicy(direction="drop", is_rate=True, min_relative_change=0.0)
    out = detect_series(frame(rates, [5000.0] * 68), policy=policy)
    z60 = special.ndtri(stats.binom.cdf(4900, 5000, 0.985))
    assert z60 == pytest.approx(-2.733, abs=1e-3) and abs(z60) < 24.5 / math.sqrt(5000 * 0.985 * 0.015)
    assert out.iloc[60]["score"] == pytest.approx(z60, rel=1e-6)
    # Day 60 alone pages nothing and trains the level (expected 0.98473 on day 61: z -2.57).
    # Day 61: (-2.733 - 2.570) / sqrt(2) = -3.75, beyond 3.5, and |z| >= 2.5: a page; it stays out
    # of the level, so day 62 is again -2.56: (-2.733 - 2.570 - 2.563) / sqrt(3) = -4.54.
    assert out.iloc[61]["score"] == pytest.approx(-2.570, abs=1e-3)
    assert flagged(out) == [61, 62]
    assert set(out.iloc[61:63]["direction"]) == {"drop"}
    off = detect_series(frame(rates, [5000.0] * 68), policy=policy, config=DetectorConfig(sustained_sensitivity=None))
    assert flagged(off) == []
    # One such day followed by normal ones is no run.
    single = [0.985] * 60 + [4900 / 5000] + [0.985] * 7
    assert flagged(detect_series(frame(single, [5000.0] * 68), policy=policy)) == []


def test_a_low_rate_is_judged_by_its_exact_tail():
    # A 2 % conversion on 600 visitors: 12 buyers expected (binomial sd sqrt(600*0.02*0.98) = 3.43).
    # 2 buyers: the normal approximation says -(10 - 0.5) / 3.43 = -2.77, inside the band; the
    # exact tail P(X <= 2 | 600, 0.02) = 0.98^600 * (1 + 12.245 + 12.245 * 6.112) = 5.44e-6 * 88.09
    # = 0.00048 is z = -3.30, beyond it.
    rates = [0.02] * 60 + [2 / 600]
    policy = MetricPolicy(direction="drop", is_rate=True)
    out = detect_series(frame(rates, [600.0] * 61), policy=policy)
    tail = stats.binom.cdf(2, 600, 0.02)
    assert tail == pytest.approx(0.00048, abs=1e-5)
    assert out.iloc[60]["score"] == pytest.approx(special.ndtri(tail), rel=1e-6)
    assert flagged(out) == [60]


def alternating(n: int, start: int | None = None, ramp: float = 0.0) -> list[float]:
    """100 ± 4 % on alternate days (even days 104, odd days 96), from day ``start`` on falling by
    ``ramp`` of the base per day (day start is 1 × ramp down)."""
    return [100.0 * (1 + 0.04 * (-1) ** i) * (1 - ramp * max(0, i - start + 1) if start is not None else 1.0)
            for i in range(n)]


def test_ramp_test_pages_a_gradual_degradation_the_trailing_level_follows():
    # No weekday profile (baseline "level"): the level is the median of the last 14 clean
    # values, exactly 100 on the ±4 % series (7 values at 104, 7 at 96), every one-step error
    # is ±4 %, so sigma = 1.4826 × 0.04 × t-widening for 84 errors (a MAD from 0.37 × 84
    # degrees of freedom): 0.059304 × 1.0867 = 0.0644. From day 100 on the series falls 2 % of
    # its base a day (day 100: × 0.98 ... day 107: × 0.84, 80.64 against an undisturbed 96).
    # Scores on relative errors, as the arithmetic below (the ramp test itself always is).
    values = alternating(140, start=100, ramp=0.02)
    cfg = DetectorConfig(baseline="level", log_scale=False)
    policy = MetricPolicy(direction="drop")
    on = detect_series(frame(values), policy=policy, config=cfg)
    off = detect_series(frame(values), policy=policy, config=replace(cfg, ramp_sensitivity=None))
    widening = special.stdtrit(0.37 * 84, special.ndtr(3.0)) / 3.0
    sigma = 1.4826 * 0.04 * widening
    assert sigma == pytest.approx(0.0644, abs=1e-4)
    # Day 107: the trailing median (days 93–106, the ramp's first 7 days among them) is 96, so
    # 80.64 is -16 %, z = -0.16 / 0.0644 = -2.48: inside the band, below the run test's 2.5.
    assert on.iloc[107]["expected"] == pytest.approx(96.0)
    assert on.iloc[107]["score"] == pytest.approx(-0.16 / sigma, rel=1e-6)
    assert not off.iloc[107]["is_anomaly"]
    # Against the level of 7 days earlier (day 100: days 86–99, 100; the same on day 72, so no trend
    # to carry forward) days 101–107 are 92.16 97.76 88.32 93.6 84.48 89.44 80.64: -7.84 -2.24
    # -11.68 -6.4 -15.52 -10.56 -19.36 %, z -1.216 -0.348 -1.812 -0.993 -2.408 -1.639 -3.0 (capped
    # at the band). Weighted 1..7: -54.19; sqrt(140 + 28² × 1.2533² / 14) = sqrt(227.96) = 15.10;
    # Z = -3.59, beyond 3.5; today -19.4 % = -3.0 sigmas against the reference (≥ 2) and -2.48
    # against the trailing level (≥ 2.2), material both ways: a drop.
    dev = np.array([92.16, 97.76, 88.32, 93.6, 84.48, 89.44, 80.64]) / 100.0 - 1.0
    z = np.clip(dev / sigma, -3.0, 3.0)
    w = np.arange(1, 8)
    big_z = (w * z).sum() / math.sqrt((w**2).sum() + w.sum() ** 2 * 1.2533**2 / 14)
    assert big_z == pytest.approx(-3.59, abs=0.01) and big_z < -3.5
    assert values[107] == pytest.approx(80.64)
    assert flagged(on)[0] == 107 and on.iloc[107]["direction"] == "drop"
    # The old rules first page two days later (day 109: -3.1 sigmas).
    assert flagged(off)[0] == 109
    assert not on.iloc[:107]["is_anomaly"].any()


def test_ramp_test_leaves_a_seasonal_trend_and_an_outage_recovery_alone():
    # Weekdays 100, weekends 60, ±4 % on alternate days, growing 50 % a year (0.137 % a day:
    # the level of 7 days ago is 1 % low, 0.15 sigma), an 8-day outage at -40 % on days
    # 120–127, then the old level again.
    weekly = [1.0, 1.0, 1.0, 1.0, 1.0, 0.6, 0.6]
    values = [100 * weekly[i % 7] * (1 + 0.04 * (-1) ** i) * math.exp(0.5 / 365 * i) for i in range(210)]
    for i in range(120, 128):
        values[i] *= 0.6
    out = detect_series(frame(values), policy=BOTH)
    # The outage pages on each of its days (the point test: -40 % is 6 sigmas); its end is
    # judged against a reference that never saw it (its points were kept out of the level) and
    # the outage's drops are opposite points in the window: no rising "ramp" on recovery.
    assert flagged(out) == list(range(120, 128))
    assert set(out.iloc[120:128]["direction"]) == {"drop"}
    # Without the ramp test the same days, and nothing else either.
    off = detect_series(frame(values), policy=BOTH, config=DetectorConfig(ramp_sensitivity=None))
    assert flagged(off) == flagged(out)


def test_a_holiday_dip_pages_its_low_days_and_not_its_recovery():
    # A slide (day 70: -20 %, 71: -40 %), seven days at -40 % (72-78), a recovery in steps
    # (79: -30 %, 80: -20 %, 81: -10 %), then the old 100 / 60 weekly pattern.
    mult = {70: 0.8, 71: 0.6, **{i: 0.6 for i in range(72, 79)}, 79: 0.7, 80: 0.8, 81: 0.9}
    values = [v * mult.get(i, 1.0) for i, v in enumerate(flat_week(168))]
    out = detect_series(frame(values), policy=BOTH)
    off = detect_series(frame(values), policy=BOTH, config=DetectorConfig(return_z=None))
    # 9 out-of-band days in 14: no level shift, so the level stays 100 and every low day pages.
    assert flagged(out) == list(range(70, 79))
    # The dip's level is the median of its last 3 flagged deseasonalised values (days 76-78:
    # 60 / 0.6, 60 / 0.6 at the weekend, 60 on Wednesday) = 60. Day 79 (Wednesday, 70) is
    # +16.7 % above it (thousands of the floor sigma 0.001) and 30 % below the level 100, not
    # past it: a return; so are days 80 (80) and 81 (90). Without the rule all three page as
    # drops, the 12 out-of-band days 70-81 become the level, and the old level pages as a
    # rise on days 82-93.
    assert not out.iloc[79:]["is_anomaly"].any()
    assert flagged(off) == list(range(70, 94))
    assert set(off.iloc[79:82]["direction"]) == {"drop"} and set(off.iloc[82:94]["direction"]) == {"rise"}
    # The recovery days did not train: the Monday after is judged against 100 again.
    assert out.iloc[84]["expected"] == pytest.approx(100.0)
    # A real rise above the level before the dip, after the recovery, still pages.
    values[91] = 130.0  # a Wednesday: +30 % against 100
    out = detect_series(frame(values), policy=BOTH)
    assert flagged(out) == [*range(70, 79), 91] and out.iloc[91]["direction"] == "rise"


def test_a_partial_return_after_an_accepted_shift_is_no_rise_an_overshoot_is():
    values = flat_week(168)
    values[70:90] = [v * 0.6 for v in values[70:90]]  # 20 days at -40 %: a level after 12 days
    values[90:92] = [v * 0.8 for v in values[90:92]]  # back half-way for two days (48, 80)
    out = detect_series(frame(values), policy=BOTH)
    off = detect_series(frame(values), policy=BOTH, config=DetectorConfig(return_z=None))
    assert flagged(out) == list(range(70, 82))  # the shift's first 12 days
    # Day 91 (Monday, 80) is +33 % against the shifted level 60 but 20 % below the level
    # before the shift (100), not past it: between the two, a return. Day 92 on is the old
    # level (a full return; the second in a row restores 100).
    assert not out.iloc[82:]["is_anomaly"].any()
    assert {90, 91} <= set(flagged(off)) and off.iloc[91]["direction"] == "rise"
    assert out.iloc[98]["expected"] == pytest.approx(100.0)
    # Overshooting the old level by 30 % is past it: a rise.
    values = flat_week(168)
    values[70:90] = [v * 0.6 for v in values[70:90]]
    values[90:] = [v * 1.3 for v in values[90:]]
    out = detect_series(frame(values), policy=BOTH)
    assert 90 in flagged(out) and out.iloc[90]["direction"] == "rise"


def test_the_return_from_a_seasonal_low_is_no_rise():
    # 100 ± 4 % on alternate days (no weekday profile), sliding 2 % a day to -20 % (days
    # 100-109), held 10 days, back 2 % a day (days 120-129).
    mult = np.ones(220)
    mult[100:110] = 1 - 0.02 * np.arange(1, 11)
    mult[110:120] = 0.8
    mult[120:130] = 0.8 + 0.02 * np.arange(1, 11)
    values = [v * m for v, m in zip(alternating(220), mult)]
    cfg = DetectorConfig(baseline="level")
    out = detect_series(frame(values), policy=BOTH, config=cfg)
    off = detect_series(frame(values), policy=BOTH, config=replace(cfg, return_z=None))
    # Day 128 (101.92) is +21.6 % against the lagging level 83.84: without the rule a rise.
    assert out.iloc[128]["expected"] == pytest.approx(83.84)
    assert {128, 130} <= set(flagged(off)) and off.iloc[128]["direction"] == "rise"
    # With it: the level 7-9 weeks earlier (days 65-79) was 100, 19 % above today's (more
    # than twice the 5 % floor and 2 sigmas, 2 × 0.0644); 101.92 lies between the two, within
    # 3 sigmas of 100; yesterday (92.16) was on the way too (≥ 1 sigma above 83.84, 89.24)
    # and no alert: a return. No day of the return or after it pages.
    assert not out.iloc[120:]["is_anomaly"].any()
    assert flagged(out) == [f for f in flagged(off) if f < 120]
