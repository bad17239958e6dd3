"""A/B test statistics (gbstats 0.8.0's formulas), checked against hand computations and
independent methods; the verdict rule; the weekly section on a warehouse."""

import math
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.stats import norm

from opscadence import warehouse
from opscadence.analytics.weekly.abtest import (
    AbTestConfig,
    Covariate,
    Moments,
    VariantTotals,
    analyse_experiment,
    compare,
    cuped_theta,
    effect_bayesian,
    experiment_totals,
    power_note,
    srm_p_value,
    two_sided_ttest,
    verdict,
    weekly_section,
)
from opscadence.analytics.weekly.sections import WeeklyContext
from opscadence.core.periods import Period


def textbook():
    return Moments.conversions(1000, 100).stat(), Moments.conversions(1000, 120).stat()


def test_relative_lift_delta_method_ci_and_p_by_hand():
    # A: 100/1000 = 0.10, B: 120/1000 = 0.12; variances p(1-p): 0.09 and 0.1056.
    # lift = (0.12 - 0.10) / 0.10 = 0.2
    # var = σ²_B/(μ_A² n_B) + σ²_A μ_B²/(μ_A⁴ n_A) = 0.1056/(0.01·1000) + 0.09·0.0144/(0.0001·1000)
    #     = 0.01056 + 0.01296 = 0.02352;  sd = √0.02352 = 0.153362
    # t = 0.2 / 0.153362 = 1.30410
    # Welch dof = (0.1056/1000 + 0.09/1000)² / ((0.1056² + 0.09²)/(1000²·999))
    #           = (1.956e-4)² / (0.01925136/9.99e8) = 3.825936e-8 / 1.927063e-11 = 1985.37
    # p = 2(1 - F_t(1.30410; 1985.37)); with the normal instead of t: 2(1 - Φ(1.30410)) = 0.19220
    a, b = textbook()
    r = two_sided_ttest(a, b)
    assert r.lift == pytest.approx(0.2, abs=1e-12)
    assert r.stddev == pytest.approx(math.sqrt(0.02352), rel=1e-12)
    assert r.dof == pytest.approx(3.825936e-8 / (0.01925136 / 9.99e8), rel=1e-9)
    assert 2 * (1 - norm.cdf(0.2 / math.sqrt(0.02352))) == pytest.approx(0.19220, abs=5e-5)
    assert r.p_value == pytest.approx(0.19235, abs=5e-5)  # t with ~1985 dof: a hair above the normal's
    # CI: 0.2 ± t_{0.975; 1985.37} · 0.153362, t_{0.975} ≈ 1.96115 → [-0.10077, 0.50077]
    assert (r.ci_low, r.ci_high) == pytest.approx((0.2 - 1.96115 * 0.153362, 0.2 + 1.96115 * 0.153362), abs=2e-5)
    assert r.error is None


def test_bayesian_flat_prior_is_the_normal_likelihood():
    # posterior of the lift N(0.2, 0.153362²): chance to win Φ(0.2/0.153362) = Φ(1.30410) = 0.90390
    a, b = textbook()
    r = effect_bayesian(a, b)
    assert r.chance_to_win == pytest.approx(0.90390, abs=5e-5)
    # credible interval 0.2 ± 1.959964·0.153362 = [-0.10058, 0.50058]
    assert (r.ci_low, r.ci_high) == pytest.approx((-0.10058, 0.50058), abs=5e-5)
    # risk of shipping: E[max(0, -lift)] = σφ(μ/σ) - μΦ(-μ/σ)
    #   = 0.153362·φ(1.30410) - 0.2·Φ(-1.30410) = 0.153362·0.170468 - 0.2·0.096098 = 0.006923
    assert r.risk_treatment == pytest.approx(0.006922, abs=5e-6)
    # and of keeping the control: E[max(0, lift)] = risk_treatment + μ = 0.206922
    assert r.risk_control == pytest.approx(r.risk_treatment + 0.2, abs=1e-9)


