"""The weekly pain-point list (《用户痛点清单》) and the unhappy customers to win back.

Feedback that asks for improvement (rated at most :attr:`PainPointConfig.pain_max_rating`, or not
rated) is sorted into categories by keyword rules, Chinese and English. **Each text lands in one
category: the first rule, in configured order, with a keyword in it** (the order is the priority:
specific categories such as payment come before catch-all ones such as performance, whose
"失败"/"fail" would otherwise take "支付失败"). So the categories' counts add up to the week's
pain feedback, and "other" is exactly what no rule matched. Matching ignores case; a keyword that
starts with a Latin letter or digit must start a word (``pay`` matches "payment", not
"display"), any other keyword matches anywhere (Chinese has no spaces between words).

The week's ranking compares each category's count with last week's. A category is urgent when it
at least doubled (``count >= urgent_growth x previous`` and ``count >= urgent_min_count``) or when
an alert on one of its metrics (payment → ``payment_success_rate``) fired in the week and the
category has feedback. Each category keeps up to three representative quotes (its most frequent
texts), masked (:func:`~opscadence.core.privacy.mask_pii`) and truncated.

Customers who rated the week 2 or less are listed to compensate and invite to a beta: in Slack
by pseudonym only (:func:`~opscadence.core.privacy.pseudonym`), with their real ids in a CSV under
``OPSCADENCE_HOME/exports/`` readable by its owner only.

The functions on frames are pure; :func:`weekly_section` reads the warehouse, writes
``mart_weekly_painpoints`` and the export, and renders the section.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import Connection, Engine

from opscadence.analytics.weekly.sections import NextAction, WeeklyContext, WeeklySection
from opscadence.core.csvsafe import safe_frame
from opscadence.core.periods import Period
from opscadence.core.privacy import (config_pseudonym_key, escape_mrkdwn, mask_pii, pseudonym, truncate,
                                     write_private_file)
from opscadence.core.sqlfiles import read_sql_frame
from opscadence.metrics.catalog import CATALOG
from opscadence.reporting.i18n import metric_label
from opscadence.warehouse.schema import mart_weekly_painpoints

__all__ = [
    "CATEGORY_OTHER",
    "CategoryRule",
    "Localised",
    "PainPointConfig",
    "Unhappy",
    "categorise",
    "default_categories",
    "export_unhappy",
    "link_alerts",
    "load_week_alerts",
    "load_week_feedback",
    "mart_rows",
    "pain_feedback",
    "rank_week",
    "representative_quotes",
    "settings_of",
    "unhappy_customers",
    "weekly_section",
    "write_painpoints",
]

CATEGORY_OTHER = "other"
# Metrics a category may link to: the catalogue's, and the watch's urgent-feedback count.
_LINKABLE_METRICS = frozenset({*CATALOG, "urgent_feedback"})


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Localised(_Strict):
    """One text per locale (the config file writes the keys ``zh-CN`` and ``en``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    zh_cn: str = Field(alias="zh-CN", min_length=1, max_length=300)
    en: str = Field(min_length=1, max_length=300)

    def text(self, locale: str) -> str:
        return self.zh_cn if locale == "zh-CN" else self.en


class CategoryRule(_Strict):
    """A pain-point category: the keywords that put a text in it, its labels, the metrics whose
    alerts make it urgent, and next week's suggested action."""

    category: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)
    keywords_zh: list[str] = Field(default_factory=list)
    keywords_en: list[str] = Field(default_factory=list)
    labels: Localised
    metrics: list[str] = Field(default_factory=list)
    action: Localised | None = None

    @field_validator("keywords_zh", "keywords_en")
    @classmethod
    def _no_blank_keyword(cls, value: list[str]) -> list[str]:
        stripped = [k.strip() for k in value]
        if any(not k for k in stripped):
            raise ValueError("a keyword is blank (it would match every text)")
        return stripped

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in _LINKABLE_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(sorted(_LINKABLE_METRICS))}")
        return value

    @model_validator(mode="after")
    def _has_keywords(self) -> "CategoryRule":
        if self.category == CATEGORY_OTHER:
            raise ValueError(f"{CATEGORY_OTHER!r} is what no rule matches; name the category otherwise")
        if not self.keywords_zh and not self.keywords_en:
            raise ValueError(f"category {self.category!r} has no keyword in keywords_zh or keywords_en")
        return self

    @property
    def keywords(self) -> list[str]:
        return [*self.keywords_zh, *self.keywords_en]


def _rule(category: str, zh: str, en: str, keywords_zh: list[str], keywords_en: list[str],
          action_zh: str, action_en: str, metrics: Sequence[str] = ()) -> CategoryRule:
    return CategoryRule(category=category, keywords_zh=keywords_zh, keywords_en=keywords_en,
                        labels=Localised(zh_cn=zh, en=en), metrics=list(metrics),
                        action=Localised(zh_cn=action_zh, en=action_en))


