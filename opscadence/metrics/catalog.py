"""The metric catalog: every KPI formula, written once.

SQL (``sql/kpi/*_measures.sql`` and ``sql/kpi/session_facts.sql``, run by :mod:`opscadence.analytics.daily.kpis`)
computes additive *measures* per ds × dimension for a range of days;
each KPI here is a measure or a ratio of two measures. Rates keep their numerator and
denominator so they can be judged against their volume. Documented in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

Unit = Literal["count", "ratio", "currency", "seconds"]


@dataclass(frozen=True)
class MetricDef:
    name: str
    label_en: str
    label_zh: str
    unit: Unit
    numerator: str
    denominator: str | None = None
    higher_is_better: bool = True
    packs: tuple[str, ...] = ("ecommerce", "social")
    headline: bool = False

    def label(self, locale: str) -> str:
        return self.label_zh if locale == "zh-CN" else self.label_en

    def tables(self) -> frozenset[str]:
        """The raw tables its measures count (a KPI no source can feed is unavailable)."""
        measures = [self.numerator] + ([self.denominator] if self.denominator else [])
        return frozenset(MEASURE_TABLE[m] for m in measures)

    @property
    def is_rate(self) -> bool:
        """A share of a whole (unit ``ratio``): its changes are told in percentage points, not
        relative percent. AOV and seconds per user are ratios of measures but amounts, not rates."""
        return self.unit == "ratio"

    def compute(self, measures: Mapping[str, float | None]) -> tuple[float | None, float | None, float | None]:
        """Return ``(value, numerator, denominator)`` from a row of measures."""
        num = measures.get(self.numerator)
        if self.denominator is None:
            return (None if num is None else float(num)), None, None
        den = measures.get(self.denominator)
        if num is None or den is None:
            return None, num, den
        value = float(num) / float(den) if den else None
        return value, float(num), float(den)


# The raw table each measure counts (events: visitors, sessions and their steps; orders: paid
# orders and their buyers; …). The SQL that computes a measure reads its table (a test checks
# it against the SQL files); other tables it joins only refine a dimension (region from users).
MEASURE_TABLE: dict[str, str] = {
    **dict.fromkeys(("active_visitors", "mau_visitors", "sessions", "bounced_sessions", "product_viewers",
                     "cart_adders", "checkout_users", "engagement_seconds", "sharers"), "events"),
    "new_users": "users",
    **dict.fromkeys(("paid_orders", "gmv", "paying_users", "repeat_paying_users"), "orders"),
    **dict.fromkeys(("payment_attempts", "payment_successes"), "payments"),
    **dict.fromkeys(("ad_impressions", "ad_clicks", "ad_cost"), "ad_spend"),
}

_BOTH = ("ecommerce", "social")
_SHOP = ("ecommerce",)
_SOCIAL = ("social",)

CATALOG: dict[str, MetricDef] = {
    m.name: m
    for m in [
        MetricDef("dau", "DAU", "日活 DAU", "count", "active_visitors", packs=_BOTH, headline=True),
        MetricDef("mau", "MAU (30d)", "月活 MAU(30天)", "count", "mau_visitors", packs=_BOTH),
        MetricDef("stickiness", "Stickiness (DAU/MAU)", "粘性 DAU/MAU", "ratio", "active_visitors", "mau_visitors",
                  packs=_BOTH, headline=True),
        MetricDef("new_users", "New users", "新增用户", "count", "new_users", packs=_BOTH, headline=True),
        MetricDef("registration_conversion", "Registration conversion", "注册转化率", "ratio", "new_users",
                  "active_visitors", packs=_BOTH),
        MetricDef("paying_users", "Paying users", "付费用户", "count", "paying_users", packs=_SHOP),
        MetricDef("paying_rate", "Paying rate", "付费率", "ratio", "paying_users", "active_visitors", packs=_SHOP,
                  headline=True),
        MetricDef("repurchase_rate", "Repurchase rate (90d)", "复购率(90天)", "ratio", "repeat_paying_users",
                  "paying_users", packs=_SHOP, headline=True),
        MetricDef("bounce_rate", "Bounce rate", "跳出率", "ratio", "bounced_sessions", "sessions",
                  higher_is_better=False, packs=_BOTH, headline=True),
        MetricDef("add_to_cart_conversion", "Add-to-cart conversion", "加购转化率", "ratio", "cart_adders",
                  "product_viewers", packs=_SHOP, headline=True),
        MetricDef("orders", "Orders", "订单数", "count", "paid_orders", packs=_SHOP, headline=True),
        MetricDef("gmv", "GMV", "GMV 成交额", "currency", "gmv", packs=_SHOP, headline=True),
        MetricDef("aov", "AOV", "客单价", "currency", "gmv", "paid_orders", packs=_SHOP, headline=True),
        MetricDef("payment_success_rate", "Payment success rate", "支付成功率", "ratio", "payment_successes",
                  "payment_attempts", packs=_SHOP, headline=True),
        MetricDef("ad_ctr", "Ad CTR", "广告点击率", "ratio", "ad_clicks", "ad_impressions", packs=_BOTH),
        MetricDef("ad_cost", "Ad spend", "广告花费", "currency", "ad_cost", higher_is_better=False, packs=_BOTH),
        MetricDef("avg_interaction_seconds", "Avg interaction time per DAU", "人均互动时长", "seconds",
                  "engagement_seconds", "active_visitors", packs=_SOCIAL, headline=True),
        MetricDef("share_rate", "Share rate", "分享率", "ratio", "sharers", "active_visitors", packs=_SOCIAL,
                  headline=True),
    ]
}


VERTICALS = _BOTH
# The brief reads feedback (urgent complaints) whatever the pack.
BRIEF_TABLES = ("feedback",)


def required_tables(vertical: str) -> tuple[str, ...]:
    """The raw tables the vertical's daily run reads: those its pack's measures count
    (:data:`MEASURE_TABLE`), and the brief's feedback. The social pack reads no orders; a
    vertical's demo writes only these, the others stay empty."""
    tables = {t for m in metrics_for(vertical) for t in m.tables()} | set(BRIEF_TABLES)
    return tuple(t for t in ("users", "events", "orders", "payments", "ad_spend", "feedback") if t in tables)


def is_rate(metric: str) -> bool:
    """Whether ``metric`` is a rate of the catalogue (an unknown name is not)."""
    m = CATALOG.get(metric)
    return m is not None and m.is_rate


def metrics_for(vertical: str) -> list[MetricDef]:
    return [m for m in CATALOG.values() if vertical in m.packs]


def headline_metrics(vertical: str) -> list[MetricDef]:
    return [m for m in metrics_for(vertical) if m.headline]


def unavailable_metrics(vertical: str, provided: Collection[str]) -> dict[str, tuple[str, ...]]:
    """The vertical's KPIs that need a raw table no source provides: metric → missing tables."""
    out = {}
    for metric in metrics_for(vertical):
        missing = tuple(sorted(metric.tables() - set(provided)))
        if missing:
            out[metric.name] = missing
    return out


def compute_metrics(measures: Mapping[str, float | None], vertical: str) -> dict[str, tuple[float | None, float | None, float | None]]:
    """All KPIs of the vertical's pack from one row of measures (missing measures give None)."""
    return {m.name: m.compute(measures) for m in metrics_for(vertical) if m.numerator in measures}
