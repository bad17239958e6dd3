"""Root-cause drill-down: which segments explain a KPI's change between two days.

When an alert fires (payment success rate 98.6% → 88.9%), :func:`explain` compares one
day's ``mart_daily_kpis`` rows with a baseline day's and names the (dimension, value)
segments that account for most of the change, over every dimension the rows have.
:func:`root_cause_lines` turns the answer into short, escaped lines for a brief.

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

Ranking: within one dimension the segments partition the total, so across dimensions
they are compared by ``share``. Every (dimension, value) pair whose contribution pushes
in the delta's direction (for a drop: most negative first) and whose share is at least
``min_share`` is ranked by share; the top N are kept. The ``all`` dimension itself is
skipped, as is a dimension with a single value (it explains nothing), and a dimension
whose rows lack the numbers the method needs (a ratio row without numerator or
denominator). A zero delta or a missing today/baseline total gives no segments.
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
    segments: list[SegmentContribution] = field(default_factory=list)  # ranked, top first
    funnel_step: str | None = None  # the funnel step that broke (passed in)


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
    module docstring for the method. Returns at most ``top`` segments that push in the
    delta's direction with ``share >= min_share``; none when the delta is 0 or either
    day's total is missing.
    """
    now, base = _index(rows_now, metric), _index(rows_base, metric)
    ratio = _is_ratio(metric, now, base)
    value, baseline = _total(now, ratio), _total(base, ratio)
    delta = None if value is None or baseline is None else value - baseline
    if not delta:  # None (a total is missing) or exactly 0: nothing to explain
        return RootCause(metric, value, baseline, delta, [], funnel_step)

    candidates: list[SegmentContribution] = []
    for dim in sorted(set(now) | set(base)):
        if dim == dimensions.ALL:
            continue
        seg_now, seg_base = now.get(dim, {}), base.get(dim, {})
        if len(set(seg_now) | set(seg_base)) < 2:
            continue  # a single value is the total again: it explains nothing
        split = (_ratio if ratio else _additive)(dim, seg_now, seg_base, delta)
        if split:
            candidates.extend(split)

    # Same direction as the delta <=> share > 0; rank by share (== by contribution in the
    # delta's direction, the delta being common), ties by name for a stable order.
    kept = [s for s in candidates if s.share > 0 and s.share >= min_share]
    kept.sort(key=lambda s: (-s.share, s.dimension, s.dimension_value))
    return RootCause(metric, value, baseline, delta, kept[: max(top, 0)], funnel_step)


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _funnel_line(step: str, locale: str, s: dict[str, str]) -> str:
    def label(key: str) -> str:
        if locale == "zh-CN":
            return step_label(key, locale) or data_text(key, empty="-")
        return data_text(key, empty="-")

    # the funnel the step belongs to (step names are distinct across the verticals' funnels)
    keys = next(([key for key, _ in steps] for steps in FUNNELS.values() if step in dict(steps)), [])
    name = label(step)
    if step in keys and keys.index(step) > 0:
        name = label(keys[keys.index(step) - 1]) + s["step_arrow"] + name
    return s["cause_funnel"].format(step=name)


def root_cause_lines(cause: RootCause, locale: str = "zh-CN", top: int = 3) -> list[str]:
    """Human lines for a root cause, one per segment (top N) then the funnel step if any.

    en: ``payment_method=alipay: 92.0% → 61.3%, explains 78% of the change``;
    zh-CN: ``支付方式=alipay：92.0% → 61.3%，解释了 78% 的变化``; funnel:
    ``funnel: checkout → payment conversion fell most`` / ``漏斗：结算→支付成功 转化下降最多``.
    Values are formatted by the metric's unit; dimension values are escaped data, the
    well-known ones localised (``unknown`` → ``未知``). Dimension and step names are
    translated in zh-CN only: the English lines keep the keys.
    """
    s = strings(locale)
    m = CATALOG.get(cause.metric)
    unit = m.unit if m is not None else "count"
    lines = []
    for seg in cause.segments[: max(top, 0)]:
        if locale == "zh-CN":
            dim = dimension_label(seg.dimension, locale) or data_text(seg.dimension, empty="-")
        else:
            dim = data_text(seg.dimension, empty="-")
        lines.append(s["cause_segment"].format(
            dim=dim,
            value=dimension_value_text(seg.dimension_value, locale, empty="-"),
            before=format_value(seg.baseline, unit, locale),
            after=format_value(seg.value, unit, locale),
            share=f"{seg.share * 100:.0f}%",
        ))
    if cause.funnel_step:
        lines.append(_funnel_line(cause.funnel_step, locale, s))
    return lines