def default_categories() -> list[CategoryRule]:
    """The built-in rules, in priority order. They cover the demo shop's feedback texts
    (:mod:`opscadence.demo.feedback`) and the default ``urgent_keywords``; ``product`` (size,
    colour, quality) is added to the seven named categories, as the demo's complaints about the
    goods themselves would otherwise all be "other"."""
    return [
        _rule("payment", "支付", "Payment",
              ["支付", "付款", "扣款", "扣费", "扣钱", "钱扣了", "收银台", "支付宝", "微信支付", "银行卡", "信用卡", "花呗"],
              ["payment", "pay", "paid", "charged", "double charge", "alipay", "wechat pay", "card declined",
               "credit card", "bank card"],
              "排查支付链路（支付渠道、错误码），逐一回复扣款未出单的用户",
              "trace the payment path (provider, error codes) and answer every user charged without an order",
              ["payment_success_rate"]),
        _rule("account", "登录与账号", "Login & account",
              ["账号", "帐号", "账户", "帐户", "登录", "登陆", "注册", "密码", "验证码", "封号", "被封", "盗号", "实名"],
              ["account", "login", "log in", "logged out", "sign in", "signin", "sign up", "password",
               "verification code", "banned", "hacked", "locked out"],
              "核查封号与登录失败的原因，为误封的用户解封",
              "review the bans and login failures; restore wrongly banned accounts",
              ["registration_conversion", "new_users"]),
        _rule("refund", "退款与售后", "Refunds & after-sales",
              ["退款", "退货", "换货", "售后", "客服", "投诉", "维修", "保修", "退钱", "到账", "理赔"],
              ["refund", "return", "exchange", "customer service", "support", "after-sales", "after sales",
               "warranty", "repair", "complain"],
              "缩短退款和客服响应时间，清理积压工单",
              "shorten refund and support response times; clear the ticket backlog"),
        _rule("logistics", "物流", "Logistics",
              ["物流", "快递", "发货", "配送", "送货", "收货", "到货", "包装", "破损", "派送", "签收", "运费", "丢件"],
              ["deliver", "shipping", "shipped", "shipment", "courier", "package", "packaging", "parcel",
               "arrived", "damaged", "tracking", "lost in transit"],
              "与快递商复盘时效与破损，必要时更换线路",
              "review delivery times and damage with the carriers; change routes where needed"),
        _rule("pricing", "价格与优惠", "Pricing & promotions",
              ["价格", "太贵", "贵了", "很贵", "便宜", "优惠", "券", "折扣", "满减", "降价", "差价", "价保", "涨价", "性价比", "红包"],
              ["price", "pricing", "expensive", "overpriced", "overcharg", "coupon", "discount", "promo",
               "voucher", "cheaper"],
              "检查优惠券能否使用，简化满减与活动规则",
              "check that coupons work and simplify the promotion rules"),
        _rule("product", "商品质量与描述", "Product quality & description",
              ["尺码", "尺寸", "色差", "颜色", "质量", "做工", "划痕", "描述不符", "图片不符", "假货", "过期", "材质",
               "起球", "掉色", "异味"],
              ["size", "colour", "color", "quality", "fake", "not as described", "scratch", "defect", "fit"],
              "核对尺码表、商品图与实物，更新详情页",
              "check size charts and photos against the goods; update the listings"),
        _rule("performance", "性能与闪退", "Performance & crashes",
              ["卡顿", "有点卡", "很卡", "太卡", "好卡", "卡死", "卡住", "闪退", "崩溃", "白屏", "黑屏", "打不开", "加载",
               "死机", "报错", "出错", "失败", "没反应", "无响应", "超时", "耗电", "发烫", "无法", "慢"],
              ["crash", "freez", "frozen", "lag", "slow", "loading", "error", "bug", "glitch", "hang",
               "not responding", "does nothing", "not working", "doesn't work", "fail", "timeout", "timing out",
               "battery", "drain", "unable to", "cannot open", "can't open", "cannot load", "can't load"],
              "技术排查卡顿与闪退（版本、机型），发布修复",
              "have engineering trace the slowdowns and crashes (app version, device) and ship a fix",
              ["bounce_rate", "share_rate"]),
        _rule("ux", "复杂度与体验", "Complexity & UX",
              ["复杂", "麻烦", "找不到", "不方便", "难用", "界面", "操作", "搜索", "步骤", "繁琐", "看不懂", "不会用",
               "排序", "筛选", "通知"],
              ["complicat", "confus", "hard to", "difficult", "can't find", "cannot find", "search", "interface",
               "navigat", "too many steps", "user-friendly", "user friendly", "dark mode", "sort", "filter",
               "notification"],
              "梳理用户抱怨的操作步骤，优化搜索与界面",
              "map the steps users complain about; improve search and navigation",
              ["add_to_cart_conversion"]),
    ]


