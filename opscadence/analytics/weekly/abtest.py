"""A/B test verdicts, computed as GrowthBook's stats engine gbstats 0.8.0 computes them.

Each variant is compared with the experiment's control on its conversion rate (a proportion:
users, conversions) and, when given, its revenue per user (a sample mean: the sum and the sum of
squares of the users' revenue). The formulas follow gbstats 0.8.0 (``gbstats/models/statistics``,
``frequentist/tests``, ``bayesian/tests``, ``utils``) line by line:

* statistics: a proportion's variance is p(1 − p); a sample mean's is
  (Σx² − (Σx)²/n)/(n − 1) (0 for n ≤ 1) — ``ProportionStatistic``, ``SampleMeanStatistic``;
* frequentist (``TwoSidedTTest``, difference type "relative"): lift = (μ_B − μ_A)/μ_A; its
  delta-method variance σ²_B/(μ_A² n_B) + σ²_A μ_B²/(μ_A⁴ n_A); a Welch t-test on lift/σ with
  the Welch–Satterthwaite degrees of freedom; p = 2(1 − F_t(|t|)); CI lift ± t_{1−α/2}·σ;
* Bayesian (``EffectBayesianABTest``, its default improper flat prior): the lift's posterior is
  N(lift, σ²); chance to win P(lift > 0); risk as ``get_risk`` (the expected relative loss of
  keeping the control, and of shipping the variant: −P(lift < 0)·E[lift | lift < 0]);
* SRM (``check_srm``): Pearson's chi-square of the users against the expected split, df = k − 1;
* CUPED (``RegressionAdjustedStatistic`` with ``compute_theta``): θ = the pooled covariance of
  the metric with its pre-period value over the pooled pre-period variance; each variant's mean
  becomes μ_post − θ μ_pre and its variance σ²_post + θ² σ²_pre − 2θ cov; the lift keeps the
  unadjusted control mean as denominator;
* a result gbstats cannot compute (control mean 0, a variance ≤ 0, no users) is its default
  output: lift 0, CI [0, 0], p 1, chance to win 0.5, risk 0, with the reason in ``error``.

The power note and the verdict are ours (gbstats 0.8.0 has neither). The verdict of a variant
(:func:`verdict`), in this order:

1. ``invalid``: the experiment's SRM p-value is below ``srm_p`` (the split is broken, so no
   comparison can be trusted);
2. ``ship``: conversion p < ``alpha``, lift > 0, chance to win ≥ ``min_chance``, and revenue
   per user (when given) not significantly lower;
3. ``stop``: conversion significantly lower (p < ``alpha``, lift < 0), or the power note says
   the target lift cannot be detected within ``max_days`` at the current traffic;
4. ``keep_running``: otherwise (including results gbstats cannot compute).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import chi2, norm, t, truncnorm

from opscadence.analytics.weekly.sections import NextAction, WeeklyContext, WeeklySection
from opscadence.core.sqlfiles import run_sql
from opscadence.reporting.i18n import data_text, signed_pct, signed_points
from opscadence.warehouse import as_date

Verdict = Literal["ship", "keep_running", "stop", "invalid"]

# gbstats' messages (its messages module) for the results it cannot compute
BASELINE_VARIATION_ZERO = "ZERO_NEGATIVE_BASELINE_VARIATION"
ZERO_NEGATIVE_VARIANCE = "ZERO_NEGATIVE_VARIANCE"
NO_UNITS_IN_VARIATION = "NO_UNITS_IN_VARIATION"


class AbTestConfig(BaseModel):
    """Settings of the A/B verdicts (``weekly.abtest`` in the config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(0.05, gt=0, lt=0.5)  # two-sided significance level; CIs are 1 − alpha
    srm_p: float = Field(0.001, gt=0, lt=1)  # an SRM p-value below this invalidates the experiment
    min_chance: float = Field(0.95, gt=0.5, lt=1)  # chance to win needed to ship
    power: float = Field(0.8, gt=0, lt=1)  # the power the minimum sample is computed for
    target_mde: float = Field(0.10, gt=0)  # the relative lift a test should be able to detect
    max_days: int = Field(42, ge=1)  # the longest an experiment may run (for the power note)
    # experiment → its control variant (default: the first variant by name)
    controls: dict[str, str] = Field(default_factory=dict)
    # experiment → variant → its planned share of users (default: an equal split)
    weights: dict[str, dict[str, float]] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moments:
    """One variant's metric: ``n`` users, the sum and the sum of squares of their values.

    A proportion (0/1 per user: converted or not) has ``sum_squares == sum`` and the binomial
    variance, as gbstats' ``ProportionStatistic``; otherwise it is a ``SampleMeanStatistic``.
    """

    n: int
    sum: float
    sum_squares: float
    proportion: bool

    @classmethod
    def conversions(cls, users: int, conversions: int) -> Moments:
        return cls(int(users), float(conversions), float(conversions), True)

    @classmethod
    def values(cls, users: int, total: float, total_squares: float) -> Moments:
        return cls(int(users), float(total), float(total_squares), False)

    @property
    def mean(self) -> float:
        return 0.0 if self.n == 0 else self.sum / self.n

    @property
    def variance(self) -> float:
        if self.proportion:
            return self.mean * (1 - self.mean)
        if self.n <= 1:
            return 0.0
        return (self.sum_squares - self.sum ** 2 / self.n) / (self.n - 1)

    def joined(self, other: Moments) -> Moments:
        """Both variants as one sample (gbstats' ``create_joint_statistic``)."""
        if self.proportion != other.proportion:
            raise ValueError("a metric must be a proportion in every variant or in none")
        return Moments(self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares, self.proportion)

    def stat(self) -> VariantStat:
        return VariantStat(self.n, self.mean, self.variance, self.mean)


@dataclass(frozen=True)
class Covariate:
    """CUPED's pre-period data of one variant: the same users' pre-period metric and
    Σ post·pre over the users."""

    pre: Moments
    post_pre_sum_of_products: float


@dataclass(frozen=True)
class VariantStat:
    """What the tests read of a variant: its users, mean (CUPED-adjusted or not), variance, and
    the unadjusted mean (the lift's denominator)."""

    n: int
    mean: float
    variance: float
    unadjusted_mean: float


def _covariance(post: Moments, pre: Moments, sum_of_products: float, n: int) -> float:
    if n <= 1:
        return 0.0
    return (sum_of_products - post.sum * pre.sum / n) / (n - 1)


def cuped_theta(control: Moments, control_pre: Covariate, treatment: Moments, treatment_pre: Covariate) -> float:
    """θ of gbstats' ``compute_theta``: pooled cov(post, pre) / pooled var(pre); 0 when either
    pooled variance is 0."""
    n = control.n + treatment.n
    post = control.joined(treatment)
    pre = control_pre.pre.joined(treatment_pre.pre)
    if pre.variance == 0 or post.variance == 0:
        return 0.0
    products = control_pre.post_pre_sum_of_products + treatment_pre.post_pre_sum_of_products
    return _covariance(post, pre, products, n) / pre.variance


def cuped_stat(post: Moments, covariate: Covariate, theta: float) -> VariantStat:
    """A variant's ``RegressionAdjustedStatistic``: mean μ_post − θ μ_pre, variance
    σ²_post + θ² σ²_pre − 2θ cov(post, pre) (0 for n ≤ 1), unadjusted mean μ_post."""
    pre = covariate.pre
    variance = 0.0 if post.n <= 1 else (
        post.variance + theta ** 2 * pre.variance
        - 2 * theta * _covariance(post, pre, covariate.post_pre_sum_of_products, post.n))
    return VariantStat(post.n, post.mean - theta * pre.mean, variance, post.mean)


def variant_stats(control: Moments, treatment: Moments, control_pre: Covariate | None = None,
                  treatment_pre: Covariate | None = None) -> tuple[VariantStat, VariantStat, float | None]:
    """The two variants' statistics and CUPED's θ (None without pre-period data; with θ = 0,
    no pre-period variance, gbstats falls back to the unadjusted statistics, as here)."""
    if control_pre is None or treatment_pre is None:
        return control.stat(), treatment.stat(), None
    theta = cuped_theta(control, control_pre, treatment, treatment_pre)
    if theta == 0:
        return control.stat(), treatment.stat(), 0.0
    return cuped_stat(control, control_pre, theta), cuped_stat(treatment, treatment_pre, theta), theta


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def relative_variance(a: VariantStat, b: VariantStat) -> float:
    """The delta-method variance of the relative lift (gbstats' ``frequentist_variance``)."""
    mean_a, mean_b = a.unadjusted_mean, b.unadjusted_mean
    return b.variance / (mean_a ** 2 * b.n) + a.variance * mean_b ** 2 / (mean_a ** 4 * a.n)


def relative_lift(a: VariantStat, b: VariantStat) -> float:
    """(μ_B − μ_A) / μ_A with the unadjusted control mean as denominator (``frequentist_diff``)."""
    denominator = a.unadjusted_mean or a.mean
    return (b.mean - a.mean) / denominator


def welch_dof(a: VariantStat, b: VariantStat) -> float:
    return (b.variance / b.n + a.variance / a.n) ** 2 / (
        b.variance ** 2 / (b.n ** 2 * (b.n - 1)) + a.variance ** 2 / (a.n ** 2 * (a.n - 1)))


def _cannot_compute(a: VariantStat, b: VariantStat, *, bayesian: bool) -> str | None:
    if a.mean == 0 or a.unadjusted_mean == 0:
        return BASELINE_VARIATION_ZERO
    if bayesian and (a.n == 0 or b.n == 0):
        return NO_UNITS_IN_VARIATION
    if a.variance <= 0 or b.variance <= 0:
        return ZERO_NEGATIVE_VARIANCE
    return None


@dataclass(frozen=True)
class FrequentistResult:
    lift: float  # relative: treatment / control − 1
    ci_low: float
    ci_high: float
    p_value: float
    stddev: float  # of the lift
    dof: float
    error: str | None = None


def two_sided_ttest(a: VariantStat, b: VariantStat, alpha: float = 0.05) -> FrequentistResult:
    """gbstats' ``TwoSidedTTest`` (relative, test value 0) of treatment ``b`` against control ``a``."""
    error = _cannot_compute(a, b, bayesian=False)
    if error:
        return FrequentistResult(0.0, 0.0, 0.0, 1.0, 0.0, 0.0, error)
    variance = relative_variance(a, b)
    lift = relative_lift(a, b)
    dof = welch_dof(a, b)
    stddev = math.sqrt(variance)
    p_value = float(2 * (1 - t.cdf(abs(lift / stddev), dof)))
    width = float(t.ppf(1 - alpha / 2, dof)) * stddev
    return FrequentistResult(lift, lift - width, lift + width, p_value, stddev, dof)


@dataclass(frozen=True)
class BayesianResult:
    chance_to_win: float  # P(lift > 0)
    risk_control: float  # expected relative loss of keeping the control (when the variant is better)
    risk_treatment: float  # expected relative loss of shipping the variant (when it is worse)
    ci_low: float  # credible interval of the lift
    ci_high: float
    mean: float
    stddev: float
    error: str | None = None


def truncated_normal_mean(mu: float, sigma: float, a: float, b: float) -> float:
    """E[X | a < X < b] for X ~ N(mu, sigma²), as gbstats' ``utils.truncated_normal_mean``."""
    lo, hi = (a - mu) / sigma, (b - mu) / sigma
    mean, _, _, _ = truncnorm.stats(lo, hi, loc=mu, scale=sigma, moments="mvsk")
    return float(mean)


def effect_bayesian(a: VariantStat, b: VariantStat, alpha: float = 0.05) -> BayesianResult:
    """gbstats' ``EffectBayesianABTest`` (relative, default improper prior) of ``b`` against ``a``."""
    error = _cannot_compute(a, b, bayesian=True)
    if error:
        return BayesianResult(0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, error)
    mean = relative_lift(a, b)
    stddev = math.sqrt(relative_variance(a, b))  # flat prior: the posterior is the likelihood
    chance = float(norm.sf(0, mean, stddev))
    low, high = norm.ppf([alpha / 2, 1 - alpha / 2], mean, stddev).tolist()
    control_better = float(norm.cdf(0.0, loc=mean, scale=stddev))
    mean_negative = truncated_normal_mean(mean, stddev, -np.inf, 0.0)
    mean_positive = truncated_normal_mean(mean, stddev, 0.0, np.inf)
    risk_control = float((1.0 - control_better) * mean_positive)
    risk_treatment = -float(control_better * mean_negative)
    return BayesianResult(chance, risk_control, risk_treatment, low, high, mean, stddev)


def srm_p_value(users: Sequence[int], weights: Sequence[float] | None = None) -> float:
    """gbstats' ``check_srm``: the chi-square p-value of the users per variant against the
    planned split ``weights`` (default: equal); 1 without users."""
    weights = list(weights) if weights is not None else [1.0] * len(users)
    if len(weights) != len(users):
        raise ValueError(f"{len(users)} variants but {len(weights)} weights")
    total = sum(users)
    if not total:
        return 1.0
    total_weight = sum(weights)
    x = 0.0
    for observed, weight in zip(users, weights):
        if weight <= 0:
            continue
        expected = weight / total_weight * total
        x += (observed - expected) ** 2 / expected
    return float(chi2.sf(x, len(users) - 1))


# ---------------------------------------------------------------------------------------------
# Power, verdicts, experiments
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerNote:
    """What the sample can detect: the relative lift detectable now, the users per variant
    needed for ``target_mde`` and, with a running time, whether ``max_days`` gets there."""

    mde: float  # relative lift detectable with ``power`` at the current users (two-sided alpha)
    target_mde: float
    users_needed: int  # per variant, for target_mde
    days_needed: int | None  # at the current daily users of the smaller variant; None without days
    max_days: int
    reachable: bool | None  # days_needed <= max_days; None without days


def power_note(control: VariantStat, treatment: VariantStat, cfg: AbTestConfig,
               days: int | None = None) -> PowerNote | None:
    """The normal-approximation sample size with the control's variance for both variants:
    n = (z_{1−α/2} + z_power)² · 2σ²_A / (μ_A² · target_mde²) per variant; None when the
    control has no variance or mean (nothing to base it on)."""
    if control.variance <= 0 or control.unadjusted_mean == 0 or control.n == 0 or treatment.n == 0:
        return None
    z = float(norm.ppf(1 - cfg.alpha / 2) + norm.ppf(cfg.power))
    unit = control.variance / control.unadjusted_mean ** 2  # the relative variance of one user
    mde = z * math.sqrt(unit * (1 / control.n + 1 / treatment.n))
    needed = math.ceil(z ** 2 * 2 * unit / cfg.target_mde ** 2)
    days_needed = reachable = None
    if days:
        per_day = min(control.n, treatment.n) / days
        days_needed = math.ceil(needed / per_day)
        reachable = days_needed <= cfg.max_days
    return PowerNote(mde, cfg.target_mde, needed, days_needed, cfg.max_days, reachable)


@dataclass(frozen=True)
class MetricComparison:
    frequentist: FrequentistResult
    bayesian: BayesianResult
    theta: float | None = None  # CUPED's θ; None without pre-period data


def compare(control: Moments, treatment: Moments, alpha: float = 0.05, control_pre: Covariate | None = None,
            treatment_pre: Covariate | None = None) -> MetricComparison:
    """Both engines on one metric of treatment against control (CUPED with pre-period data)."""
    a, b, theta = variant_stats(control, treatment, control_pre, treatment_pre)
    return MetricComparison(two_sided_ttest(a, b, alpha), effect_bayesian(a, b, alpha), theta)


def verdict(conversion: MetricComparison, srm_p: float, cfg: AbTestConfig, power: PowerNote | None = None,
            revenue: MetricComparison | None = None) -> Verdict:
    """The rule of the module docstring: invalid, ship, stop, keep running."""
    if srm_p < cfg.srm_p:
        return "invalid"
    freq, bayes = conversion.frequentist, conversion.bayesian
    if freq.error or bayes.error:
        return "keep_running"
    significant = freq.p_value < cfg.alpha
    revenue_down = (revenue is not None and revenue.frequentist.error is None
                    and revenue.frequentist.p_value < cfg.alpha and revenue.frequentist.lift < 0)
    if significant and freq.lift > 0 and bayes.chance_to_win >= cfg.min_chance and not revenue_down:
        return "ship"
    if significant and freq.lift < 0:
        return "stop"
    if power is not None and power.reachable is False:
        return "stop"
    return "keep_running"


@dataclass(frozen=True)
class VariantTotals:
    """One variant's totals over the experiment's days (pre-period data optional: CUPED)."""

    variant: str
    users: int
    conversions: int
    revenue_sum: float | None = None
    revenue_sum_squares: float | None = None
    conversion_pre: Covariate | None = None
    revenue_pre: Covariate | None = None

    @property
    def has_revenue(self) -> bool:
        return self.revenue_sum is not None and self.revenue_sum_squares is not None


@dataclass(frozen=True)
class VariantResult:
    """One variant against the control."""

    experiment: str
    variant: str
    control: str
    users: int
    conversions: int
    control_users: int
    control_conversions: int
    conversion: MetricComparison
    revenue: MetricComparison | None
    revenue_per_user: float | None
    control_revenue_per_user: float | None
    power: PowerNote | None
    srm_p: float
    verdict: Verdict

    @property
    def rate(self) -> float:
        return self.conversions / self.users if self.users else 0.0

    @property
    def control_rate(self) -> float:
        return self.control_conversions / self.control_users if self.control_users else 0.0

    def record(self) -> dict[str, Any]:
        """The flat record of ``opscadence abtest`` (lift and CI relative, chance and risk Bayesian;
        risk: the expected relative loss of shipping the variant)."""
        freq, bayes = self.conversion.frequentist, self.conversion.bayesian
        out: dict[str, Any] = {
            "experiment": self.experiment, "variant": self.variant, "control": self.control,
            "users": self.users, "conversions": self.conversions,
            "rate": self.rate, "control_rate": self.control_rate,
            "lift": freq.lift, "ci_low": freq.ci_low, "ci_high": freq.ci_high, "p_value": freq.p_value,
            "chance_to_win": bayes.chance_to_win, "risk": bayes.risk_treatment,
            "srm_p": self.srm_p, "verdict": self.verdict,
            "mde": self.power.mde if self.power else None,
            "users_needed": self.power.users_needed if self.power else None,
        }
        if self.revenue is not None:
            rf, rb = self.revenue.frequentist, self.revenue.bayesian
            out.update({
                "revenue_per_user": self.revenue_per_user, "control_revenue_per_user": self.control_revenue_per_user,
                "revenue_lift": rf.lift, "revenue_ci_low": rf.ci_low, "revenue_ci_high": rf.ci_high,
                "revenue_p_value": rf.p_value, "revenue_chance_to_win": rb.chance_to_win,
            })
        return out


@dataclass(frozen=True)
class ExperimentResult:
    experiment: str
    control: str
    users: dict[str, int]  # per variant, in order
    weights: list[float]  # the planned split, in the same order
    srm_p: float
    srm: bool  # srm_p < cfg.srm_p: the split is broken
    days: int | None
    variants: tuple[VariantResult, ...]  # every variant but the control


def analyse_experiment(experiment: str, variants: Sequence[VariantTotals], cfg: AbTestConfig | None = None, *,
                       control: str | None = None, days: int | None = None) -> ExperimentResult:
    """Every variant against ``control`` (default: ``cfg.controls``, else the first variant), the
    experiment's SRM over all its variants, the power note (with ``days`` running) and the verdicts."""
    cfg = cfg or AbTestConfig()
    if len(variants) < 2:
        raise ValueError(f"experiment {experiment!r} has {len(variants)} variant(s); need a control and another")
    names = [v.variant for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"experiment {experiment!r} repeats a variant")
    control = control or cfg.controls.get(experiment) or names[0]
    if control not in names:
        raise ValueError(f"experiment {experiment!r} has no variant {control!r} (its control)")
    planned = cfg.weights.get(experiment)
    weights = [float(planned.get(n, 0.0)) for n in names] if planned else [1.0] * len(names)
    users = [v.users for v in variants]
    srm_p = srm_p_value(users, weights)
    base = variants[names.index(control)]
    results = []
    for v in variants:
        if v.variant == control:
            continue
        control_conversions = Moments.conversions(base.users, base.conversions)
        treatment_conversions = Moments.conversions(v.users, v.conversions)
        conversion = compare(control_conversions, treatment_conversions, cfg.alpha, base.conversion_pre,
                             v.conversion_pre)
        revenue = rpu = control_rpu = None
        if base.has_revenue and v.has_revenue:
            control_revenue = Moments.values(base.users, base.revenue_sum, base.revenue_sum_squares)
            treatment_revenue = Moments.values(v.users, v.revenue_sum, v.revenue_sum_squares)
            revenue = compare(control_revenue, treatment_revenue, cfg.alpha, base.revenue_pre, v.revenue_pre)
            rpu, control_rpu = treatment_revenue.mean, control_revenue.mean
        power = power_note(control_conversions.stat(), treatment_conversions.stat(), cfg, days)
        results.append(VariantResult(
            experiment=experiment, variant=v.variant, control=control, users=v.users, conversions=v.conversions,
            control_users=base.users, control_conversions=base.conversions, conversion=conversion,
            revenue=revenue, revenue_per_user=rpu, control_revenue_per_user=control_rpu, power=power,
            srm_p=srm_p, verdict=verdict(conversion, srm_p, cfg, power, revenue)))
    return ExperimentResult(experiment, control, dict(zip(names, users)), weights, srm_p, srm_p < cfg.srm_p,
                            days, tuple(results))


# ---------------------------------------------------------------------------------------------
# The weekly section
# ---------------------------------------------------------------------------------------------

# The section's strings (kept here, not in reporting/i18n.STRINGS, while other sections are written).
TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "A/B 测试",
        "line": "• *{experiment}*（{days} 天）：{parts}",
        "part": "{variant} 对比 {control}：转化率 {rate} vs {control_rate}（{points}；相对提升 {lift}，"
                "{level} 置信区间 {ci_low} 至 {ci_high}；{p}；胜出概率 {chance}）",
        "verdict": "→ *{verdict}*",
        "revenue": "，人均收入 {value} vs {control_value}（{lift}，{p}）",
        "more_days": "；按当前流量约还需 {days} 天才能检测 ±{mde} 的提升",
        "srm_line": "• :warning: *{experiment}*（{days} 天）：样本比例失衡（SRM）：{users}，计划 {planned}（{p}），"
                    "分流修复前结论无效",
        "users": "{variant} {n:,} 人",
        "ship": "上线 {variant}",
        "keep_running": "继续运行",
        "stop": "停止",
        "invalid": "无效（SRM）",
        "worse": "转化率显著更差（{points}，{p}）",
        "unreachable": "{max_days} 天内无法检测 ±{mde} 的提升（约需 {days} 天）",
        "action_ship": "全量上线 {experiment} 的 {variant}：转化率 {points}（{rate} vs {control_rate}），{p}",
        "action_fix": "修复 {experiment} 的分流（实际 {split}，计划 {planned}，SRM {p}）后重新开始实验",
        "action_stop": "停止 {experiment}：{variant} {reason}",
        "action_keep": "{experiment} 继续运行：约还需 {days} 天才能检测 ±{mde} 的提升",
        "no_table": "仓库中没有 raw_experiments 表：本周无 A/B 测试结果（请将实验数据写入 raw_experiments）",
        "no_rows": "{start} 至 {end} 没有 A/B 测试数据：raw_experiments 本周没有记录",
        "one_variant": "实验 {experiment} 只有一个分组（{variant}）：无从比较",
        "no_control": "实验 {experiment} 没有配置的对照组 {control}",
        "partial_revenue": "实验 {experiment} 部分日期缺少收入数据：未比较收入",
    },
    "en": {
        "title": "A/B tests",
        "line": "• *{experiment}* ({days} days): {parts}",
        "part": "{variant} vs {control}: conversion {rate} vs {control_rate} ({points}; lift {lift}, "
                "{level} CI {ci_low} to {ci_high}; {p}; chance to win {chance})",
        "verdict": " → *{verdict}*",
        "revenue": ", revenue per user {value} vs {control_value} ({lift}, {p})",
        "more_days": "; about {days} more days at this traffic to detect a ±{mde} lift",
        "srm_line": "• :warning: *{experiment}* ({days} days): sample ratio mismatch (SRM): {users}, "
                    "planned {planned} ({p}); no verdict until the assignment is fixed",
        "users": "{variant} {n:,} users",
        "ship": "ship {variant}",
        "keep_running": "keep running",
        "stop": "stop",
        "invalid": "invalid (SRM)",
        "worse": "converts significantly worse ({points}, {p})",
        "unreachable": "cannot detect a ±{mde} lift within {max_days} days (needs about {days})",
        "action_ship": "Roll out {variant} of {experiment}: {points} conversion rate ({rate} vs {control_rate}), {p}",
        "action_fix": "Fix the traffic split of {experiment} ({split} instead of the planned {planned}, SRM {p}) "
                      "and restart it",
        "action_stop": "Stop {experiment}: {variant} {reason}",
        "action_keep": "Keep {experiment} running: about {days} more days to detect a ±{mde} lift",
        "no_table": "No raw_experiments table in the warehouse: no A/B test results this week "
                    "(load experiments into raw_experiments)",
        "no_rows": "No A/B test data from {start} to {end}: raw_experiments has no rows this week",
        "one_variant": "Experiment {experiment} has one variant only ({variant}): nothing to compare",
        "no_control": "Experiment {experiment} has no variant {control}, its configured control",
        "partial_revenue": "Experiment {experiment} lacks revenue on some days: revenue not compared",
    },
}


