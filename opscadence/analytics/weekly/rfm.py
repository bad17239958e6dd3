"""Weekly RFM: recency, frequency and monetary value of every customer, 1–5 scores, the R×F
segments, their moves since last week, the CRM's tag table and the top-spender callback list.

Everything is computed from paid orders (``sql/staging/stg_paid_orders.sql``: paid, or paid
then refunded) up to and including ``as_of``, the week's last day, over each customer's whole
history:

* ``recency_days``: days from the customer's last paid order (its shop-local date) to ``as_of``;
* ``frequency``: the number of paid orders; ``monetary``: their total amount (to the cent).

Scores (:func:`quintile_scores`): sort the customers from worst to best (largest recency,
fewest orders, least spend first); a value's score is ``1 + floor(5 · p / n)``, where ``p`` is
the 0-based position of the *first* customer with that value and ``n`` the number of customers.
Without ties these are exact quintiles; equal values always share a score, the score of the
tie's first position. So a tie larger than a fifth swallows the scores it spans: when 60 % of
the customers bought once, all of them get F = 1 and the next value (two orders, starting at
position 0.6 n) gets F = 4; scores 2 and 3 are unused. That is the honest reading: nobody who
bought once is "more frequent" than another one-time buyer, and sorting them apart by row
order (``qcut(rank(method="first"))``) would give identical customers different segments.

Segments come from the R and F scores on the 5×5 grid of :class:`RfmConfig` (rules as data,
validated to cover the grid once). The default is the widely used R×F grid ("RFM segments by
R and F score") of the ``seg_map`` that public CRM-analytics notebooks reproduce, e.g. the
Miuul/VBO "CRM Analytics" course material and Kaggle RFM notebooks: ``[1-2][1-2]`` hibernating,
``[1-2][3-4]`` at risk, ``[1-2]5`` can't lose, ``3[1-2]`` about to sleep, ``33`` need attention,
``[3-4][4-5]`` loyal, ``41`` promising, ``51`` new customers, ``[4-5][2-3]`` potential
loyalists, ``5[4-5]`` champions (R digit first). M is scored and stored for the CRM but, as on
that grid, does not decide the segment.

Privacy: the brief shows counts, sums and pseudonyms only (:func:`pseudonyms`: HMAC-SHA256 of
the id with the key of :func:`pseudonym_key`); real ids go to the ``mart_customer_rfm`` table
and to the callback CSV under ``OPSCADENCE_HOME/exports/`` (owner-only, 0600).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import Connection

from opscadence.analytics.weekly.sections import NextAction, WeeklyContext, WeeklySection
from opscadence.core.csvsafe import safe_frame
from opscadence.core.privacy import pseudonym, pseudonym_key, write_private_file
from opscadence.core.sqlfiles import read_sql_frame, sql_text
from opscadence.reporting.i18n import data_text, format_value
from opscadence.warehouse.schema import mart_customer_rfm
from opscadence.warehouse.writers import bulk_insert

__all__ = [
    "RFM_COLUMNS", "PaidOrders", "RfmConfig", "RfmReport", "SegmentRule",
    "assign_segments", "build_report", "customer_rfm", "load_paid_orders", "paid_orders", "paid_statuses",
    "pseudonym_key", "pseudonyms", "quintile_scores", "render_section", "rfm_segments", "segment_migrations",
    "segment_summary", "settings", "top_spenders", "weekly_section", "write_customer_rfm", "write_private_csv",
]

# The columns of an RFM table (the ad hoc command's output, the tag table's without as_of).
RFM_COLUMNS = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment"]

_EPOCH = np.datetime64("1970-01-01", "D")


# ---------------------------------------------------------------------------
# Configuration: the segments as data
# ---------------------------------------------------------------------------


class SegmentRule(BaseModel):
    """One segment: the R and F score ranges it covers (inclusive), its labels and its action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)
    label_en: str = Field(min_length=1)
    label_zh: str = Field(min_length=1)
    r: tuple[int, int]
    f: tuple[int, int]
    action_en: str = Field(min_length=1)  # what to do with it, for "next week" (after "…: ")
    action_zh: str = Field(min_length=1)

    @field_validator("r", "f")
    @classmethod
    def _score_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 5:
            raise ValueError(f"a score range is [low, high] with 1 <= low <= high <= 5, got [{low}, {high}]")
        return value

    def label(self, locale: str) -> str:
        return self.label_zh if locale == "zh-CN" else self.label_en

    def action(self, locale: str) -> str:
        return self.action_zh if locale == "zh-CN" else self.action_en