class PainPointConfig(_Strict):
    """``weekly.painpoints`` of the configuration."""

    # In priority order: a text goes to the first rule with a keyword in it.
    categories: list[CategoryRule] = Field(default_factory=default_categories, min_length=1)
    # Feedback rated above this is praise, not a pain point; unrated feedback always counts.
    pain_max_rating: int | None = Field(3, ge=1)
    unhappy_max_rating: int = Field(2, ge=1)  # customers to compensate and invite to the beta
    urgent_growth: float = Field(2.0, gt=1)  # urgent when this many times last week's count ...
    urgent_min_count: int = Field(5, ge=1)  # ... and at least this many this week
    quotes_per_category: int = Field(3, ge=0, le=3)
    quote_chars: int = Field(120, ge=20, le=500)
    shown_categories: int = Field(5, ge=1, le=20)  # categories the section lists
    shown_customers: int = Field(5, ge=0, le=20)  # pseudonyms the section lists
    # The section suggests new keywords when more than this share of pain feedback is "other".
    other_share_warning: float = Field(0.25, gt=0, le=1)

    @model_validator(mode="after")
    def _distinct_categories(self) -> "PainPointConfig":
        seen: set[str] = set()
        for rule in self.categories:
            if rule.category in seen:
                raise ValueError(f"category {rule.category!r} appears twice; each category has one rule")
            seen.add(rule.category)
        return self

    def rule(self, category: str) -> CategoryRule | None:
        return next((r for r in self.categories if r.category == category), None)


def settings_of(cfg: Any) -> PainPointConfig:
    """``cfg.weekly.painpoints``, or the defaults when the configuration has none."""
    return getattr(getattr(cfg, "weekly", None), "painpoints", None) or PainPointConfig()


# ---------------------------------------------------------------------------
# Categorisation
# ---------------------------------------------------------------------------


_LATIN_START = re.compile(r"[a-z0-9]")


def _patterns(keywords: Sequence[str]) -> list[re.Pattern[str]]:
    """A rule's regexes, on lowercased text: one alternation of its other keywords, and one of its
    Latin ones behind a single word-start check. Kept apart so each alternation starts with
    literals, which lets ``re`` skip positions by their first character (5x faster than a
    look-behind on every alternative, measured in benchmarks/painpoints_benchmark.py)."""
    lowered = sorted({k.lower() for k in keywords}, key=len, reverse=True)
    latin = [k for k in lowered if _LATIN_START.match(k)]
    other = [k for k in lowered if not _LATIN_START.match(k)]
    patterns = []
    if other:
        patterns.append(re.compile("|".join(map(re.escape, other))))
    if latin:
        patterns.append(re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, latin)) + ")"))
    return patterns


def categorise(texts: pd.Series, rules: Sequence[CategoryRule]) -> pd.Series:
    """The category of each text: the first rule (in order) with a keyword in it, else "other".

    Missing and blank texts are "other". The result has ``texts``' index. Each distinct text is
    matched once, against the rules it has not matched yet.
    """
    values = texts.astype(object).where(texts.notna(), "").astype(str)
    distinct = pd.unique(values.to_numpy(dtype=object))
    lowered = np.array([t.lower() for t in distinct], dtype=object)
    found = np.full(len(distinct), CATEGORY_OTHER, dtype=object)
    open_ = np.arange(len(distinct))
    for rule in rules:
        patterns = _patterns(rule.keywords)
        hit = np.fromiter((any(p.search(t) for p in patterns) for t in lowered[open_]), dtype=bool, count=len(open_))
        found[open_[hit]] = rule.category
        open_ = open_[~hit]
    by_text = dict(zip(distinct, found))
    return pd.Series([by_text[t] for t in values], index=texts.index, dtype=object)


def pain_feedback(feedback: pd.DataFrame, settings: PainPointConfig) -> pd.DataFrame:
    """The feedback that asks for improvement, with its ``category``: rated at most
    ``pain_max_rating`` (or not rated) and with some text (a bare rating names no topic)."""
    rating = pd.to_numeric(feedback["rating"], errors="coerce")
    keep = feedback["text"].notna() & (feedback["text"].astype(str).str.strip() != "")
    if settings.pain_max_rating is not None:
        keep &= rating.isna() | (rating <= settings.pain_max_rating)
    out = feedback.loc[keep].copy()
    out["category"] = categorise(out["text"], settings.categories)
    return out


# ---------------------------------------------------------------------------
# Alerts linked to categories
# ---------------------------------------------------------------------------


def link_alerts(alerts: pd.DataFrame, rules: Sequence[CategoryRule]) -> dict[str, list[dict[str, Any]]]:
    """Category → the week's alerts on its metrics, one per rule × dimension value (its first
    day), ordered by day and severity, the dimension value masked. ``alerts`` has the columns
    metric, rule_id, severity, dimension, dimension_value and ``day`` (shop-calendar date of the
    breach or firing)."""
    linked: dict[str, list[dict[str, Any]]] = {}
    if alerts.empty:
        return linked
    ordered = alerts.sort_values(["day", "severity", "rule_id", "dimension_value"], kind="stable")
    first = ordered.drop_duplicates(["rule_id", "metric", "dimension", "dimension_value"], keep="first")
    for rule in rules:
        mine = first[first["metric"].isin(rule.metrics)]
        if not mine.empty:
            linked[rule.category] = [
                {"metric": str(r.metric), "rule_id": str(r.rule_id), "severity": str(r.severity),
                 # a dimension value is whatever someone typed into a UTM tag: masked like feedback
                 "dimension": str(r.dimension), "dimension_value": mask_pii(str(r.dimension_value)),
                 "day": pd.Timestamp(r.day).date().isoformat()}
                for r in mine.itertuples(index=False)
            ]
    return linked


