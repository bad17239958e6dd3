"""A backfill chunk judged in one detector call equals each day judged alone.

``anomaly_alerts_for_days`` stacks each day's own window ([day - lookback, day]) as separate
series in one ``detect_long`` call (``family``); the expected alerts come from the per-day path,
``anomaly_alerts`` on that day's window, called once per day.
"""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from opscadence.core.config import load_config
from opscadence.detection.anomalies import anomaly_alerts, anomaly_alerts_for_days
from opscadence.detection.detector import detect_long

FIRST = date(2026, 6, 1)  # the chunk's first day
DAYS = [FIRST + timedelta(days=n) for n in range(16)]


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path, monkeypatch):
    """load_config reads ./opscadence.yaml: run in an empty directory."""
    monkeypatch.chdir(tmp_path)


def shop_history(seed: int) -> pd.DataFrame:
    """Whole-shop KPI history as ``history_frame`` returns it: 200 days before the chunk and
    the chunk, weekly rhythm and noise, with incidents inside the chunk and in its history:
    an orders outage (-45 % for 9 days) before the chunk, a level shift of GMV (+30 %) 40 days
    before it, DAU drops of -12 % and -25 % on chunk days 3 and 9, a payment-success dip on
    day 6 and a rise of bounce rate on days 10-12 (several series flagged on some days, so the
    false-discovery control decides between them)."""
    rng = np.random.default_rng(seed)
    start = FIRST - timedelta(days=200)
    rows = []
    for n in range((DAYS[-1] - start).days + 1):
        ds = start + timedelta(days=n)
        weekly = 1.0 + 0.15 * np.sin(2 * np.pi * ds.weekday() / 7)
        in_chunk = (ds - FIRST).days
        dau = 20000 * weekly * rng.normal(1, 0.02)
        dau *= {3: 0.88, 9: 0.75}.get(in_chunk, 1.0)
        orders = 900 * weekly * rng.normal(1, 0.04)
        if -60 <= in_chunk < -51:
            orders *= 0.55
        gmv = 54000 * weekly * rng.normal(1, 0.05) * (1.3 if in_chunk >= -40 else 1.0)
        attempts = float(int(1000 * weekly))
        success = rng.binomial(int(attempts), 0.965 if in_chunk != 6 else 0.93) / attempts
        visitors = float(int(dau))
        bounce = rng.binomial(int(visitors), 0.40 if in_chunk not in (10, 11, 12) else 0.45) / visitors
        rows += [
            {"ds": ds, "metric": "dau", "value": dau, "denominator": np.nan},
            {"ds": ds, "metric": "orders", "value": orders, "denominator": np.nan},
            {"ds": ds, "metric": "gmv", "value": gmv, "denominator": np.nan},
            {"ds": ds, "metric": "payment_success_rate", "value": success, "denominator": attempts},
            {"ds": ds, "metric": "bounce_rate", "value": bounce, "denominator": visitors},
        ]
    return pd.DataFrame(rows)


def per_day(history: pd.DataFrame, cfg, skip: dict[date, set[str]]) -> dict[date, list]:
    """The daily path: each day alone, on [day - lookback, day] (what history_frame reads for it)."""
    out = {}
    for ds in DAYS:
        window = history[(history["ds"] >= ds - timedelta(days=cfg.detection.lookback_days)) & (history["ds"] <= ds)]
        out[ds] = anomaly_alerts(window.reset_index(drop=True), ds, cfg, skip=skip.get(ds, set()))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_chunk_in_one_call_equals_each_day_alone(seed):
    cfg = load_config(environ={})
    history = shop_history(seed)
    skip = {DAYS[9]: {"orders"}}  # a metric that broke a rule that day is left out of its call
    expected = per_day(history, cfg, skip)
    assert sum(len(v) for v in expected.values()) >= 3, "the planted incidents must give alerts to compare"
    assert expected[DAYS[9]] and all(a.metric != "orders" for a in expected[DAYS[9]])
    assert anomaly_alerts_for_days(history, DAYS, cfg, skip=skip) == expected


def test_one_call_over_the_whole_range_would_not_do():
    """Why the windows are stacked: a verdict depends on where its history starts, so judging the
    chunk as one range (history from the first day's lookback) differs from the daily runs.
    Verdicts compared as scores, day by day, for the last day of the chunk."""
    cfg = load_config(environ={})
    history = shop_history(1)
    last = DAYS[-1]
    alone = history[history["ds"] >= last - timedelta(days=cfg.detection.lookback_days)]
    whole = history[history["ds"] >= FIRST - timedelta(days=cfg.detection.lookback_days)]
    a = detect_long(alone, min_history=cfg.detection.min_history)
    b = detect_long(whole, min_history=cfg.detection.min_history)
    a_last = a[a["ds"] == last].set_index("metric")["score"]
    b_last = b[b["ds"] == last].set_index("metric")["score"]
    assert not np.allclose(a_last.to_numpy(), b_last.loc[a_last.index].to_numpy(), equal_nan=True)


def _series(seed: int, drops: int) -> pd.DataFrame:
    """40 flat series of 120 days (3 % noise); the first ``drops`` drop 10-12.5 % on the last day."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(40):
        for n in range(120):
            value = 100 * rng.normal(1, 0.03)
            if n == 119 and s < drops:
                value *= 0.90 - 0.005 * s
            rows.append({"ds": date(2026, 1, 1) + timedelta(days=n), "metric": "orders", "dimension": "s",
                         "dimension_value": str(s), "value": value})
    return pd.DataFrame(rows)


def test_families_split_the_false_discovery_control():
    """Two runs in one call, as two families, keep each run's verdicts alone; as one family of 80
    series the same borderline drops face BH's stricter bar (q*k/80 instead of q*k/40)."""
    one, other = _series(5, drops=6), _series(6, drops=0)
    last = date(2026, 1, 1) + timedelta(days=119)
    alone = detect_long(one)
    split = detect_long(pd.concat([one.assign(run=1), other.assign(run=2)], ignore_index=True), family="run")
    pd.testing.assert_frame_equal(split[split["run"] == 1].drop(columns="run").reset_index(drop=True), alone)
    pd.testing.assert_frame_equal(split[split["run"] == 2].drop(columns="run").reset_index(drop=True),
                                  detect_long(other))
    merged = detect_long(pd.concat([one, other.assign(dimension_value=other["dimension_value"] + "b")],
                                   ignore_index=True))
    flagged_alone = int(alone[alone["ds"] == last]["is_anomaly"].sum())
    flagged_merged = int(merged[(merged["ds"] == last) & ~merged["dimension_value"].str.endswith("b")]["is_anomaly"].sum())
    # BH's bar for the k-th smallest p is q*k/m: doubling m (40 -> 80 series, the 40 added ones
    # clean) halves it, so some borderline drops that pass within their own run fail in the
    # merged family, and none that fails alone can pass merged.
    assert 1 <= flagged_merged < flagged_alone <= 6
    merged_flags = set(merged[(merged["ds"] == last) & merged["is_anomaly"]]["dimension_value"])
    assert merged_flags <= set(alone[(alone["ds"] == last) & alone["is_anomaly"]]["dimension_value"])