def _rule(key: str, en: str, zh: str, r: tuple[int, int], f: tuple[int, int], action_en: str,
          action_zh: str) -> SegmentRule:
    return SegmentRule(key=key, label_en=en, label_zh=zh, r=r, f=f, action_en=action_en, action_zh=action_zh)


# Best first: a move to a segment later in this list is a downgrade (see segment_migrations).
DEFAULT_SEGMENTS: tuple[SegmentRule, ...] = (
    _rule("champions", "Champions", "冠军客户", (5, 5), (4, 5),
          "reward them: early access, referral invitations", "给予回馈：新品优先体验、邀请推荐好友"),
    _rule("loyal_customers", "Loyal Customers", "忠诚客户", (3, 4), (4, 5),
          "upsell higher-value products and ask for reviews", "推荐更高价值的商品并邀请评价"),
    _rule("potential_loyalists", "Potential Loyalists", "潜在忠诚客户", (4, 5), (2, 3),
          "invite them to the membership or points programme", "邀请加入会员或积分计划"),
    _rule("new_customers", "New Customers", "新客户", (5, 5), (1, 1),
          "onboard them: welcome series and a second-order coupon", "新客引导：欢迎消息与二单优惠券"),
    _rule("promising", "Promising", "有潜力客户", (4, 4), (1, 1),
          "build awareness: a sample or a free trial", "提升认知：赠送小样或免费试用"),
    _rule("need_attention", "Need Attention", "需要关注", (3, 3), (3, 3),
          "send a limited-time offer based on past purchases", "按历史购买推送限时优惠"),
    _rule("about_to_sleep", "About to Sleep", "即将沉睡", (3, 3), (1, 2),
          "send a reminder of popular products with a discount", "推送热销商品提醒并附折扣"),
    _rule("at_risk", "At Risk", "有流失风险", (1, 2), (3, 4),
          "send the recall offer with a personal message", "发送召回优惠并附个性化文案"),
    _rule("cant_lose", "Can't Lose Them", "不能失去的客户", (1, 2), (5, 5),
          "win them back one by one: a call or an exclusive offer", "一对一挽回：电话回访或专属优惠"),
    _rule("hibernating", "Hibernating", "沉睡客户", (1, 2), (1, 2),
          "try one low-cost reactivation offer, then stop spending on them",
          "尝试一次低成本唤醒，无效则停止投入"),
)


class RfmConfig(BaseModel):
    """Settings of the weekly RFM (``weekly.rfm`` in the configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Each R×F cell (scores 1-5) in exactly one segment; listed best first.
    segments: tuple[SegmentRule, ...] = DEFAULT_SEGMENTS
    callback_top_n: int = Field(100, ge=1, le=10_000)  # the 1:1 callback list's length
    spend_window_days: int = Field(365, ge=1, le=3660)  # the callback list ranks spend over these days
    migrations_shown: int = Field(5, ge=1, le=20)  # moves listed in the brief
    actions_from_migrations: int = Field(3, ge=0, le=10)  # downgrades that get a "next week" action

    @model_validator(mode="after")
    def _grid_covered_once(self) -> RfmConfig:
        keys = [s.key for s in self.segments]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"segments: the key(s) {', '.join(repeated)} are used more than once")
        owners: dict[tuple[int, int], list[str]] = {(r, f): [] for r in range(1, 6) for f in range(1, 6)}
        for s in self.segments:
            for r in range(s.r[0], s.r[1] + 1):
                for f in range(s.f[0], s.f[1] + 1):
                    owners[(r, f)].append(s.key)
        overlaps = [f"R{r}F{f} ({' and '.join(o)})" for (r, f), o in owners.items() if len(o) > 1]
        if overlaps:
            raise ValueError("segments overlap at " + ", ".join(overlaps))
        missing = [f"R{r}F{f}" for (r, f), o in owners.items() if not o]
        if missing:
            raise ValueError("segments leave R×F cells without a segment: " + ", ".join(missing))
        return self

    @functools.cached_property
    def grid(self) -> np.ndarray:
        """5×5 array: ``grid[r - 1, f - 1]`` is the index in :attr:`segments` of cell R r, F f."""
        grid = np.empty((5, 5), dtype=np.int8)
        for index, s in enumerate(self.segments):
            grid[s.r[0] - 1:s.r[1], s.f[0] - 1:s.f[1]] = index
        return grid

    @property
    def segment_keys(self) -> list[str]:
        return [s.key for s in self.segments]

    def segment(self, key: str) -> SegmentRule:
        for s in self.segments:
            if s.key == key:
                return s
        raise KeyError(key)


def settings(cfg: Any) -> RfmConfig:
    """The configuration's ``weekly.rfm``, or the defaults."""
    return getattr(getattr(cfg, "weekly", None), "rfm", None) or RfmConfig()