def test_chance_to_win_and_risk_agree_with_a_monte_carlo_of_beta_posteriors():
    # Independent of the delta method: the rates' Beta(1 + c, 1 + n - c) posteriors, sampled;
    # P(p_B / p_A > 1) and E[max(0, 1 - p_B/p_A)]. At n = 50,000 the normal approximation of the
    # lift is good to a few tenths of a point (measured 0.874 vs 0.876); 400k draws have a
    # standard error of 0.0005 on the chance.
    rng = np.random.default_rng(20261204)
    n, ca, cb = 50_000, 4000, 4100
    r = effect_bayesian(Moments.conversions(n, ca).stat(), Moments.conversions(n, cb).stat())
    pa = rng.beta(1 + ca, 1 + n - ca, 400_000)
    pb = rng.beta(1 + cb, 1 + n - cb, 400_000)
    lift = pb / pa - 1
    assert 0.85 < r.chance_to_win < 0.9
    assert r.chance_to_win == pytest.approx(float((lift > 0).mean()), abs=0.005)
    assert r.risk_treatment == pytest.approx(float(np.maximum(0, -lift).mean()), abs=2e-4)


def test_srm_chi_square_by_hand():
    # 4500 vs 5500, planned 50/50: expected 5000 each; χ² = 2·500²/5000 = 100, df 1;
    # for df 1 the tail is erfc(√(χ²/2)) = erfc(√50)
    assert srm_p_value([4500, 5500]) == pytest.approx(math.erfc(math.sqrt(50)), rel=1e-9)
    # three variants 1000/1000/1100: expected 1033.33; χ² = (2·33.33² + 66.67²)/1033.33 = 6.4516, df 2;
    # for df 2 the tail is exp(-χ²/2) = exp(-3.2258) = 0.03972
    assert srm_p_value([1000, 1000, 1100]) == pytest.approx(math.exp(-(2 * (100 / 3) ** 2 + (200 / 3) ** 2)
                                                                     / (3100 / 3) / 2), rel=1e-9)
    # a planned 40/60 split observed as 4000/6000 is no mismatch (χ² = 0)
    assert srm_p_value([4000, 6000], [0.4, 0.6]) == pytest.approx(1.0)
    assert srm_p_value([0, 0]) == 1.0


def correlated_users(rng, n, lift):
    """Per-user pre- and post-period revenue with corr ≈ 0.8; the post period has ``lift``."""
    pre = rng.gamma(4.0, 25.0, n)
    post = 0.8 * pre + rng.normal(0, 30.0, n) + 20.0 + lift * 100.0
    return (Moments.values(n, post.sum(), (post ** 2).sum()),
            Covariate(Moments.values(n, pre.sum(), (pre ** 2).sum()), float((post * pre).sum())), pre, post)


def test_cuped_theta_is_the_pooled_regression_slope_and_shrinks_the_variance():
    rng = np.random.default_rng(5)
    a_post, a_cov, a_pre_x, a_post_x = correlated_users(rng, 4000, 0.0)
    b_post, b_cov, b_pre_x, b_post_x = correlated_users(rng, 4000, 0.05)
    # θ = pooled cov(post, pre) / pooled var(pre): the OLS slope of post on pre over all users
    pre, post = np.r_[a_pre_x, b_pre_x], np.r_[a_post_x, b_post_x]
    slope = np.cov(post, pre, ddof=1)[0, 1] / np.var(pre, ddof=1)
    assert cuped_theta(a_post, a_cov, b_post, b_cov) == pytest.approx(slope, rel=1e-9)
    plain = compare(a_post, b_post)
    adjusted = compare(a_post, b_post, control_pre=a_cov, treatment_pre=b_cov)
    # var(post) = 0.64·var(pre) + 900 = 0.64·2500 + 900 = 2500; corr² = 1600/2500 = 0.64, so
    # CUPED keeps ≈ 1 - 0.64 = 36% of the variance: the lift's sd shrinks to ≈ 0.6×
    ratio = adjusted.frequentist.stddev / plain.frequentist.stddev
    assert 0.5 < ratio < 0.7
    assert adjusted.theta == pytest.approx(slope, rel=1e-9)
    # the adjusted lift estimates the same effect: (μ_B - μ_A - θ(pre_B - pre_A)) / μ_A
    expected = ((b_post_x.mean() - slope * b_pre_x.mean()) - (a_post_x.mean() - slope * a_pre_x.mean())) \
        / a_post_x.mean()
    assert adjusted.frequentist.lift == pytest.approx(expected, rel=1e-9)


