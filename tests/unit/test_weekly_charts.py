"""The weekly chart: a PNG is written, Chinese labels render with the packaged font."""

from __future__ import annotations

import warnings
from datetime import date

import pytest

from opscadence.analytics.weekly import charts, trends
from opscadence.core.periods import Period

WEEK = Period("week", date(2026, 11, 16))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _trends(gaps: tuple[int, ...] = ()) -> trends.Trends:
    weeks = trends.history_weeks(WEEK)
    totals = {w: {"gmv": 30000.0 + 500 * i, "orders": 200.0 + i, "wau": 1100.0, "paying_rate": 0.18,
                  "aov": 150.0, "payment_success_rate": 0.97} for i, w in enumerate(weeks) if i not in gaps}
    totals[WEEK]["gmv"] = 60000.0  # far above its usual range
    return trends.build_trends(totals, WEEK, list(totals[WEEK]))


def test_the_chart_is_a_png_and_its_chinese_labels_render(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = charts.render_chart(_trends(gaps=(3,)), "ecommerce", "zh-CN", tmp_path / "chart.png")
    assert path == tmp_path / "chart.png" and path.read_bytes()[:8] == PNG_SIGNATURE
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert charts.cjk_font_family() == "Noto Sans SC"


def test_without_the_cjk_font_the_missing_glyphs_are_caught(tmp_path, monkeypatch):
    # The check is real: with matplotlib's own Latin font only, 核心指标 has no glyphs.
    monkeypatch.setattr(charts, "cjk_font_family", lambda: "DejaVu Sans")
    with pytest.raises(RuntimeError, match="lacks glyphs"):
        charts.render_chart(_trends(), "ecommerce", "zh-CN", tmp_path / "chart.png")
    assert not (tmp_path / "chart.png").exists()


def test_the_digest_follows_what_the_chart_shows_not_its_bytes():
    same = charts.chart_digest(_trends(), "ecommerce", "en")
    assert same == charts.chart_digest(_trends(), "ecommerce", "en")
    assert same != charts.chart_digest(_trends(gaps=(5,)), "ecommerce", "en")  # a week's numbers missing
    assert same != charts.chart_digest(_trends(), "ecommerce", "zh-CN")  # other labels


def test_no_chart_without_numbers(tmp_path):
    empty = trends.build_trends({}, WEEK, ["gmv"])
    assert charts.render_chart(empty, "ecommerce", "en", tmp_path / "chart.png") is None