# ---------------------------------------------------------------------------
# Paid orders
# ---------------------------------------------------------------------------

_PAID_RULE = re.compile(r"\bwhere\s+status\s+in\s*\(([^)]*)\)", re.IGNORECASE)


@functools.cache
def paid_statuses() -> frozenset[str]:
    """The statuses of a paid order, read from ``sql/staging/stg_paid_orders.sql`` (the one
    definition; the ad hoc command's CSV path filters with it too)."""
    code = "\n".join(line for line in sql_text("staging/stg_paid_orders").splitlines()
                     if not line.lstrip().startswith("--"))
    match = _PAID_RULE.search(code)
    statuses = frozenset(re.findall(r"'([^']*)'", match[1])) if match else frozenset()
    if not statuses:
        raise RuntimeError("sql/staging/stg_paid_orders.sql has no `where status in ('…')`: "
                           "the paid-order rule changed shape; update opscadence.analytics.weekly.rfm.paid_statuses")
    return statuses


def load_paid_orders(conn: Connection, as_of: date) -> pd.DataFrame:
    """Every paid order up to and including ``as_of`` (``sql/weekly/rfm_orders.sql``): columns
    customer_id, order_id, order_day (datetime64), amount (float)."""
    frame = read_sql_frame(conn, "weekly/rfm_orders", end=as_of + timedelta(days=1))
    return pd.DataFrame({
        "customer_id": frame["customer_id"].astype(str),
        "order_id": frame["order_id"].astype(str),
        "order_day": pd.to_datetime(frame["order_day"].astype(str), format="ISO8601") if len(frame)
        else pd.Series([], dtype="datetime64[ns]"),
        # PostgreSQL returns Decimal for numeric, SQLite floats
        "amount": frame["amount"].astype(float),
    })


