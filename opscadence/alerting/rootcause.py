"""Root-cause drill-down: which segments explain a KPI's change between two days.

When an alert fires (payment success rate 98.6% → 88.9%), :func:`explain` compares one
day's ``mart_daily_kpis`` rows with a baseline day's and names the (dimension, value)
segments that account for most of the change, over every dimension the rows have.
:func:`root_cause_lines` turns the answer into short, escaped lines for a brief (the
segments of one dimension, then what the other segments offset and what remains).

Method
------
Write ``T`` for the total (the ``all`` row), ``i`` for a segment of one dimension
(``platform=ios``), ``now``/``base`` for the two days. The *total delta* is always
``T_now − T_base`` from the ``all`` rows, and ``share_i = contribution_i / delta``.

* **Additive metrics** (no denominator: counts, currency), e.g. GMV::

      T = Σ_i v_i                                  (segments partition the total)
      delta = T_now − T_base = Σ_i (v_i,now − v_i,base)
      contribution_i = v_i,now − v_i,base          (adds up to the delta exactly)

  ``v`` is the row's ``numerator`` (the additive measure), falling back to ``value``.

* **Ratio metrics** (``numerator / denominator``: rates, AOV, seconds per user): with
  ``N = Σ_i n_i`` and ``D = Σ_i d_i`` over one dimension's segments, the rate is
  ``R = N / D``. The contribution of ``i`` is the "what if only this segment had
  changed" counterfactual — segment ``i`` at today's numerator/denominator, every other
  segment of that dimension at its baseline numbers::

      R_cf,i = (N_base − n_i,base + n_i,now) / (D_base − d_i,base + d_i,now)
      contribution_i = R_cf,i − R_base,     R_base = N_base / D_base

  This captures both the segment's own rate change and its mix (volume) change: a
  segment whose rate is unchanged but whose volume grows while its rate is below the
  total pulls ``R_cf,i`` down. Because rates do not add, these contributions need not
  add up to the delta: segments interact through the shared denominator (when
  two segments both change, ``Σ_i contribution_i ≠ delta`` in general). ``R_base`` is
  the dimension's own baseline rate (equal to the ``all`` rate when the segments
  partition the total), so a dimension in which nothing changed contributes exactly 0.

* A segment present only today or only at baseline counts with zeros on the other side
  (its ``baseline``/``value`` is 0 for additive metrics, None for a ratio with no volume).

Presenting: one dimension at a time. Segments of different dimensions overlap (the ios
users also pay with alipay), so their shares of one change cannot be added: "ios explains
100%" next to "alipay explains 98%" reads as 198%. :func:`explain` therefore picks the one
dimension whose best segment pushes furthest in the delta's direction (ties by name) and
ranks that dimension's segments only. Within it the lines reconcile to the total:

    delta = Σ shown c_i + offset + remainder
    offset    = Σ c_j over the segments pushing the other way (they "offset" the change)
    remainder = the rest: segments not listed (below ``min_share`` or beyond ``top``) and, for a
                ratio, the segments' interaction through the shared denominator

Each line gives the segment's own before → after, its contribution in the metric's unit
(percentage points for a rate) and its share ``c_i / delta`` of the total change. A share
above 100% happens when other segments moved the other way (or, for a ratio, through the
segments' interaction); such a line says "more than the whole change" instead of a percent
over 100, and the closing line states what the other segments offset and the remainder. Of the options (shares of the gross same-direction movement, a
what-if total per segment) this one keeps the numbers readers check against the total —
the contribution and the delta, in the same unit — and says plainly why they differ.

Every (dimension, value) pair whose contribution pushes in the delta's direction (for a
drop: most negative first) and whose share is at least ``min_share`` may be shown. The
``all`` dimension itself is skipped, as is a dimension with a single value (it explains
nothing), and a dimension whose rows lack the numbers the method needs (a ratio row without
numerator or denominator). A zero delta or a missing today/baseline total gives no segments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from opscadence.metrics import dimensions
from opscadence.analytics.daily.kpis import FUNNELS
from opscadence.metrics.catalog import CATALOG
from opscadence.reporting.i18n import (
    data_text,
    dimension_label,
    dimension_value_text,
    format_delta,
    format_value,
    step_label,
    strings,
)

__all__ = ["SegmentContribution", "RootCause", "explain", "root_cause_lines"]


@dataclass(frozen=True)
class SegmentContribution:
    dimension: str
    dimension_value: str
    value: float | None  # the segment's own metric value today
    baseline: float | None  # ... and at baseline
    contribution: float  # part of the total delta (metric units) explained by this segment
    share: float  # contribution / total delta (can exceed 1 or be negative)


@dataclass(frozen=True)
class RootCause:
    metric: str
    value: float | None
    baseline: float | None
    delta: float | None
    segments: list[SegmentContribution] = field(default_factory=list)  # ranked, top first, one dimension
    funnel_step: str | None = None  # the funnel step that broke (passed in)
    dimension: str | None = None  # the dimension the segments are of
    dimension_segments: list[SegmentContribution] = field(default_factory=list)  # all of its segments
    ratio: bool = False  # a ratio metric: its contributions interact, the remainder includes that

    @property
    def offset(self) -> float:
        """What the dimension's segments that moved against the delta add up to (opposite sign)."""
        if not self.delta:
            return 0.0
        return sum(s.contribution for s in self.dimension_segments if s.contribution * self.delta < 0)

    def remainder(self, shown: int | None = None) -> float:
        """delta − the first ``shown`` segments (all by default) − :attr:`offset`."""
        if not self.delta:
            return 0.0
        listed = self.segments if shown is None else self.segments[: max(shown, 0)]
        return self.delta - sum(s.contribution for s in listed) - self.offset

    def not_listed(self, shown: int | None = None) -> int:
        """How many of the dimension's segments push with the delta but are not among the first ``shown``."""
        listed = self.segments if shown is None else self.segments[: max(shown, 0)]
        pushing = [s for s in self.dimension_segments if s.share > 0]
        return max(len(pushing) - len(listed), 0)