# ---------------------------------------------------------------------------
# The week's ranking
# ---------------------------------------------------------------------------


def rank_week(
    this_week: pd.DataFrame,
    last_week: pd.DataFrame | None,
    settings: PainPointConfig,
    linked: Mapping[str, list[dict[str, Any]]] | None = None,
) -> pd.DataFrame:
    """One row per category (every configured one, then "other"): count, previous_count,
    change, rank (by count), change_rank (by change), urgent and why, linked_alerts.

    ``this_week``/``last_week`` are :func:`pain_feedback` frames; ``last_week=None`` means last
    week has no feedback at all: its counts are unknown (null), not zero, and only an alert can
    make a category urgent. Ties rank by change, then by the rules' order; "other" ranks last.
    """
    linked = linked or {}
    order = [r.category for r in settings.categories] + [CATEGORY_OTHER]
    counts = this_week["category"].value_counts().reindex(order, fill_value=0).astype(int)
    frame = pd.DataFrame({"category": order, "count": counts.to_numpy()})
    if last_week is None:
        frame["previous_count"] = pd.array([pd.NA] * len(order), dtype="Int64")
    else:
        previous = last_week["category"].value_counts().reindex(order, fill_value=0).astype(int)
        frame["previous_count"] = pd.array(previous.to_numpy(), dtype="Int64")
    frame["change"] = (frame["count"] - frame["previous_count"]).astype("Int64")
    frame["priority"] = range(len(order))
    frame["is_other"] = frame["category"] == CATEGORY_OTHER
    # change unknown sorts after every known change
    change_key = frame["change"].astype("Float64").fillna(float("-inf")).astype(float)
    by_count = frame.assign(_c=-frame["count"], _d=-change_key).sort_values(["is_other", "_c", "_d", "priority"])
    frame.loc[by_count.index, "rank"] = range(1, len(order) + 1)
    by_change = frame.assign(_d=-change_key, _c=-frame["count"]).sort_values(["is_other", "_d", "_c", "priority"])
    frame.loc[by_change.index, "change_rank"] = range(1, len(order) + 1)
    frame[["rank", "change_rank"]] = frame[["rank", "change_rank"]].astype(int)
    known = frame["previous_count"].notna()
    previous = frame["previous_count"].astype("Float64").fillna(0).astype(float)
    growth = (known & (frame["count"] >= settings.urgent_min_count)
              & (frame["count"] >= settings.urgent_growth * previous)).astype(bool)
    frame["linked_alerts"] = [list(linked.get(c, [])) for c in order]
    alert = (frame["linked_alerts"].map(bool) & (frame["count"] >= 1)).astype(bool)
    frame["urgent"] = growth | alert
    frame["urgent_reason"] = [
        ",".join(reason for reason, on in (("growth", g), ("alert", a)) if on) or None
        for g, a in zip(growth, alert)
    ]
    return frame.drop(columns=["priority", "is_other"]).sort_values("rank").reset_index(drop=True)


def representative_quotes(pain: pd.DataFrame, per_category: int = 3, chars: int = 120) -> dict[str, list[str]]:
    """Category → up to ``per_category`` quotes: its most frequent texts this week (the worst
    rated, then the earliest, first among equals), personal data masked, on one line, cut to
    ``chars``. Masked before they are compared, so two texts differing only by a phone number
    are one quote. Not escaped for Slack (the renderer escapes)."""
    if pain.empty or per_category == 0:
        return {}
    masked = pain["text"].astype(str).map(lambda t: truncate(" ".join(mask_pii(t[: chars * 10]).split()), chars))
    rating = pd.to_numeric(pain["rating"], errors="coerce")
    frame = pd.DataFrame({"category": pain["category"].to_numpy(), "quote": masked.to_numpy(),
                          "rating": rating.fillna(99).to_numpy(),
                          "created_at": pd.to_datetime(pain["created_at"]).to_numpy()})
    frame = frame[frame["quote"] != ""]
    grouped = (frame.groupby(["category", "quote"], sort=False)
               .agg(n=("quote", "size"), rating=("rating", "min"), created_at=("created_at", "min"))
               .reset_index()
               .sort_values(["category", "n", "rating", "created_at", "quote"],
                            ascending=[True, False, True, True, True]))
    return {c: g["quote"].head(per_category).tolist() for c, g in grouped.groupby("category", sort=False)}