def _day_numbers(values: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of each value (datetime64 or date-like; the time of day is dropped)."""
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values)
    if getattr(values.dtype, "tz", None) is not None:
        raise ValueError("order_day must be a naive shop-local date or time, not timezone-aware")
    return (values.to_numpy().astype("datetime64[D]") - _EPOCH).astype(np.int64)


def _as_of_number(as_of: date) -> int:
    return int((np.datetime64(as_of.isoformat(), "D") - _EPOCH).astype(np.int64))


@dataclass(frozen=True)
class PaidOrders:
    """Paid orders as arrays, the customers factorised once (a week's report reads them 3 times)."""

    customers: np.ndarray  # the ids (object), in order of first appearance
    codes: np.ndarray  # each order's index into customers
    day: np.ndarray  # each order's day, days since 1970-01-01
    amount: np.ndarray  # float


def paid_orders(orders: pd.DataFrame | PaidOrders) -> PaidOrders:
    """``orders`` (customer_id, order_day: a date or date-time, its day counts; amount; optional
    status, raw_orders' lowercase statuses, when only paid ones count) as :class:`PaidOrders`."""
    if isinstance(orders, PaidOrders):
        return orders
    if "status" in orders.columns:
        orders = orders[orders["status"].isin(paid_statuses()).to_numpy()]
    codes, customers = pd.factorize(orders["customer_id"].to_numpy(dtype=object), sort=False)
    if (codes < 0).any():
        raise ValueError("an order has no customer_id")
    amount = orders["amount"].to_numpy(dtype=float)
    if np.isnan(amount).any():
        raise ValueError("an order has no amount")
    return PaidOrders(customers=np.asarray(customers, dtype=object), codes=codes.astype(np.intp),
                      day=_day_numbers(orders["order_day"]), amount=amount)


def _last_day(paid: PaidOrders, keep: np.ndarray) -> np.ndarray:
    last = np.full(len(paid.customers), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, paid.codes[keep], paid.day[keep])
    return last


# ---------------------------------------------------------------------------
# R, F, M, scores and segments (pure, vectorised)
# ---------------------------------------------------------------------------


def customer_rfm(orders: pd.DataFrame | PaidOrders, as_of: date) -> pd.DataFrame:
    """Raw R, F and M of every customer with a paid order on or before ``as_of``.

    ``orders``: one row per order with customer_id, order_day (a date or date-time: its day
    counts) and amount; with a ``status`` column (raw_orders' lowercase statuses) only paid ones
    count (or :class:`PaidOrders`). Later orders are ignored. Returns customer_id, recency_days,
    frequency, monetary (rounded to the cent), customers in order of their first row.
    """
    paid = paid_orders(orders)
    end = _as_of_number(as_of)
    keep = paid.day <= end
    k = len(paid.customers)
    frequency = np.bincount(paid.codes[keep], minlength=k)
    monetary = np.bincount(paid.codes[keep], weights=paid.amount[keep], minlength=k)
    present = frequency > 0
    return pd.DataFrame({
        "customer_id": pd.Series(paid.customers[present], dtype=object),
        "recency_days": (end - _last_day(paid, keep)[present]).astype(np.int64),
        "frequency": frequency[present].astype(np.int64),
        "monetary": np.round(monetary[present], 2),
    })


def quintile_scores(values: np.ndarray | pd.Series, *, higher_is_better: bool = True) -> np.ndarray:
    """1-5 scores: ``1 + floor(5 · p / n)``, ``p`` the 0-based position of the value's first
    occurrence when sorted worst first, ``n`` the number of values. Equal values get equal
    scores; 5 is the best fifth (the largest values, or the smallest with ``higher_is_better=False``)."""
    v = np.asarray(values)
    n = v.size
    if n == 0:
        return np.empty(0, dtype=np.int8)
    if np.issubdtype(v.dtype, np.floating) and np.isnan(v).any():
        raise ValueError("cannot score missing values")
    _, inverse, counts = np.unique(v if higher_is_better else -v, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts
    return (1 + (5 * first[inverse.ravel()]) // n).astype(np.int8)


def assign_segments(r_score: np.ndarray, f_score: np.ndarray, config: RfmConfig) -> pd.Categorical:
    """Each customer's segment key from its R and F scores (categories in the config's order)."""
    codes = config.grid[np.asarray(r_score, dtype=np.intp) - 1, np.asarray(f_score, dtype=np.intp) - 1]
    return pd.Categorical.from_codes(codes, categories=config.segment_keys)


def rfm_segments(orders: pd.DataFrame | PaidOrders, as_of: date, config: RfmConfig | None = None) -> pd.DataFrame:
    """The RFM table as of ``as_of``: :data:`RFM_COLUMNS` (segment a categorical of segment keys)."""
    config = config or RfmConfig()
    table = customer_rfm(orders, as_of)
    table["r_score"] = quintile_scores(table["recency_days"].to_numpy(), higher_is_better=False)
    table["f_score"] = quintile_scores(table["frequency"].to_numpy())
    table["m_score"] = quintile_scores(table["monetary"].to_numpy())
    table["segment"] = assign_segments(table["r_score"].to_numpy(), table["f_score"].to_numpy(), config)
    return table[RFM_COLUMNS]


def segment_summary(table: pd.DataFrame, config: RfmConfig) -> pd.DataFrame:
    """One row per segment (the config's order, empty ones included): customers, monetary and
    their shares of all customers and of all monetary value."""
    grouped = table.groupby("segment", observed=False).agg(customers=("customer_id", "size"),
                                                           monetary=("monetary", "sum"))
    grouped = grouped.reindex(config.segment_keys, fill_value=0)
    total_customers, total_monetary = grouped["customers"].sum(), grouped["monetary"].sum()
    grouped["customer_share"] = grouped["customers"] / total_customers if total_customers else 0.0
    grouped["monetary_share"] = grouped["monetary"] / total_monetary if total_monetary else 0.0
    grouped.index.name = "segment"
    return grouped.reset_index()


NEW = "(new)"  # the "from" of a customer whose first paid order came after the previous as_of


def segment_migrations(previous: pd.DataFrame, current: pd.DataFrame, config: RfmConfig) -> pd.DataFrame:
    """Customers whose segment changed from ``previous`` to ``current`` (two RFM tables):
    from_segment, to_segment, customers, monetary (their current total), downgrade (the
    destination comes later in the config's best-first list), most customers first.
    Customers new in ``current`` come from :data:`NEW`."""
    before = pd.Series(previous["segment"].astype(str).to_numpy(), index=previous["customer_id"].to_numpy())
    now = current[["customer_id", "segment", "monetary"]]
    start = before.reindex(now["customer_id"].to_numpy()).fillna(NEW).to_numpy()
    moves = pd.DataFrame({"from_segment": start, "to_segment": now["segment"].astype(str).to_numpy(),
                          "monetary": now["monetary"].to_numpy()})
    moves = moves[moves["from_segment"] != moves["to_segment"]]
    out = (moves.groupby(["from_segment", "to_segment"], sort=False)
           .agg(customers=("monetary", "size"), monetary=("monetary", "sum")).reset_index())
    rank = {key: i for i, key in enumerate(config.segment_keys)}
    out["downgrade"] = [f != NEW and rank.get(t, -1) > rank.get(f, len(rank))
                        for f, t in zip(out["from_segment"], out["to_segment"])]
    out["monetary"] = out["monetary"].round(2)
    return out.sort_values(["customers", "monetary", "from_segment", "to_segment"],
                           ascending=[False, False, True, True]).reset_index(drop=True)


def top_spenders(orders: pd.DataFrame | PaidOrders, as_of: date, n: int = 100,
                 window_days: int = 365) -> pd.DataFrame:
    """The ``n`` customers with the most paid spend in the ``window_days`` days ending on ``as_of``
    (inclusive): customer_id, spend, orders, last_order_day. Ties at equal spend are ordered by
    customer id, so the list is the same on every run."""
    paid = paid_orders(orders)
    end = _as_of_number(as_of)
    keep = (paid.day <= end) & (paid.day > end - window_days)
    k = len(paid.customers)
    count = np.bincount(paid.codes[keep], minlength=k)
    spend = np.round(np.bincount(paid.codes[keep], weights=paid.amount[keep], minlength=k), 2)
    candidates = np.flatnonzero(count > 0)
    if candidates.size > n:  # only the candidates at or above the n-th largest spend are sorted
        cut = np.partition(spend[candidates], candidates.size - n)[candidates.size - n]
        candidates = candidates[spend[candidates] >= cut]
    order = np.lexsort((paid.customers[candidates].astype(str), -spend[candidates]))[:n]
    chosen = candidates[order]
    return pd.DataFrame({
        "customer_id": paid.customers[chosen].astype(str),
        "spend": spend[chosen],
        "orders": count[chosen].astype(np.int64),
        "last_order_day": (_EPOCH + _last_day(paid, keep)[chosen]).astype("datetime64[D]").astype(object),
    })


# ---------------------------------------------------------------------------
# Private files (pseudonyms and their key: opscadence.core.privacy)
# ---------------------------------------------------------------------------


def pseudonyms(customer_ids: Any, key: bytes) -> list[str]:
    """:func:`opscadence.core.privacy.pseudonym` of each id (the pain-point list uses the same)."""
    return [pseudonym(c, key) for c in customer_ids]


def write_private_csv(frame: pd.DataFrame, path: Path, *, encoding: str = "utf-8") -> Path:
    """Write ``frame`` as CSV to ``path``, owner-only (0600), replaced atomically
    (:func:`opscadence.core.privacy.write_private_file`)."""
    return write_private_file(Path(path), safe_frame(frame).to_csv(index=False).encode(encoding))


# ---------------------------------------------------------------------------
# The tag table
# ---------------------------------------------------------------------------


def write_customer_rfm(conn: Connection, table: pd.DataFrame, as_of: date) -> int:
    """Replace ``as_of``'s rows of ``mart_customer_rfm`` by ``table`` (an RFM table), on the
    caller's transaction (``engine.begin()``): a rerun leaves the same rows, a failure the old ones."""
    t = mart_customer_rfm
    conn.execute(t.delete().where(t.c.as_of == as_of))
    if table.empty:
        return 0
    rows = pd.DataFrame({
        "customer_id": table["customer_id"].astype(str).to_numpy(dtype=object),
        "segment": table["segment"].astype(str).to_numpy(dtype=object),
        **{c: table[c].to_numpy(dtype=np.int64)
           for c in ("recency_days", "frequency", "r_score", "f_score", "m_score")},
        "monetary": table["monetary"].to_numpy(dtype=float).round(2),
        "as_of": np.full(len(table), as_of, dtype=object),
    })
    # the warehouse's bulk path (executemany of tuples; COPY on PostgreSQL): 200k rows through
    # SQLAlchemy's executemany of dicts took 5 s on SQLite
    bulk_insert(conn, t, rows)
    return len(rows)


# ---------------------------------------------------------------------------
# The weekly report and its section
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RfmReport:
    """What the weekly section shows, computed from paid orders (pure, see :func:`build_report`)."""

    as_of: date
    previous_as_of: date
    current: pd.DataFrame  # RFM table as of as_of (real ids: the tag table, never the brief)
    summary: pd.DataFrame  # segment_summary of current
    migrations: pd.DataFrame  # segment_migrations(previous, current)
    callbacks: pd.DataFrame  # top_spenders as of as_of (real ids: the export, never the brief)
    previous_customers: int  # customers as of previous_as_of
    week_orders: int  # paid orders in the 7 days ending on as_of
    week_revenue: float


def build_report(orders: pd.DataFrame | PaidOrders, as_of: date, config: RfmConfig | None = None) -> RfmReport:
    """The week's RFM from paid orders: the table and segments as of ``as_of`` and as of 7 days
    earlier (scored among that day's customers), the moves between them and the callback list."""
    config = config or RfmConfig()
    previous_as_of = as_of - timedelta(days=7)
    paid = paid_orders(orders)
    current = rfm_segments(paid, as_of, config)
    previous = rfm_segments(paid, previous_as_of, config)
    end = _as_of_number(as_of)
    week = (paid.day <= end) & (paid.day > end - 7)
    return RfmReport(
        as_of=as_of,
        previous_as_of=previous_as_of,
        current=current,
        summary=segment_summary(current, config),
        migrations=segment_migrations(previous, current, config),
        callbacks=top_spenders(paid, as_of, config.callback_top_n, config.spend_window_days),
        previous_customers=len(previous),
        week_orders=int(week.sum()),
        week_revenue=round(float(paid.amount[week].sum()), 2),
    )


_STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "👥 RFM 客户分层（截至 {as_of}）",
        "customers": "有付费订单的客户 {n} 人；本周付费订单 {orders} 笔，{revenue}",
        "segment": "• {label}：{n} 人（{share}）· 累计 {monetary}（占 {monetary_share}）",
        "moves": "较 {previous} 的主要变化：",
        "move": "• {n} 人：{from_label} → {to_label}（累计 {monetary}）",
        "no_moves": "较 {previous} 无客户变更分层",
        "first_week": "{previous} 之前没有付费客户：分层变化从下周开始统计",
        "new": "首单",
        "callbacks": "📞 回访名单：近 {days} 天消费最高的 {n} 位客户，合计 {spend}（{names}）；"
                     "真实 ID 见 {path}（仅本人可读）",
        "no_callbacks": "📞 回访名单：近 {days} 天没有付费客户",
        "action_move": "{who}从{from_label}变为{to_label}：{action}",
        "action_segment": "{who}属于{label}：{action}",
        "who": "{n} 位客户",
        "who_one": "1 位客户",
        "action_callbacks": "逐一回访近 {days} 天消费最高的 {n} 位客户（合计 {spend}）：名单见 {file}",
        "no_customers": "截至 {as_of} 没有付费订单：无法计算 RFM 分层（请检查订单数据是否已导入）",
        "no_week_orders": "{start} 至 {as_of} 没有付费订单：分层只反映更早的购买（请检查本周订单数据）",
    },
    "en": {
        "title": "👥 RFM customer segments (as of {as_of})",
        "customers": "{n} customers with a paid order; this week {orders} paid orders, {revenue}",
        "segment": "• {label}: {n} ({share}) · {monetary} lifetime ({monetary_share})",
        "moves": "Biggest moves since {previous}:",
        "move": "• {n}: {from_label} → {to_label} ({monetary} lifetime)",
        "no_moves": "No customer changed segment since {previous}",
        "first_week": "No paying customers before {previous}: segment moves start next week",
        "new": "first order",
        "callbacks": "📞 Callback list: the top {n} customers by spend in the last {days} days, {spend} in total "
                     "({names}); real ids in {path} (owner-only)",
        "no_callbacks": "📞 Callback list: no paying customers in the last {days} days",
        "action_move": "{who} moved {from_label} → {to_label}: {action}",
        "action_segment": "{who} in {label}: {action}",
        "who": "{n} customers",
        "who_one": "1 customer",
        "action_callbacks": "Call the top {n} customers by {days}-day spend ({spend}) one by one: list in {file}",
        "no_customers": "No paid orders up to {as_of}: RFM segments cannot be computed (check that orders are loaded)",
        "no_week_orders": "No paid orders from {start} to {as_of}: segments reflect older purchases only "
                          "(check this week's orders)",
    },
}

_PSEUDONYMS_SHOWN = 5


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _who(n: int, s: dict[str, str]) -> str:
    return s["who_one"] if n == 1 else s["who"].format(n=f"{n:,}")


def _label(key: str, config: RfmConfig, locale: str, s: dict[str, str]) -> str:
    if key == NEW:
        return s["new"]
    try:
        return data_text(config.segment(key).label(locale))
    except KeyError:  # a segment of an earlier configuration (tag table) – shown by its key
        return data_text(key)


def render_section(report: RfmReport, config: RfmConfig, locale: str, *, export_path: Path | None,
                   callback_names: list[str]) -> WeeklySection:
    """The brief's RFM section: segment sizes and value, the biggest moves, the callback list's
    size, sum and pseudonyms (``callback_names``, in the list's order) and where its export is."""
    if locale not in _STRINGS:
        raise ValueError(f"unsupported locale {locale!r}; expected zh-CN or en")
    s = _STRINGS[locale]
    money = functools.partial(format_value, unit="currency", locale=locale)
    title = s["title"].format(as_of=report.as_of.isoformat())
    findings: list[str] = []
    if report.current.empty:
        findings.append(s["no_customers"].format(as_of=report.as_of.isoformat()))
        return WeeklySection(key="rfm", title=title, lines=(), findings=tuple(findings),
                             data={"as_of": report.as_of.isoformat(), "customers": 0})
    if report.week_orders == 0:
        findings.append(s["no_week_orders"].format(start=(report.as_of - timedelta(days=6)).isoformat(),
                                                   as_of=report.as_of.isoformat()))
    label = functools.partial(_label, config=config, locale=locale, s=s)
    lines = [s["customers"].format(n=f"{len(report.current):,}", orders=f"{report.week_orders:,}",
                                   revenue=money(report.week_revenue))]
    for row in report.summary.itertuples(index=False):
        if row.customers:
            lines.append(s["segment"].format(label=label(row.segment), n=f"{row.customers:,}",
                                             share=_pct(row.customer_share), monetary=money(row.monetary),
                                             monetary_share=_pct(row.monetary_share)))
    previous = report.previous_as_of.isoformat()
    shown = report.migrations.head(config.migrations_shown)
    if report.previous_customers == 0:
        lines.append(s["first_week"].format(previous=previous))
    elif shown.empty:
        lines.append(s["no_moves"].format(previous=previous))
    else:
        lines.append(s["moves"].format(previous=previous))
        lines += [s["move"].format(n=f"{m.customers:,}", from_label=label(m.from_segment),
                                   to_label=label(m.to_segment), monetary=money(m.monetary))
                  for m in shown.itertuples(index=False)]
    callbacks = report.callbacks
    days = config.spend_window_days
    spend = money(float(callbacks["spend"].sum())) if len(callbacks) else money(0.0)
    file_name = data_text(export_path.name) if export_path is not None else ""
    if len(callbacks):
        names = ", ".join(callback_names[:_PSEUDONYMS_SHOWN]) + ("…" if len(callback_names) > _PSEUDONYMS_SHOWN else "")
        lines.append(s["callbacks"].format(n=f"{len(callbacks):,}", days=days, spend=spend, names=names,
                                           path=data_text(export_path, 300) if export_path else ""))
    else:
        lines.append(s["no_callbacks"].format(days=days))

    actions: list[NextAction] = []
    if report.previous_customers:
        downgrades = report.migrations[report.migrations["downgrade"]].head(config.actions_from_migrations)
        for m in downgrades.itertuples(index=False):
            action = config.segment(m.to_segment).action(locale) if m.to_segment in config.segment_keys else ""
            text = s["action_move"].format(who=_who(m.customers, s), from_label=label(m.from_segment),
                                           to_label=label(m.to_segment), action=data_text(action, 200))
            actions.append(NextAction(text, priority=1))
    if not actions:
        # no moves to act on (the first week, or a quiet one): the segments of customers who used
        # to buy often and stopped (R 1-2, F 3 and above on the grid)
        lapsing = [r for r in config.segments if r.r[1] <= 2 and r.f[0] >= 3]
        sizes = dict(zip(report.summary["segment"], report.summary["customers"]))
        for rule in lapsing:
            if sizes.get(rule.key, 0):
                text = s["action_segment"].format(who=_who(sizes[rule.key], s), label=label(rule.key),
                                                  action=data_text(rule.action(locale), 200))
                actions.append(NextAction(text, priority=1))
    if len(callbacks):
        actions.append(NextAction(s["action_callbacks"].format(n=f"{len(callbacks):,}", days=days, spend=spend,
                                                               file=file_name), priority=2))
    data = {
        "as_of": report.as_of.isoformat(),
        "previous_as_of": previous,
        "customers": int(len(report.current)),
        "previous_customers": int(report.previous_customers),
        "week_orders": report.week_orders,
        "week_revenue": report.week_revenue,
        "segments": [{"segment": r.segment, "customers": int(r.customers), "monetary": round(float(r.monetary), 2)}
                     for r in report.summary.itertuples(index=False)],
        "migrations": [{"from": m.from_segment, "to": m.to_segment, "customers": int(m.customers),
                        "monetary": float(m.monetary), "downgrade": bool(m.downgrade)}
                       for m in report.migrations.itertuples(index=False)],
        "callbacks": {"count": int(len(callbacks)), "spend": round(float(callbacks["spend"].sum()), 2),
                      "window_days": days, "pseudonyms": list(callback_names),
                      "export": str(export_path) if export_path is not None else None},
    }
    return WeeklySection(key="rfm", title=title, lines=tuple(lines), actions=tuple(actions),
                         findings=tuple(findings), data=data)


def callback_export(report: RfmReport, names: list[str], config: RfmConfig, locale: str) -> pd.DataFrame:
    """The callback CSV's rows: rank, pseudonym, customer_id, spend, orders, last order, segment, R/F/M."""
    callbacks = report.callbacks
    tags = report.current.set_index("customer_id").reindex(callbacks["customer_id"].to_numpy())
    segment = tags["segment"].astype(str).to_numpy()
    return pd.DataFrame({
        "rank": np.arange(1, len(callbacks) + 1),
        "pseudonym": names,
        "customer_id": callbacks["customer_id"].to_numpy(),
        f"spend_{config.spend_window_days}d": callbacks["spend"].to_numpy(),
        f"orders_{config.spend_window_days}d": callbacks["orders"].to_numpy(),
        "last_order_day": callbacks["last_order_day"].to_numpy(),
        "segment": segment,
        "segment_label": [config.segment(k).label(locale) for k in segment],
        "recency_days": tags["recency_days"].to_numpy(),
        "frequency": tags["frequency"].to_numpy(),
        "monetary": tags["monetary"].to_numpy(),
    })


def export_path(exports_dir: Path, period_key: str) -> Path:
    """Where the week's callback list goes: ``<exports>/rfm-callbacks-<week>.csv``."""
    return Path(exports_dir) / f"rfm-callbacks-{period_key}.csv"


def weekly_section(ctx: WeeklyContext) -> WeeklySection:
    """The weekly brief's RFM section. Reads the paid orders up to the week's last day, writes
    that day's rows of ``mart_customer_rfm`` and the callback list
    (``<exports>/rfm-callbacks-<week>.csv``, 0600), and renders the section (no ids in it)."""
    config = settings(ctx.cfg)
    as_of = ctx.period.last_day
    with ctx.engine.connect() as conn:
        orders = load_paid_orders(conn, as_of)
    report = build_report(orders, as_of, config)
    del orders
    if report.current.empty:
        return render_section(report, config, ctx.locale, export_path=None, callback_names=[])
    with ctx.engine.begin() as conn:
        write_customer_rfm(conn, report.current, as_of)
    home = getattr(ctx.cfg, "home", None) or Path(ctx.exports_dir).parent
    production = getattr(getattr(ctx.cfg, "privacy", None), "mode", "demo") == "production"
    names = pseudonyms(report.callbacks["customer_id"], pseudonym_key(Path(home), production=production))
    path = None
    if len(report.callbacks):
        # utf-8-sig: Excel, where a callback list is usually opened, reads the Chinese labels right
        path = write_private_csv(callback_export(report, names, config, ctx.locale),
                                 export_path(ctx.exports_dir, ctx.period.key), encoding="utf-8-sig")
    return render_section(report, config, ctx.locale, export_path=path, callback_names=names)