def test_cuped_without_pre_period_variance_falls_back_to_the_plain_statistics():
    post_a, post_b = Moments.values(100, 500.0, 3000.0), Moments.values(100, 550.0, 3500.0)
    flat = Covariate(Moments.values(100, 100.0, 100.0), 500.0)  # every user's pre value is 1
    assert compare(post_a, post_b, control_pre=flat, treatment_pre=flat).frequentist == compare(post_a, post_b).frequentist


def test_results_gbstats_cannot_compute_are_its_default_output():
    zero = Moments.conversions(1000, 0).stat()
    some = Moments.conversions(1000, 10).stat()
    f, b = two_sided_ttest(zero, some), effect_bayesian(zero, some)
    assert (f.lift, f.ci_low, f.ci_high, f.p_value, f.error) == (0.0, 0.0, 0.0, 1.0, "ZERO_NEGATIVE_BASELINE_VARIATION")
    assert (b.chance_to_win, b.risk_treatment, b.error) == (0.5, 0.0, "ZERO_NEGATIVE_BASELINE_VARIATION")
    everyone = Moments.conversions(1000, 1000).stat()  # p = 1: variance 0
    assert two_sided_ttest(some, everyone).error == "ZERO_NEGATIVE_VARIANCE"


def test_power_note_by_hand():
    # control 10%: unit relative variance 0.09/0.01 = 9; z = 1.959964 + 0.841621 = 2.801585
    # users per variant for a 10% lift: z²·2·9/0.1² = 7.848879·1800 = 14,127.98 → 14,128
    # now (1000 each): MDE = z·√(9·(2/1000)) = 2.801585·0.134164 = 0.37587
    a, b = textbook()
    cfg = AbTestConfig(target_mde=0.10, max_days=42)
    note = power_note(a, b, cfg, days=10)
    assert note.users_needed == 14128
    assert note.mde == pytest.approx(0.37587, abs=1e-5)
    # 100 users a day per variant: 142 days needed, more than 42 → unreachable
    assert (note.days_needed, note.reachable) == (142, False)
    assert power_note(a, b, cfg).reachable is None  # no running time: no judgement


def comparison(rate_a, rate_b, n=20000):
    return compare(Moments.conversions(n, round(rate_a * n)), Moments.conversions(n, round(rate_b * n)))


def test_verdict_rule():
    cfg = AbTestConfig()
    win, loss, flat = comparison(0.086, 0.106), comparison(0.106, 0.086), comparison(0.10, 0.1005)
    assert verdict(win, 0.5, cfg) == "ship"
    assert verdict(win, 0.0001, cfg) == "invalid"  # SRM invalidates even a clear win
    assert verdict(loss, 0.5, cfg) == "stop"
    assert verdict(flat, 0.5, cfg) == "keep_running"
    a, b = Moments.conversions(20000, 2000).stat(), Moments.conversions(20000, 2010).stat()
    assert verdict(flat, 0.5, cfg, power_note(a, b, cfg, days=2)) == "keep_running"  # 10k/day: reachable
    assert verdict(flat, 0.5, cfg, power_note(a, b, cfg, days=200)) == "stop"  # 100/day: 142 days > 42
    # a significant drop of revenue per user blocks shipping a conversion win
    revenue_down = compare(Moments.values(20000, 200000.0, 4.0e6), Moments.values(20000, 180000.0, 3.6e6))
    assert revenue_down.frequentist.p_value < 0.05 and revenue_down.frequentist.lift < 0
    assert verdict(win, 0.5, cfg, revenue=revenue_down) == "keep_running"


def test_analyse_experiment_control_weights_and_records():
    variants = [VariantTotals("B", 10000, 1060), VariantTotals("A", 10000, 860)]
    cfg = AbTestConfig(controls={"sms": "A"})
    result = analyse_experiment("sms", variants, cfg, days=21)
    assert result.control == "A" and [v.variant for v in result.variants] == ["B"]
    record = result.variants[0].record()
    assert record["rate"] == 0.106 and record["control_rate"] == 0.086
    assert record["lift"] == pytest.approx(0.02 / 0.086)
    assert record["verdict"] == "ship" and record["srm_p"] == pytest.approx(1.0)
    # a planned 20/80 split makes 10000/10000 a mismatch
    skewed = analyse_experiment("sms", variants, cfg.model_copy(update={"weights": {"sms": {"A": 0.2, "B": 0.8}}}))
    assert skewed.srm and skewed.variants[0].verdict == "invalid"
    with pytest.raises(ValueError, match="1 variant"):
        analyse_experiment("solo", [VariantTotals("A", 10, 1)])