def mart_rows(week: date, ranking: pd.DataFrame, quotes: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """``mart_weekly_painpoints`` rows of a :func:`rank_week` frame."""
    rows = []
    for r in ranking.itertuples(index=False):
        rows.append({
            "week": week, "category": r.category, "rank": int(r.rank), "change_rank": int(r.change_rank),
            "count": int(r.count),
            "previous_count": None if pd.isna(r.previous_count) else int(r.previous_count),
            "change": None if pd.isna(r.change) else int(r.change),
            "urgent": bool(r.urgent), "urgent_reason": r.urgent_reason,
            "linked_alerts": json.dumps(r.linked_alerts, ensure_ascii=False),
            "quotes": json.dumps(list(quotes.get(r.category, [])), ensure_ascii=False),
        })
    return rows


# ---------------------------------------------------------------------------
# Unhappy customers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Unhappy:
    """The week's unhappy customers: one row each (real ids: for the export only) and the low
    ratings that name nobody (they cannot be contacted)."""

    # customer_id, pseudonym, feedback_count, lowest_rating, last_feedback_at, categories, feedback_ids
    customers: pd.DataFrame
    without_customer: int


_UNHAPPY_COLUMNS = ["customer_id", "pseudonym", "feedback_count", "lowest_rating", "last_feedback_at", "categories",
                    "feedback_ids"]


def unhappy_customers(feedback: pd.DataFrame, settings: PainPointConfig, key: bytes) -> Unhappy:
    """Customers who rated at least once at most ``unhappy_max_rating`` in ``feedback`` (one
    week), worst first (lowest rating, then most such feedback, then the pseudonym).

    ``categories`` joins, with "|", the categories of their low-rated texts in the rules' order.
    """
    rating = pd.to_numeric(feedback["rating"], errors="coerce")
    low = feedback.loc[rating.notna() & (rating <= settings.unhappy_max_rating)].copy()
    low["rating"] = rating[low.index].astype(int)
    has_id = low["user_id"].notna() & (low["user_id"].astype(str).str.strip() != "")
    without = int((~has_id).sum())
    low = low.loc[has_id]
    if low.empty:
        return Unhappy(pd.DataFrame(columns=_UNHAPPY_COLUMNS), without)
    low["customer_id"] = low["user_id"].astype(str).str.strip()
    low["category"] = categorise(low["text"], settings.categories)
    order = {c: i for i, c in enumerate([r.category for r in settings.categories] + [CATEGORY_OTHER])}
    low["created_at"] = pd.to_datetime(low["created_at"])
    grouped = low.sort_values(["created_at", "feedback_id"]).groupby("customer_id", sort=False)
    customers = pd.DataFrame({
        "feedback_count": grouped.size(),
        "lowest_rating": grouped["rating"].min(),
        "last_feedback_at": grouped["created_at"].max(),
        "categories": grouped["category"].agg(lambda s: "|".join(sorted(set(s), key=order.__getitem__))),
        "feedback_ids": grouped["feedback_id"].agg(lambda s: "|".join(map(str, s))),
    }).reset_index()
    customers.insert(1, "pseudonym", customers["customer_id"].map(lambda c: pseudonym(c, key)))
    customers = customers.sort_values(["lowest_rating", "feedback_count", "pseudonym"],
                                      ascending=[True, False, True]).reset_index(drop=True)
    return Unhappy(customers[_UNHAPPY_COLUMNS], without)


def export_unhappy(customers: pd.DataFrame, exports_dir: Path, period: Period) -> Path:
    """Write the unhappy customers with their real ids to
    ``<exports_dir>/unhappy-customers-<week>.csv``, readable by its owner only (0600)."""
    buffer = io.StringIO()
    safe_frame(customers).to_csv(buffer, index=False, date_format="%Y-%m-%d %H:%M:%S")
    return write_private_file(Path(exports_dir) / export_name(period), buffer.getvalue().encode("utf-8"))


def export_name(period: Period) -> str:
    return f"unhappy-customers-{period.key}.csv"


# ---------------------------------------------------------------------------
# The warehouse
# ---------------------------------------------------------------------------


def load_week_feedback(conn: Connection, start: date, end: date) -> pd.DataFrame:
    """``raw_feedback`` rows with ds in ``[start, end)`` (sql/weekly/feedback_week.sql), typed:
    ds a date, created_at a timestamp, rating a float (NaN when missing)."""
    frame = read_sql_frame(conn, "weekly/feedback_week", start=start, end=end)
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    frame["rating"] = pd.to_numeric(frame["rating"], errors="coerce")
    return frame


def _utc_naive(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def load_week_alerts(conn: Connection, period: Period, tz: ZoneInfo) -> pd.DataFrame:
    """The alerts of ``period``: stored breaches with ds in the week (sql/weekly/alerts_week.sql)
    and alert episodes that fired in it (sql/weekly/alert_states_week.sql: the watch's alerts
    live only there), with ``day`` their shop-calendar date. One alert may appear in both:
    :func:`link_alerts` keeps its first day."""
    breaches = read_sql_frame(conn, "weekly/alerts_week", start=period.start, end=period.end)
    breaches["day"] = pd.to_datetime(breaches["ds"]).dt.date
    episodes = read_sql_frame(conn, "weekly/alert_states_week",
                              start=_utc_naive(period.start, tz), end=_utc_naive(period.end, tz))
    fired = pd.to_datetime(episodes["fired_at"])
    episodes["day"] = [ts.tz_localize(UTC).tz_convert(tz).date() for ts in fired] if len(fired) else []
    columns = ["metric", "rule_id", "severity", "dimension", "dimension_value", "kind", "day"]
    return pd.concat([breaches[columns], episodes[columns]], ignore_index=True)


def write_painpoints(engine: Engine, week: date, rows: Sequence[Mapping[str, Any]]) -> None:
    """Replace ``week``'s rows of ``mart_weekly_painpoints`` with ``rows``, in one transaction."""
    table = mart_weekly_painpoints
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.week == week))
        if rows:
            conn.execute(sa.insert(table), [dict(r) for r in rows])