@dataclass(frozen=True)
class ExperimentTotals:
    """One experiment's totals as the warehouse has them up to the week's end."""

    experiment: str
    variants: tuple[VariantTotals, ...]
    days: int
    first_ds: date
    last_ds: date
    partial_revenue: bool  # some day has no revenue: revenue left out


def experiment_totals(engine: sa.engine.Engine, start: date, end: date) -> list[ExperimentTotals] | None:
    """The experiments with data in [start, end), each summed over its days before ``end``
    (``sql/weekly/experiment_totals.sql``); None when the warehouse has no raw_experiments."""
    if not sa.inspect(engine).has_table("raw_experiments"):
        return None
    with engine.connect() as conn:
        rows = run_sql(conn, "weekly/experiment_totals", start=start, end=end)
    out: list[ExperimentTotals] = []
    for name in dict.fromkeys(r["experiment"] for r in rows):
        mine = [r for r in rows if r["experiment"] == name]
        complete = all(int(r["revenue_days"] or 0) == int(r["days"]) for r in mine)
        partial = not complete and any(int(r["revenue_days"] or 0) for r in mine)
        variants = tuple(VariantTotals(
            str(r["variant"]), int(r["users"]), int(r["conversions"]),
            float(r["revenue_sum"]) if complete else None,
            float(r["revenue_sum_squares"]) if complete else None) for r in mine)
        out.append(ExperimentTotals(name, variants, max(int(r["days"]) for r in mine),
                                    min(as_date(r["first_ds"]) for r in mine),
                                    max(as_date(r["last_ds"]) for r in mine), partial))
    return out


