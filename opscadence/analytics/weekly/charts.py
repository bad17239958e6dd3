"""The weekly chart: the core KPIs over the last 12 weeks, each with its usual range as a band.

One PNG (matplotlib's Agg backend, no display) of small line charts, one per core KPI, drawn
from :class:`~opscadence.analytics.weekly.trends.Trends`: the weekly values (a week without
numbers is a gap, not a zero), the band ``median ± k·MAD`` of the earlier weeks
(:func:`~opscadence.analytics.weekly.trends.usual_range`) and this week's point, red when
outside it. Labels are zh-CN or en; Chinese is set in Noto Sans SC, shipped by the PyPI
package ``pylopdf-fonts-zh-cn`` and registered with matplotlib's font manager (no system font
is needed). :func:`chart_digest` is what decides whether a chart changed (not the PNG bytes).
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, the same output everywhere

from matplotlib import font_manager  # noqa: E402 - after the backend is chosen
from matplotlib.figure import Figure  # noqa: E402

from opscadence.analytics.weekly.trends import BAND_K, CHART_WEEKS, Trend, Trends  # noqa: E402
from opscadence.analytics.weekly.wording import text, weekly_metric_label  # noqa: E402
from opscadence.core.privacy import truncate  # noqa: E402
from opscadence.reporting.i18n import format_value, plain_text  # noqa: E402

# The KPIs the chart shows, per vertical (those the vertical's sources provide).
CORE_KPIS: dict[str, tuple[str, ...]] = {
    "ecommerce": ("gmv", "orders", "wau", "paying_rate", "aov", "payment_success_rate"),
    "social": ("wau", "dau", "new_users", "share_rate", "avg_interaction_seconds", "bounce_rate"),
}
COLUMNS = 3
DPI = 110
FALLBACK_FAMILY = "DejaVu Sans"  # matplotlib's own font: Latin digits and signs


@functools.cache
def cjk_font_family() -> str:
    """Register Noto Sans SC (from ``pylopdf-fonts-zh-cn``) with matplotlib; returns its family name."""
    import pylopdf_fonts_zh_cn

    path = str(pylopdf_fonts_zh_cn.sans_path())
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def chart_metrics(trends: Trends, vertical: str) -> list[Trend]:
    by_name = {t.metric: t for t in trends.trends}
    return [by_name[m] for m in CORE_KPIS.get(vertical, ()) if m in by_name]


def chart_digest(trends: Trends, vertical: str, locale: str) -> str:
    """What the chart shows (series, bands, labels): equal digests, equal charts."""
    shown = [[t.metric, [[w.key, v] for w, v in t.history],
              None if t.band is None else [t.band.low, t.band.high]] for t in chart_metrics(trends, vertical)]
    payload = json.dumps({"week": trends.week.key, "locale": locale, "series": shown}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _label(metric: str, locale: str) -> str:
    return plain_text(weekly_metric_label(metric, locale)[0])  # the chart is not mrkdwn


def render_chart(trends: Trends, vertical: str, locale: str, path: Path) -> Path | None:
    """Write the chart PNG to ``path``; None when no core KPI has numbers this week.

    Raises ``RuntimeError`` if a glyph of the labels is missing from the fonts (the chart
    would show boxes instead of characters).
    """
    shown = [t for t in chart_metrics(trends, vertical) if any(v is not None for _, v in t.history)]
    if not shown:
        return None
    family = [cjk_font_family(), FALLBACK_FAMILY]
    # every text of the figure (titles, ticks drawn later by the formatters) in these fonts
    path = Path(path)
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": family}), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _render(shown, trends, locale, path, family)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    if missing:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"the weekly chart lacks glyphs: {missing[0]}")
    return path


def _render(shown: list[Trend], trends: Trends, locale: str, path: Path, family: list[str]) -> None:
    rows = -(-len(shown) // COLUMNS)
    figure = Figure(figsize=(4.2 * COLUMNS, 2.9 * rows + 0.6), dpi=DPI)
    figure.suptitle(text(locale, "chart_title", week=trends.week.label(locale), n=CHART_WEEKS),
                    fontfamily=family, fontsize=13)
    axes = figure.subplots(rows, COLUMNS, squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    for ax, trend in zip(axes.flat, shown):
        _panel(ax, trend, locale, family)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=len(handles), prop={"family": family, "size": 8},
                      frameon=False)
    figure.tight_layout(rect=(0, 0.05, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={"Software": None})


def _panel(ax, trend: Trend, locale: str, family: list[str]) -> None:  # noqa: ANN001 - a matplotlib Axes
    _, unit = weekly_metric_label(trend.metric, locale)
    scale = 100.0 if unit == "ratio" else 1.0  # rates in percent on the axis
    xs = list(range(len(trend.history)))
    ys = [float("nan") if v is None else v * scale for _, v in trend.history]
    ticks = [w.key.split("-")[1] for w, _ in trend.history]  # "W47"
    if trend.band is not None:
        ax.axhspan(trend.band.low * scale, trend.band.high * scale, color="#9ecae1", alpha=0.35, lw=0,
                   label=text(locale, "chart_band", k=f"{BAND_K:g}"))
    ax.plot(xs, ys, marker="o", ms=3, lw=1.5, color="#08519c", label=text(locale, "chart_value"))
    last = trend.history[-1][1]
    if last is not None:
        outside = trend.band is not None and trend.band.outside(last) != 0
        ax.plot([xs[-1]], [last * scale], marker="o", ms=7, color="#cb181d" if outside else "#08519c",
                ls="none", label=text(locale, "chart_outside") if outside else None)
    title = truncate(_label(trend.metric, locale), 40)
    if last is not None:
        title += f"  {format_value(last, unit, locale)}"
    if trend.band is None:
        title += f"\n({text(locale, 'chart_short')})"
    ax.set_title(title, fontfamily=family, fontsize=10)
    ax.set_xticks(xs[::2], ticks[::2], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3)
    ax.margins(x=0.04)


def chart_alt_text(trends: Trends, locale: str) -> str:
    """The image's description for screen readers (Slack's alt_txt: at most 1000 characters)."""
    return truncate(text(locale, "chart_alt", week=trends.week.label(locale), n=CHART_WEEKS), 1000)