# ---------------------------------------------------------------------------
# Decomposition
# ---------------------------------------------------------------------------

_Numbers = tuple[float | None, float | None, float | None]  # value, numerator, denominator


def _num(x: object) -> float | None:
    return None if x is None else float(x)  # Decimal from PostgreSQL, ints from SQLite


def _index(rows: Sequence[Mapping], metric: str) -> dict[str, dict[str, _Numbers]]:
    """{dimension: {dimension_value: (value, numerator, denominator)}} for one metric."""
    out: dict[str, dict[str, _Numbers]] = {}
    for row in rows:
        if row.get("metric") != metric:
            continue
        dim, val = str(row.get("dimension")), str(row.get("dimension_value"))
        nums = (_num(row.get("value")), _num(row.get("numerator")), _num(row.get("denominator")))
        out.setdefault(dim, {})[val] = nums
    return out


def _is_ratio(metric: str, *indexes: dict[str, dict[str, _Numbers]]) -> bool:
    m = CATALOG.get(metric)
    if m is not None:
        return m.denominator is not None
    # Unknown metric: a ratio if any row carries a denominator.
    return any(nums[2] is not None for index in indexes for seg in index.values() for nums in seg.values())


def _total(index: dict[str, dict[str, _Numbers]], ratio: bool) -> float | None:
    """The metric's total from the ``all`` row (a ratio may be rebuilt from num/den)."""
    total = dimensions.ALL
    rows = index.get(total) or {}
    nums = rows.get(total) if total in rows else (next(iter(rows.values())) if len(rows) == 1 else None)
    if nums is None:
        return None
    value, n, d = nums
    if value is None and ratio and n is not None and d:
        value = n / d
    if value is None and not ratio:
        value = n
    return value


def _additive(
    dim: str, now: dict[str, _Numbers], base: dict[str, _Numbers], delta: float
) -> list[SegmentContribution] | None:
    """contribution_i = v_i,now − v_i,base; a segment missing on one side is 0 there."""

    def amount(nums: _Numbers | None) -> float | None:
        if nums is None:
            return 0.0  # present only on the other day
        value, n, _ = nums
        return n if n is not None else value

    out = []
    for seg in sorted(set(now) | set(base)):
        v_now, v_base = amount(now.get(seg)), amount(base.get(seg))
        if v_now is None or v_base is None:
            return None  # an existing row without its number: the dimension cannot be split
        c = v_now - v_base
        out.append(SegmentContribution(dim, seg, v_now, v_base, c, c / delta))
    return out