def _text(locale: str) -> dict[str, str]:
    try:
        return TEXT[locale]
    except KeyError:
        raise ValueError(f"unsupported locale {locale!r}; expected one of {', '.join(TEXT)}") from None


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _split(values: Sequence[float]) -> str:
    total = sum(values)
    return "/".join(f"{round(100 * v / total):d}" for v in values) if total else "-"


def _money(value: float) -> str:
    return f"¥{value:,.2f}"


def section_from_results(results: Sequence[ExperimentResult], locale: str, cfg: AbTestConfig,
                         findings: Sequence[str] = ()) -> WeeklySection:
    """The weekly section of analysed experiments: one line per experiment, the actions."""
    s = _text(locale)
    lines: list[str] = []
    actions: list[NextAction] = []
    level = f"{round((1 - cfg.alpha) * 100):d}%"
    for result in results:
        name = data_text(result.experiment)
        days = result.days if result.days is not None else "?"
        if result.srm:
            users = "、" if locale == "zh-CN" else " / "
            users = users.join(s["users"].format(variant=data_text(v), n=n) for v, n in result.users.items())
            lines.append(s["srm_line"].format(experiment=name, days=days, users=users,
                                              planned=_split(result.weights), p=_p_text(result.srm_p)))
            actions.append(NextAction(s["action_fix"].format(
                experiment=name, split=_split(list(result.users.values())), planned=_split(result.weights),
                p=_p_text(result.srm_p)), priority=1))
            continue
        parts = []
        for v in result.variants:
            freq, bayes = v.conversion.frequentist, v.conversion.bayesian
            variant = data_text(v.variant)
            points = signed_points(v.rate - v.control_rate, locale)
            label = s[v.verdict].format(variant=variant)
            part = s["part"].format(
                variant=variant, control=data_text(v.control), rate=_pct(v.rate), control_rate=_pct(v.control_rate),
                points=points, lift=signed_pct(freq.lift), level=level, ci_low=signed_pct(freq.ci_low),
                ci_high=signed_pct(freq.ci_high), p=_p_text(freq.p_value), chance=_pct(bayes.chance_to_win))
            if v.revenue is not None:
                part += s["revenue"].format(value=_money(v.revenue_per_user),
                                            control_value=_money(v.control_revenue_per_user),
                                            lift=signed_pct(v.revenue.frequentist.lift),
                                            p=_p_text(v.revenue.frequentist.p_value))
            part += s["verdict"].format(verdict=label)
            more = None
            if v.verdict == "keep_running" and v.power is not None and v.power.days_needed is not None and result.days:
                more = max(v.power.days_needed - result.days, 1)
                part += s["more_days"].format(days=more, mde=_pct(v.power.target_mde))
            parts.append(part)
            if v.verdict == "ship":
                actions.append(NextAction(s["action_ship"].format(
                    variant=variant, experiment=name, points=points, rate=_pct(v.rate),
                    control_rate=_pct(v.control_rate), p=_p_text(freq.p_value)), priority=1))
            elif v.verdict == "stop":
                if freq.p_value < cfg.alpha and freq.lift < 0:
                    reason = s["worse"].format(points=points, p=_p_text(freq.p_value))
                else:
                    reason = s["unreachable"].format(mde=_pct(v.power.target_mde), max_days=v.power.max_days,
                                                     days=v.power.days_needed)
                actions.append(NextAction(s["action_stop"].format(experiment=name, variant=variant, reason=reason),
                                          priority=2))
            elif more is not None:
                actions.append(NextAction(s["action_keep"].format(experiment=name, days=more,
                                                                  mde=_pct(v.power.target_mde)), priority=3))
        lines.append(s["line"].format(experiment=name, days=days, parts="；".join(parts) if locale == "zh-CN"
                                      else "; ".join(parts)))
    data = {"experiments": [{
        "experiment": r.experiment, "control": r.control, "days": r.days, "users": r.users,
        "srm_p": r.srm_p, "srm": r.srm, "variants": [v.record() for v in r.variants]} for r in results]}
    return WeeklySection(key="abtest", title=s["title"], lines=tuple(lines),
                         actions=tuple(sorted(actions, key=lambda a: a.priority)), findings=tuple(findings), data=data)


