"""The zh-CN and en wording of the weekly trends, diagnosis, retention and charts.

Kept here rather than in :mod:`opscadence.reporting.i18n` so the weekly analyses do not collide
with the daily catalogue; labels of the daily KPIs still come from the metric catalogue, with
the weekly meaning of the few that differ (mean DAU, MAU at the week's end, WAU).
"""

from __future__ import annotations

from opscadence.core.privacy import escape_mrkdwn
from opscadence.reporting.i18n import metric_label, strings

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "trends_title": "📈 本周趋势（环比上周 · 同比去年同周）",
        "trend_line": "• *{label}* {value} · 环比 {wow} · 同比 {yoy}",
        "no_data_for": "无数据（{week}）",
        "outside_band_low": "低于近{n}周常态区间 {low}–{high}",
        "outside_band_high": "高于近{n}周常态区间 {low}–{high}",
        "missing_previous": "上周（{week}）没有周数据：环比缺失。",
        "missing_last_year": "去年同周（{week}）没有周数据：同比缺失。",
        "missing_week": "本周（{week}）没有周数据（见上方的数据说明）。",
        "band_short": "近12周中只有 {n} 周有数据，少于 {min} 周：不画常态区间。",
        "action_band_bad": "{label} 为 {value}，{where}：本周先查原因（对照上周 {previous}）。",
        "action_band_good": "{label} 为 {value}，{where}：找出带来增长的动作并保持。",
        "diagnosis_title": "🔎 变化诊断（变化最大的 {n} 个指标）",
        "diagnosis_metric": "*{label}* {before} → {after}（{change}，对比上周）",
        "diagnosis_none": "与上周相比没有可诊断的变化（两周的数据不全或没有变化）。",
        "diagnosis_no_segments": "    · 没有能解释这一变化的分组",
        "funnel_moved": "漏斗：{step} 转化 {before} → {after}（{change}），本周变化最大的一步",
        "funnel_missing": "漏斗：两周中缺少一周的漏斗数据，无法比较。",
        "action_segment_bad": "{label} {change}（{before} → {after}）：优先排查 {segment}，它贡献了 {share}。",
        "action_segment_good": "{label} {change}（{before} → {after}）：{segment} 贡献了 {share}，复盘可复制的做法。",
        "action_metric_bad": "{label} {change}（{before} → {after}）：排查原因。",
        "retention_title": "👥 新用户留存（按注册周分组，最近 {n} 组）",
        "retention_definition": "留存：注册后第 N 天（D1/D7/D30）或注册周之后第 N 周（W1…）有任意登录事件或已支付订单的用户占比；尚未走完的天数显示为 —。",
        "retention_line": "• {cohort} · {users} 人 · D1 {d1} · D7 {d7} · D30 {d30} · W1 {w1} · W2 {w2} · W4 {w4}",
        "retention_change": "{mark} 最新可观测组 {cohort} 为 {value}，前一组 {before} 为 {previous}（{change}）",
        "retention_no_cohorts": "最近 {n} 周没有新注册用户：无法计算留存。",
        "retention_unobserved": "{n} 周没有周数据（{weeks}）：用到这些周的留存格显示为 —；可用 `opscadence backfill weekly` 补齐。",
        "action_retention": "{mark} 留存下降 {change}（{cohort}：{value}，前一组 {previous}）：检查新用户首周体验与召回触达。",
        "chart_title": "{week} 核心指标（近{n}周）",
        "chart_band": "常态区间（中位数 ± {k}×MAD）",
        "chart_value": "周值",
        "chart_outside": "超出区间",
        "chart_short": "历史不足，未画区间",
        "chart_alt": "{week} 核心指标近{n}周走势折线图",
    },
    "en": {
        "trends_title": "📈 This week (vs last week · vs the same week last year)",
        "trend_line": "• *{label}* {value} · WoW {wow} · YoY {yoy}",
        "no_data_for": "no data ({week})",
        "outside_band_low": "below its {n}-week range {low}–{high}",
        "outside_band_high": "above its {n}-week range {low}–{high}",
        "missing_previous": "No weekly numbers for last week ({week}): week-over-week changes are missing.",
        "missing_last_year": "No weekly numbers for the same week last year ({week}): year-over-year changes are missing.",
        "missing_week": "No weekly numbers for this week ({week}): see the data note above.",
        "band_short": "Only {n} of the last 12 weeks have numbers, fewer than {min}: no usual range is drawn.",
        "action_band_bad": "{label} is {value}, {where}: find the cause first (last week {previous}).",
        "action_band_good": "{label} is {value}, {where}: find what drove it and keep it.",
        "diagnosis_title": "🔎 What moved (the {n} KPIs that changed most)",
        "diagnosis_metric": "*{label}* {before} → {after} ({change} vs last week)",
        "diagnosis_none": "Nothing to diagnose against last week (a week's numbers are missing, or nothing changed).",
        "diagnosis_no_segments": "    · no segment explains the change",
        "funnel_moved": "funnel: {step} conversion {before} → {after} ({change}), the step that moved most",
        "funnel_missing": "funnel: one of the two weeks has no funnel numbers, nothing to compare.",
        "action_segment_bad": "{label} {change} ({before} → {after}): look into {segment} first, it accounts for {share}.",
        "action_segment_good": "{label} {change} ({before} → {after}): {segment} accounts for {share}; write down what worked.",
        "action_metric_bad": "{label} {change} ({before} → {after}): find the cause.",
        "retention_title": "👥 New-user retention (by signup week, last {n} cohorts)",
        "retention_definition": "Retention: the share of a cohort with any logged-in event or paid order on day N after signup (D1/D7/D30) or in the N-th week after the signup week (W1…); — is not observable yet.",
        "retention_line": "• {cohort} · {users} users · D1 {d1} · D7 {d7} · D30 {d30} · W1 {w1} · W2 {w2} · W4 {w4}",
        "retention_change": "{mark}: latest observable cohort {cohort} {value}, the one before ({before}) {previous} ({change})",
        "retention_no_cohorts": "No signups in the last {n} weeks: no retention to compute.",
        "retention_unobserved": "{n} week(s) without weekly numbers ({weeks}): the retention cells that need them show —; `opscadence backfill weekly` fills them.",
        "action_retention": "{mark} retention fell {change} ({cohort}: {value}, the cohort before {previous}): review the first week of new users and re-engagement messages.",
        "chart_title": "{week} core KPIs (last {n} weeks)",
        "chart_band": "usual range (median ± {k}×MAD)",
        "chart_value": "weekly value",
        "chart_outside": "outside the range",
        "chart_short": "too little history for a range",
        "chart_alt": "Line charts of the core KPIs over the last {n} weeks, {week}",
    },
}

# Weekly KPIs whose weekly meaning differs from the daily label (or that have no daily one).
WEEKLY_LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {"dau": "日均 DAU", "wau": "周活 WAU", "mau": "月活 MAU（周末）"},
    "en": {"dau": "Mean DAU", "wau": "WAU", "mau": "MAU (30d, week's end)"},
}


def text(locale: str, key: str, **values: object) -> str:
    strings(locale)  # an unknown locale fails as everywhere else
    return STRINGS[locale][key].format(**values)


def weekly_metric_label(metric: str, locale: str) -> tuple[str, str]:
    """(escaped label, unit) of a weekly KPI."""
    strings(locale)
    label, unit = metric_label(metric, locale)
    special = WEEKLY_LABELS[locale].get(metric)
    return (escape_mrkdwn(special) if special else label), unit