def _ratio(
    dim: str, now: dict[str, _Numbers], base: dict[str, _Numbers], delta: float
) -> list[SegmentContribution] | None:
    """contribution_i = (N_b − n_i,b + n_i,now) / (D_b − d_i,b + d_i,now) − N_b / D_b."""
    zero: _Numbers = (None, 0.0, 0.0)
    segs = sorted(set(now) | set(base))
    pairs = {s: (now.get(s, zero), base.get(s, zero)) for s in segs}
    if any(nums[1] is None or nums[2] is None for pair in pairs.values() for nums in pair):
        return None  # a rate row without numerator/denominator: no counterfactual possible
    n_base = sum(b[1] for _, b in pairs.values())  # N_base = Σ_i n_i,base
    d_base = sum(b[2] for _, b in pairs.values())  # D_base = Σ_i d_i,base
    if not d_base:
        return None
    r_base = n_base / d_base  # the dimension's baseline rate (= the `all` rate when it partitions)
    out = []
    for seg, ((_, n_now, d_now), (_, n_b, d_b)) in pairs.items():
        # Only segment `seg` moves to today; every other segment stays at baseline.
        cf_num = n_base - n_b + n_now
        cf_den = d_base - d_b + d_now
        if not cf_den:
            continue  # the whole dimension would be empty: no rate to compare
        c = cf_num / cf_den - r_base
        out.append(SegmentContribution(dim, seg, n_now / d_now if d_now else None, n_b / d_b if d_b else None,
                                       c, c / delta))
    return out


def explain(
    rows_now: Sequence[Mapping],
    rows_base: Sequence[Mapping],
    metric: str,
    *,
    top: int = 3,
    funnel_step: str | None = None,
    min_share: float = 0.05,
) -> RootCause:
    """Rank the segments that explain ``metric``'s change from ``rows_base`` to ``rows_now``.

    ``rows_*`` are one day each of ``mart_daily_kpis`` rows (mappings with ``metric``,
    ``dimension``, ``dimension_value``, ``value``, ``numerator``, ``denominator``);
    rows of other metrics are ignored; the ``all`` dimension gives the totals. See the
    module docstring for the method. Returns at most ``top`` segments of one dimension that
    push in the delta's direction with ``share >= min_share``; none when the delta is 0 or
    either day's total is missing.
    """
    now, base = _index(rows_now, metric), _index(rows_base, metric)
    ratio = _is_ratio(metric, now, base)
    value, baseline = _total(now, ratio), _total(base, ratio)
    delta = None if value is None or baseline is None else value - baseline
    if not delta:  # None (a total is missing) or exactly 0: nothing to explain
        return RootCause(metric, value, baseline, delta, [], funnel_step)

    by_dimension: dict[str, list[SegmentContribution]] = {}
    for dim in sorted(set(now) | set(base)):
        if dim == dimensions.ALL:
            continue
        seg_now, seg_base = now.get(dim, {}), base.get(dim, {})
        if len(set(seg_now) | set(seg_base)) < 2:
            continue  # a single value is the total again: it explains nothing
        split = (_ratio if ratio else _additive)(dim, seg_now, seg_base, delta)
        if split:
            by_dimension[dim] = split

    # Same direction as the delta <=> share > 0; rank by share (== by contribution in the
    # delta's direction, the delta being common), ties by name for a stable order.
    def kept(split: list[SegmentContribution]) -> list[SegmentContribution]:
        found = [s for s in split if s.share > 0 and s.share >= min_share]
        return sorted(found, key=lambda s: (-s.share, s.dimension_value))

    ranked = {dim: kept(split) for dim, split in by_dimension.items()}
    ranked = {dim: segs for dim, segs in ranked.items() if segs}
    if not ranked:
        return RootCause(metric, value, baseline, delta, [], funnel_step, ratio=ratio)
    # One dimension: the one whose best segment explains most (overlapping dimensions do not add).
    best = min(ranked, key=lambda dim: (-ranked[dim][0].share, dim))
    return RootCause(metric, value, baseline, delta, ranked[best][: max(top, 0)], funnel_step,
                     dimension=best, dimension_segments=by_dimension[best], ratio=ratio)


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _funnel_line(step: str, locale: str, s: dict[str, str]) -> str:
    def label(key: str) -> str:
        return step_label(key, locale) or data_text(key, empty="-")

    # the funnel the step belongs to (step names are distinct across the verticals' funnels)
    keys = next(([key for key, _ in steps] for steps in FUNNELS.values() if step in dict(steps)), [])
    name = label(step)
    if step in keys and keys.index(step) > 0:
        name = label(keys[keys.index(step) - 1]) + s["step_arrow"] + name
    return s["cause_funnel"].format(step=name)