def settings(cfg: Any) -> AbTestConfig:
    """``weekly.abtest`` of the config, or the defaults."""
    value = getattr(getattr(cfg, "weekly", None), "abtest", None)
    if isinstance(value, dict):
        return AbTestConfig(**value)
    return value or AbTestConfig()


def weekly_section(ctx: WeeklyContext) -> WeeklySection:
    """The A/B section of the week ``ctx.period``: every experiment with data that week, its
    totals up to the week's end, verdicts and actions. No table or no experiments: a finding."""
    cfg = settings(ctx.cfg)
    s = _text(ctx.locale)
    start, end = ctx.period.start, ctx.period.end
    totals = experiment_totals(ctx.engine, start, end)
    if totals is None:
        return section_from_results([], ctx.locale, cfg, [s["no_table"]])
    if not totals:
        last = end - timedelta(days=1)
        return section_from_results([], ctx.locale, cfg, [s["no_rows"].format(start=start.isoformat(),
                                                                               end=last.isoformat())])
    findings: list[str] = []
    results: list[ExperimentResult] = []
    for exp in totals:
        name = data_text(exp.experiment)
        if len(exp.variants) < 2:
            findings.append(s["one_variant"].format(experiment=name, variant=data_text(exp.variants[0].variant)))
            continue
        control = cfg.controls.get(exp.experiment)
        if control is not None and control not in {v.variant for v in exp.variants}:
            findings.append(s["no_control"].format(experiment=name, control=data_text(control)))
            continue
        if exp.partial_revenue:
            findings.append(s["partial_revenue"].format(experiment=name))
        results.append(analyse_experiment(exp.experiment, exp.variants, cfg, days=exp.days))
    return section_from_results(results, ctx.locale, cfg, findings)