def test_config_forbids_unknown_settings():
    with pytest.raises(ValidationError):
        AbTestConfig(alpha=0.05, srm=0.001)
    with pytest.raises(ValidationError):
        AbTestConfig(alpha=0.7)


# --- the weekly section ----------------------------------------------------------------------

WEEK = Period.containing("week", date(2026, 11, 24))  # Monday 2026-11-23 .. Sunday 11-29


def context(engine, locale="en", cfg=None):
    return WeeklyContext(engine=engine, cfg=cfg, period=WEEK, locale=locale, exports_dir=Path("/nonexistent"))


def day_rows(experiment, ds, per_variant):
    return [{"ds": ds, "experiment": experiment, "variant": v, "users": u, "conversions": c,
             "revenue_sum": r, "revenue_sum_squares": rr} for v, (u, c, r, rr) in per_variant.items()]


def write(engine, rows):
    with engine.begin() as conn:
        conn.execute(warehouse.raw_experiments.insert(), rows)


def test_totals_cover_the_experiments_of_the_week_up_to_its_end(engine):
    monday = WEEK.start
    rows = []
    for ds in (monday - timedelta(days=2), monday, monday + timedelta(days=6)):  # Sat before, Mon, Sun
        rows += day_rows("sms", ds, {"A": (100, 10, None, None), "B": (100, 12, None, None)})
    rows += day_rows("sms", WEEK.end, {"A": (999, 999, None, None), "B": (999, 999, None, None)})  # next week
    rows += day_rows("old", monday - timedelta(days=1), {"A": (5, 1, None, None), "B": (5, 1, None, None)})
    rows += day_rows("rev", monday, {"A": (50, 5, 100.0, 2500.0), "B": (60, 6, 90.0, 1800.0)})
    write(engine, rows)
    totals = {t.experiment: t for t in experiment_totals(engine, WEEK.start, WEEK.end)}
    assert set(totals) == {"sms", "rev"}  # "old" has no row this week
    sms = totals["sms"]
    # 3 days up to Sunday, not the next Monday's: A 300 users / 30 conversions, B 300 / 36
    assert sms.days == 3 and sms.first_ds == monday - timedelta(days=2) and sms.last_ds == monday + timedelta(days=6)
    assert [(v.variant, v.users, v.conversions, v.revenue_sum) for v in sms.variants] == [
        ("A", 300, 30, None), ("B", 300, 36, None)]
    assert [(v.revenue_sum, v.revenue_sum_squares) for v in totals["rev"].variants] == [(100.0, 2500.0), (90.0, 1800.0)]