# ---------------------------------------------------------------------------
# The section
# ---------------------------------------------------------------------------

_TEXT = {
    "zh-CN": {
        "title": "🧩 用户痛点清单（{week}）",
        "no_source": "未配置反馈数据源（raw_feedback），无法生成痛点清单",
        "no_feedback": "本周（{start} 至 {end}）没有任何用户反馈数据：痛点清单缺数据，不是零投诉",
        "no_previous": "上周没有任何用户反馈数据：环比未知，紧急只按告警判断",
        "summary": "本周待改进反馈 {pain} 条（评分 ≤ {max_rating} 或未评分，共 {total} 条反馈），上周 {previous}",
        "summary_unrated": "本周反馈 {pain} 条（共 {total} 条），上周 {previous}",
        "category": "{n}. {flag}*{label}* {count} 条（上周 {previous}，{change}）",
        "urgent_growth": "🚨 紧急：较上周至少翻倍",
        "urgent_alert": "🚨 紧急：本周有关联告警{alerts}",
        "urgent_both": "🚨 紧急：较上周至少翻倍，且有关联告警{alerts}",
        "quote": "    “{quote}”",
        "rising": "📈 增长最多：*{label}* {change}",
        "other": "{flag}未归类 {count} 条（{share}）",
        "unhappy": "😞 差评客户（评分 ≤ {max_rating}）{n} 位{shown}",
        "unhappy_none": "😞 本周没有评分 ≤ {max_rating} 的客户",
        "unhappy_shown": "：{names}",
        "unhappy_more": " 等",
        "unhappy_anonymous": "另有 {n} 条评分 ≤ {max_rating} 的反馈未关联客户 ID，无法联系",
        "export": "名单（含真实 ID，仅本机所有者可读）：{path}",
        "unknown": "未知",
        "sep": "，",
        "action_urgent": "*{label}*：本周 {count} 条（上周 {previous}）{why}；{action}",
        "why_growth": "，较上周至少翻倍",
        "why_alert": "，有{alerts}告警",
        "action_top": "*{label}* 居首：本周 {count} 条，占待改进反馈 {share}，{action}",
        "action_unhappy": "联系 {n} 位差评客户（评分 ≤ {max_rating}）：补偿并邀请参加内测，名单见 {file}",
        "action_other": "{count} 条待改进反馈（{share}）未归类：在 weekly.painpoints 中补充关键词",
        "action_default": "跟进该类反馈",
    },
    "en": {
        "title": "🧩 Customer pain points ({week})",
        "no_source": "no source provides feedback (raw_feedback): no pain-point list",
        "no_feedback": "no feedback at all this week ({start} to {end}): the pain-point list is missing data, "
                       "not free of complaints",
        "no_previous": "no feedback at all last week: the change is unknown; only alerts mark a category urgent",
        "summary": "{pain} feedback item(s) asking for improvement this week (rated ≤ {max_rating} or unrated, "
                   "of {total}), {previous} last week",
        "summary_unrated": "{pain} feedback item(s) this week (of {total}), {previous} last week",
        "category": "{n}. {flag}*{label}* {count} (last week {previous}, {change})",
        "urgent_growth": "🚨 urgent: at least doubled since last week",
        "urgent_alert": "🚨 urgent: linked alert(s) this week {alerts}",
        "urgent_both": "🚨 urgent: at least doubled since last week, with linked alert(s) {alerts}",
        "quote": "    “{quote}”",
        "rising": "📈 Rising most: *{label}* {change}",
        "other": "{flag}Uncategorised: {count} ({share})",
        "unhappy": "😞 {n} unhappy customer(s) (rated ≤ {max_rating}){shown}",
        "unhappy_none": "😞 No customer rated ≤ {max_rating} this week",
        "unhappy_shown": ": {names}",
        "unhappy_more": " …",
        "unhappy_anonymous": "{n} feedback item(s) rated ≤ {max_rating} name no customer id and cannot be followed up",
        "export": "The list (real ids, readable by its owner only): {path}",
        "unknown": "unknown",
        "sep": ", ",
        "action_urgent": "*{label}*: {count} this week (last week {previous}){why}: {action}",
        "why_growth": ", at least doubled",
        "why_alert": ", with the {alerts} alert(s)",
        "action_top": "*{label}* leads with {count} this week, {share} of the feedback asking for improvement: "
                      "{action}",
        "action_unhappy": "contact the {n} unhappy customer(s) (rated ≤ {max_rating}): compensate them and invite them "
                          "to the beta; the list is {file}",
        "action_other": "{count} feedback item(s) ({share}) fit no category: add keywords under weekly.painpoints",
        "action_default": "follow up this feedback",
    },
}