def _shown(amount: float, unit: str, locale: str) -> str | None:
    """``amount`` signed in the metric's unit, None when it rounds to nothing."""
    # The precision each unit is shown with: 0.1 pp, a cent, a whole count or second.
    shown = {"ratio": round(amount * 100, 1), "currency": round(amount, 2)}.get(unit, round(amount))
    return format_delta(amount, unit, locale) if shown else None


def root_cause_lines(cause: RootCause, locale: str = "zh-CN", top: int = 3) -> list[str]:
    """Human lines for a root cause: one per segment (top N) of its one dimension, then what
    the other segments offset and what remains, then the funnel step if any.

    en: ``platform=ios: 98.0% → 70.0%, -14.0 pp of the -14.1 pp change (100%)``, or for a
    segment that moved more than the total ``channel=douyin: ¥20,000.00 → ¥15,000.00,
    -¥5,000.00, more than the whole -¥4,500.00 change``, then ``other channel segments
    offset +¥1,000.00``; zh-CN: ``平台=ios：98.0% → 70.0%，贡献 -14.0 个百分点，占总变化
    （-14.1 个百分点）的 100%`` … ``其他渠道分组抵消了 +¥1,000.00``; funnel: ``funnel:
    Checkout → Payment success conversion fell most`` / ``漏斗：结算→支付成功 转化下降最多``.
    Amounts are formatted by the metric's unit (a rate's in percentage points); dimension
    and step names are labelled from the catalogue, dimension values are escaped data, the
    ones we generate localised (``unknown`` → ``未知``).
    """
    s = strings(locale)
    m = CATALOG.get(cause.metric)
    unit = m.unit if m is not None else "count"
    lines = []
    shown = cause.segments[: max(top, 0)]

    def label(dimension: str) -> str:
        return dimension_label(dimension, locale) or data_text(dimension, empty="-")

    for seg in shown:
        key = "cause_segment_over" if seg.share > 1 else "cause_segment"
        lines.append(s[key].format(
            dim=label(seg.dimension),
            value=dimension_value_text(seg.dimension_value, locale, empty="-", dimension=seg.dimension),
            before=format_value(seg.baseline, unit, locale),
            after=format_value(seg.value, unit, locale),
            contribution=format_delta(seg.contribution, unit, locale),
            delta=format_delta(cause.delta or 0.0, unit, locale),
            share=f"{seg.share * 100:.0f}%",
        ))
    if shown:
        # The rest of the change, so that the lines add up to the total.
        dim = label(cause.dimension or shown[0].dimension)
        rest = []
        offset = _shown(cause.offset, unit, locale)
        if offset is not None:
            rest.append(s["cause_offset"].format(dim=dim, offset=offset))
        not_listed = cause.not_listed(len(shown))
        if not_listed > 0:
            rest.append(s["cause_omitted"].format(n=not_listed, dim=dim))
        remainder = _shown(cause.remainder(len(shown)), unit, locale)
        if remainder is not None:
            rest.append(s["cause_interaction" if cause.ratio else "cause_remainder"].format(rest=remainder))
        if rest:
            lines.append(s["cause_join"].join(rest))
    if cause.funnel_step:
        lines.append(_funnel_line(cause.funnel_step, locale, s))
    return lines