def test_section_lines_actions_and_data(engine):
    rows = []
    for offset in range(7):
        ds = WEEK.start + timedelta(days=offset)
        rows += day_rows("sms", ds, {"A": (1500, 129, 3000.0, 90000.0), "B": (1500, 159, 3600.0, 110000.0)})
        rows += day_rows("button", ds, {"A": (450, 90, None, None), "B": (550, 110, None, None)})
    write(engine, rows)
    section = weekly_section(context(engine))
    assert section.key == "abtest" and section.title == "A/B tests" and section.findings == ()
    # button: 3150 vs 3850 users, planned 50/50: χ² = 2·350²/3500 = 70, p ≈ 6e-17 → SRM
    # sms: 903/10500 = 8.6% vs 1113/10500 = 10.6%: +2.0 pp, p < 0.001 → ship
    button, sms = section.lines
    assert button.startswith("• :warning: *button* (7 days): sample ratio mismatch") and "p<0.001" in button
    assert "conversion 10.6% vs 8.6% (+2.0 pp; lift +23.3%" in sms and sms.endswith("→ *ship B*")
    # revenue per user 25,200/10,500 = ¥2.40 vs 21,000/10,500 = ¥2.00: +20.0%; variances
    # (630,000 - 21,000²/10,500)/10,499 = 56.005 and (770,000 - 25,200²/10,500)/10,499 = 67.578;
    # relative sd √(67.578/(2²·10,500) + 56.005·2.4²/(2⁴·10,500)) = √0.0035291 = 0.05941; t = 3.37, p = 0.0008
    assert ", revenue per user ¥2.40 vs ¥2.00 (+20.0%, p<0.001) → *ship B*" in sms
    assert [a.text for a in section.actions] == [
        "Fix the traffic split of button (45/55 instead of the planned 50/50, SRM p<0.001) and restart it",
        "Roll out B of sms: +2.0 pp conversion rate (10.6% vs 8.6%), p<0.001"]
    records = {e["experiment"]: e for e in section.data["experiments"]}
    assert records["button"]["srm"] and records["button"]["variants"][0]["verdict"] == "invalid"
    assert records["sms"]["variants"][0]["lift"] == pytest.approx((1113 - 903) / 903)
    zh = weekly_section(context(engine, "zh-CN"))
    assert zh.title == "A/B 测试" and "样本比例失衡" in zh.lines[0] and "→ *上线 B*" in zh.lines[1]
    assert zh.actions[1].text == "全量上线 sms 的 B：转化率 +2.0 个百分点（10.6% vs 8.6%），p<0.001"


def test_section_reads_its_settings_from_the_config(engine):
    rows = []
    for offset in range(7):
        rows += day_rows("sms", WEEK.start + timedelta(days=offset),
                         {"A": (1500, 129, None, None), "B": (1500, 159, None, None)})
    write(engine, rows)
    # B as the control: A converts significantly worse → stop
    cfg = SimpleNamespace(weekly=SimpleNamespace(abtest=AbTestConfig(controls={"sms": "B"})))
    section = weekly_section(context(engine, cfg=cfg))
    assert section.lines[0].endswith("→ *stop*")
    assert section.actions[0].text.startswith("Stop sms: A converts significantly worse (-2.0 pp, p<0.001)")


def test_section_keep_running_says_how_long(engine):
    rows = []
    for offset in range(7):  # 100 users a day per variant, 10% vs 10.5%
        rows += day_rows("tiny", WEEK.start + timedelta(days=offset),
                         {"A": (100, 10, None, None), "B": (100, 10 + (offset % 2), None, None)})
    write(engine, rows)
    cfg = SimpleNamespace(weekly=SimpleNamespace(abtest=AbTestConfig(max_days=400)))
    section = weekly_section(context(engine, cfg=cfg))
    # 14,128 users per variant for a 10% lift at 10% (test_power_note_by_hand) at 100 a day: 142 days,
    # 7 run: about 135 more
    assert "→ *keep running*; about 135 more days at this traffic to detect a ±10.0% lift" in section.lines[0]
    assert section.actions[0].text == "Keep tiny running: about 135 more days to detect a ±10.0% lift"
    # within the default 42 days it can never get there: stop
    stopped = weekly_section(context(engine))
    assert stopped.lines[0].endswith("→ *stop*")
    assert "cannot detect a ±10.0% lift within 42 days (needs about 142)" in stopped.actions[0].text


def test_missing_table_no_rows_and_bad_experiments_are_findings(engine):
    empty = weekly_section(context(engine))
    assert empty.lines == () and empty.findings == (
        "No A/B test data from 2026-11-23 to 2026-11-29: raw_experiments has no rows this week",)
    write(engine, day_rows("solo", WEEK.start, {"A": (10, 1, None, None)})
          + day_rows("rev", WEEK.start, {"A": (100, 10, 50.0, 900.0), "B": (100, 12, None, None)}))
    section = weekly_section(context(engine, "zh-CN"))
    assert section.findings == ("实验 rev 部分日期缺少收入数据：未比较收入", "实验 solo 只有一个分组（A）：无从比较")
    assert len(section.lines) == 1 and "人均收入" not in section.lines[0]
    with engine.begin() as conn:
        warehouse.raw_experiments.drop(conn)
    missing = weekly_section(context(engine))
    assert missing.lines == () and missing.findings[0].startswith("No raw_experiments table in the warehouse")