def _label(category: str, settings: PainPointConfig, locale: str) -> str:
    rule = settings.rule(category)
    if rule is not None:
        return escape_mrkdwn(rule.labels.text(locale))
    return "其他" if locale == "zh-CN" else "Other"


def _signed(n: int) -> str:
    return f"{n:+d}" if n else "±0"


def _change_text(count: int, previous: Any, t: Mapping[str, str]) -> str:
    if pd.isna(previous):
        return t["unknown"]
    previous = int(previous)
    text = _signed(count - previous)
    if previous > 0 and count != previous:
        text += f"{t['sep']}{(count - previous) / previous * 100:+.0f}%"
    return text


def _alerts_text(alerts: Sequence[Mapping[str, Any]], locale: str, limit: int = 3) -> str:
    parts = []
    for a in alerts[:limit]:
        label, _ = metric_label(str(a["metric"]), locale)
        parts.append(f"{label} {a['severity']} {a['day'][5:]}")
    more = len(alerts) - limit
    return "（" + "；".join(parts) + (f" +{more}" if more > 0 else "") + "）" if locale == "zh-CN" else \
        "(" + "; ".join(parts) + (f" +{more}" if more > 0 else "") + ")"


def _share(part: int, whole: int) -> str:
    return f"{part / whole * 100:.0f}%" if whole else "0%"


def weekly_section(ctx: WeeklyContext) -> WeeklySection:
    """The pain-point section of the weekly brief for ``ctx.period``; writes the week's rows of
    ``mart_weekly_painpoints`` and, when someone rated the week badly, the export of
    unhappy customers (real ids) under ``ctx.exports_dir``."""
    settings = settings_of(ctx.cfg)
    locale = ctx.locale
    t = _TEXT["zh-CN" if locale == "zh-CN" else "en"]
    title = t["title"].format(week=ctx.period.label(locale))
    provided = getattr(ctx.cfg, "provided_tables", None)
    if provided is not None and "feedback" not in provided:
        return WeeklySection("painpoints", title, (), findings=(t["no_source"],), data={"week": ctx.period.key})

    previous_period = ctx.period.previous()
    tz = ZoneInfo(getattr(ctx.cfg, "timezone", "Asia/Shanghai"))
    with ctx.engine.connect() as conn:
        feedback = load_week_feedback(conn, previous_period.start, ctx.period.end)
        alerts = load_week_alerts(conn, ctx.period, tz)
    in_week = feedback["ds"].map(lambda d: d in ctx.period)
    this_raw, last_raw = feedback.loc[in_week], feedback.loc[~in_week]
    if this_raw.empty:
        write_painpoints(ctx.engine, ctx.period.start, [])
        finding = t["no_feedback"].format(start=ctx.period.start.isoformat(), end=ctx.period.last_day.isoformat())
        return WeeklySection("painpoints", title, (), findings=(finding,),
                             data={"week": ctx.period.key, "total_feedback": 0})

    findings: list[str] = []
    this_week = pain_feedback(this_raw, settings)
    last_week = pain_feedback(last_raw, settings) if not last_raw.empty else None
    if last_week is None:
        findings.append(t["no_previous"])
    linked = link_alerts(alerts, settings.categories)
    ranking = rank_week(this_week, last_week, settings, linked)
    quotes = representative_quotes(this_week, settings.quotes_per_category, settings.quote_chars)
    write_painpoints(ctx.engine, ctx.period.start, mart_rows(ctx.period.start, ranking, quotes))

    unhappy = unhappy_customers(this_raw, settings, config_pseudonym_key(ctx.cfg))
    export = ctx.exports_dir / export_name(ctx.period)
    if len(unhappy.customers):
        export = export_unhappy(unhappy.customers, ctx.exports_dir, ctx.period)
    else:
        export.unlink(missing_ok=True)  # an earlier run's list for this week is no longer true

    pain, total = len(this_week), len(this_raw)
    previous_pain = t["unknown"] if last_week is None else f"{len(last_week):,}"
    summary = "summary" if settings.pain_max_rating is not None else "summary_unrated"
    lines = [t[summary].format(pain=f"{pain:,}", total=f"{total:,}", previous=previous_pain,
                               max_rating=settings.pain_max_rating)]
    named = ranking[ranking["category"] != CATEGORY_OTHER]
    shown = named[named["count"] > 0].head(settings.shown_categories)
    for n, r in enumerate(shown.itertuples(index=False), start=1):
        label = _label(r.category, settings, locale)
        previous = t["unknown"] if pd.isna(r.previous_count) else f"{int(r.previous_count):,}"
        lines.append(t["category"].format(n=n, flag="🚨 " if r.urgent else "", label=label, count=f"{r.count:,}",
                                          previous=previous, change=_change_text(r.count, r.previous_count, t)))
        if r.urgent:
            key = {"growth": "urgent_growth", "alert": "urgent_alert"}.get(r.urgent_reason, "urgent_both")
            lines.append("    " + t[key].format(alerts=_alerts_text(r.linked_alerts, locale)))
        lines += [t["quote"].format(quote=escape_mrkdwn(q)) for q in quotes.get(r.category, [])]
    rising = named[named["change"].notna() & (named["change"] > 0)].sort_values("change_rank").head(1)
    if len(rising) and len(shown) and rising.iloc[0]["category"] != shown.iloc[0]["category"]:
        lines.append(t["rising"].format(label=_label(rising.iloc[0]["category"], settings, locale),
                                        change=_signed(int(rising.iloc[0]["change"]))))
    other_row = ranking.loc[ranking["category"] == CATEGORY_OTHER].iloc[0]
    other = int(other_row["count"])
    if other:
        lines.append(t["other"].format(flag="🚨 " if other_row["urgent"] else "", count=f"{other:,}",
                                       share=_share(other, pain)))

    customers = unhappy.customers
    if len(customers):
        names = customers["pseudonym"].head(settings.shown_customers).tolist()
        shown_names = t["unhappy_shown"].format(names=", ".join(names)) if names else ""
        if names and len(customers) > len(names):
            shown_names += t["unhappy_more"]
        lines.append(t["unhappy"].format(max_rating=settings.unhappy_max_rating, n=f"{len(customers):,}",
                                         shown=shown_names))
        lines.append(t["export"].format(path=escape_mrkdwn(str(export))))
    else:
        lines.append(t["unhappy_none"].format(max_rating=settings.unhappy_max_rating))
    if unhappy.without_customer:
        lines.append(t["unhappy_anonymous"].format(n=f"{unhappy.without_customer:,}",
                                                   max_rating=settings.unhappy_max_rating))

    actions = _actions(ranking, settings, locale, t, pain, other, len(customers), export)
    data = {
        "week": ctx.period.key,
        "total_feedback": total,
        "pain_feedback": pain,
        "previous_pain_feedback": None if last_week is None else len(last_week),
        "other_share": other / pain if pain else 0.0,
        "ranking": [{k: v for k, v in row.items() if k != "week"}
                    for row in mart_rows(ctx.period.start, ranking, quotes)],
        "unhappy_customers": len(customers),
        "unhappy_pseudonyms": customers["pseudonym"].tolist(),
        "unhappy_without_customer": unhappy.without_customer,
        "export_path": str(export) if len(customers) else None,
    }
    return WeeklySection("painpoints", title, tuple(lines), tuple(actions), tuple(findings), data)


def _actions(ranking: pd.DataFrame, settings: PainPointConfig, locale: str, t: Mapping[str, str], pain: int,
             other: int, unhappy: int, export: Path) -> list[NextAction]:
    actions: list[NextAction] = []

    def action_of(category: str) -> str:
        rule = settings.rule(category)
        return escape_mrkdwn(rule.action.text(locale)) if rule is not None and rule.action else t["action_default"]

    urgent = ranking[ranking["urgent"] & (ranking["category"] != CATEGORY_OTHER)]
    for r in urgent.itertuples(index=False):
        why = ""
        if "growth" in (r.urgent_reason or ""):
            why += t["why_growth"]
        if "alert" in (r.urgent_reason or ""):
            why += t["why_alert"].format(alerts=", ".join(dict.fromkeys(
                metric_label(a["metric"], locale)[0] for a in r.linked_alerts)))
        previous = t["unknown"] if pd.isna(r.previous_count) else f"{int(r.previous_count):,}"
        actions.append(NextAction(t["action_urgent"].format(label=_label(r.category, settings, locale),
                                                            count=f"{r.count:,}", previous=previous, why=why,
                                                            action=action_of(r.category)), priority=1))
    if unhappy:
        actions.append(NextAction(t["action_unhappy"].format(n=f"{unhappy:,}", max_rating=settings.unhappy_max_rating,
                                                             file=escape_mrkdwn(export.name)), priority=1))
    top = ranking[(ranking["category"] != CATEGORY_OTHER) & (ranking["count"] > 0)].head(1)
    if len(top) and not bool(top.iloc[0]["urgent"]):
        r = top.iloc[0]
        actions.append(NextAction(t["action_top"].format(label=_label(r["category"], settings, locale),
                                                         count=f"{int(r['count']):,}",
                                                         share=_share(int(r["count"]), pain),
                                                         action=action_of(r["category"])), priority=2))
    if pain and other / pain > settings.other_share_warning:
        actions.append(NextAction(t["action_other"].format(count=f"{other:,}", share=_share(other, pain)), priority=3))
    return actions
