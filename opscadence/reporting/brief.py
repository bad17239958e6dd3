"""Render a :class:`~opscadence.core.model.DailyBrief` as a Slack message.

``render_daily_brief`` is pure: the same brief gives the same :class:`Message`. Its
``blocks`` are Slack Block Kit; its ``text`` is the notification fallback and is also
written as the Markdown outbox file and printed on the terminal, so it reads on its
own (title, KPIs, alerts, funnel, data quality, feedback, run link) with no
Slack-only markup besides escaped entities.

Safety rules enforced here:

* every string that came from data (dimension values, step keys, data-quality
  table/check/column/detail/samples, feedback, unknown metric names) goes through
  :func:`~opscadence.core.privacy.escape_mrkdwn`, in the blocks and in the fallback text;
  feedback is also masked with :func:`~opscadence.core.privacy.mask_pii`, samples with
  :func:`~opscadence.core.privacy.redact_sample`;
* when data quality failed, no number built on that day's data is shown: no KPI
  section, no funnel, and threshold alerts are withheld (only counted);
* Slack's documented limits hold: ≤ 50 blocks, section text ≤ 3000 chars, ≤ 10 fields
  of ≤ 2000 chars, header ≤ 150 chars, context element ≤ 2000 chars, fallback text
  ≤ 40,000 chars. Long lists keep the most severe items and end with "…and N more".
"""

from __future__ import annotations

import re
from typing import Any

from opscadence.metrics.catalog import CATALOG
from opscadence.core.model import (
    Alert,
    DailyBrief,
    DataQualityIssue,
    Funnel,
    KpiValue,
    Message,
    alert_key,
    relative_change,
)
from opscadence.core.privacy import escape_mrkdwn, mask_pii, redact_sample, truncate

__all__ = [
    "LOCALES",
    "MAX_BLOCKS",
    "MAX_SECTION_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_CONTEXT_ELEMENT",
    "MAX_FIELD_TEXT",
    "MAX_FIELDS",
    "MAX_FALLBACK_TEXT",
    "MAX_ALERTS_SHOWN",
    "MAX_DQ_ISSUES_SHOWN",
    "render_daily_brief",
    "format_value",
    "format_change",
    "suggestion_for",
    "describe_alert",
]

# Slack's documented limits.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENT = 2000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_FALLBACK_TEXT = 40_000

# Our own caps, so a bad day stays readable.
MAX_ALERTS_SHOWN = 10
MAX_DQ_ISSUES_SHOWN = 10
MAX_SAMPLES = 3
MAX_FEEDBACK_SHOWN = 3
FEEDBACK_EXCERPT_CHARS = 200
DQ_DETAIL_CHARS = 200
DATA_VALUE_CHARS = 100  # dimension values, table/check names, step keys
MAX_LINE = 1500  # one rendered line, so that two always fit in a section

SEVERITY_EMOJI = {"P1": "🔴", "P2": "🟠", "P3": "🟡"}
_SEVERITY_RANK = {"P1": 0, "P2": 1, "P3": 2}

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "📊 每日数据简报 {ds} ({tz})",
        "backfill_title": "🔁 回补完成：{cadence} {start} ~ {end}",
        "backfill_counts": "完成 {done} · 跳过 {skipped} · 失败 {failed}",
        "backfill_recomputed": "其中 {n} 天因输入数据变化而重算",
        "backfill_failed": "失败的周期：",
        "na": "无",
        "kpis": "📈 核心指标",
        "dod": "较昨日",
        "wow": "较上周同日",
        "kpi_line": "{label}：{value}（{dod} {dod_v}，{wow} {wow_v}）",
        "alerts": "🚨 告警（{n}）",
        "no_alerts": "✅ 无告警",
        "below": "{label}{dim} {value}，低于阈值 {threshold}",
        "above": "{label}{dim} {value}，高于阈值 {threshold}",
        "drop_vs_last_week": "{label}{dim} {value}，较上周同日下降 {pct}（{baseline}）",
        "rise_vs_last_week": "{label}{dim} {value}，较上周同日上升 {pct}（{baseline}）",
        "drop_vs_yesterday": "{label}{dim} {value}，较昨日下降 {pct}（{baseline}）",
        "rise_vs_yesterday": "{label}{dim} {value}，较昨日上升 {pct}（{baseline}）",
        "drop_vs_same_period_last_year": "{label}{dim} {value}，较去年同期下降 {pct}（{baseline}）",
        "rise_vs_same_period_last_year": "{label}{dim} {value}，较去年同期上升 {pct}（{baseline}）",
        "anomaly_drop": "{label}{dim} {value}，比季节性预期 {baseline} 低 {pct}（异常）",
        "urgent_feedback": "今日紧急用户反馈 {value} 条（支付失败、账号被封等）",
        "anomaly_rise": "{label}{dim} {value}，比季节性预期 {baseline} 高 {pct}（异常）",
        "other_condition": "{label}{dim} {value}，触发规则 {condition}（阈值 {threshold}）",
        "dim": "（{name}：{value}）",
        "dq_alert": "数据质量：{name}{dim}未通过校验",
        "dq_alert_count": "，异常 {count} 行",
        "suggest": "建议：",
        "more": "…另有 {n} 条",
        "withheld_alerts": "另有 {n} 条指标告警因数据校验未通过暂不展示",
        "dq_failed": "⛔ 数据校验未通过：{ds} 的指标数字暂不发布",
        "dq_failed_hint": "修复数据后重跑流程即可生成完整简报。",
        "dq_no_details": "（无明细）",
        "dq_column": "列 {column}",
        "dq_count": "异常 {count} 行",
        "dq_samples": "样例：{samples}",
        "dq_warnings": "⚠️ 数据质量提醒 {n} 项（非阻断）：{names}",
        "funnel": "🔻 转化漏斗",
        "funnel_step": "{label} {users}（转化率 {conv}）",
        "weakest": "最弱环节：{step}",
        "weakest_change_last_week": "，较上周同日 {change}",
        "weakest_change_previous_day": "，较昨日 {change}",
        "weakest_change": "，变化 {change}",
        "feedback": "📣 紧急反馈 {n} 条",
        "run_link": "查看运行",
        "truncated": "…内容过长，其余部分已省略",
        "sec": "{s}秒",
        "min_sec": "{m}分{s}秒",
        "hour_min_sec": "{h}小时{m}分{s}秒",
    },
    "en": {
        "title": "📊 Daily brief {ds} ({tz})",
        "backfill_title": "🔁 Backfill finished: {cadence} {start} .. {end}",
        "backfill_counts": "done {done} · skipped {skipped} · failed {failed}",
        "backfill_recomputed": "{n} of them recomputed: inputs changed",
        "backfill_failed": "Failed periods:",
        "na": "n/a",
        "kpis": "📈 Headline KPIs",
        "dod": "DoD",
        "wow": "WoW",
        "kpi_line": "{label}: {value} ({dod} {dod_v}, {wow} {wow_v})",
        "alerts": "🚨 Alerts ({n})",
        "no_alerts": "✅ No alerts",
        "below": "{label}{dim} {value}, below the {threshold} threshold",
        "above": "{label}{dim} {value}, above the {threshold} threshold",
        "drop_vs_last_week": "{label}{dim} {value}, down {pct} vs same weekday last week ({baseline})",
        "rise_vs_last_week": "{label}{dim} {value}, up {pct} vs same weekday last week ({baseline})",
        "drop_vs_yesterday": "{label}{dim} {value}, down {pct} vs yesterday ({baseline})",
        "rise_vs_yesterday": "{label}{dim} {value}, up {pct} vs yesterday ({baseline})",
        "drop_vs_same_period_last_year": "{label}{dim} {value}, down {pct} vs the same period last year ({baseline})",
        "rise_vs_same_period_last_year": "{label}{dim} {value}, up {pct} vs the same period last year ({baseline})",
        "anomaly_drop": "{label}{dim} {value}, {pct} below the expected {baseline} (seasonal anomaly)",
        "urgent_feedback": "{value} urgent user feedback message(s) today (payment failed, account banned, …)",
        "anomaly_rise": "{label}{dim} {value}, {pct} above the expected {baseline} (seasonal anomaly)",
        "other_condition": "{label}{dim} {value}, rule {condition} (threshold {threshold})",
        "dim": " ({name}: {value})",
        "dq_alert": "Data quality: {name}{dim} failed validation",
        "dq_alert_count": ", {count} unexpected rows",
        "suggest": "Suggested: ",
        "more": "…and {n} more",
        "withheld_alerts": "{n} metric alert(s) withheld because data validation failed",
        "dq_failed": "⛔ Data validation failed: numbers for {ds} are withheld",
        "dq_failed_hint": "Fix the data and re-run the flow to get the full brief.",
        "dq_no_details": "(no details)",
        "dq_column": "column {column}",
        "dq_count": "{count} unexpected",
        "dq_samples": "e.g. {samples}",
        "dq_warnings": "⚠️ {n} data-quality warning(s) (non-blocking): {names}",
        "funnel": "🔻 Funnel",
        "funnel_step": "{label} {users} ({conv} conversion)",
        "weakest": "Weakest step: {step}",
        "weakest_change_last_week": ", {change} vs same weekday last week",
        "weakest_change_previous_day": ", {change} vs yesterday",
        "weakest_change": ", {change}",
        "feedback": "📣 Urgent feedback: {n}",
        "run_link": "View run",
        "truncated": "…message too long, the rest is omitted",
        "sec": "{s}s",
        "min_sec": "{m}m {s}s",
        "hour_min_sec": "{h}h {m}m {s}s",
    },
}
LOCALES = tuple(STRINGS)

FUNNEL_STEP_LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "page_view": "访问",
        "product_view": "商品浏览",
        "add_to_cart": "加购",
        "checkout": "结算",
        "payment": "支付成功",
    },
    "en": {
        "page_view": "Visit",
        "product_view": "Product view",
        "add_to_cart": "Add to cart",
        "checkout": "Checkout",
        "payment": "Payment success",
    },
}
_STEP_ARROW = {"zh-CN": "→", "en": " → "}

# First suggested action, keyed by (metric, direction) or (metric, None); direction is
# "down" for below/drop_* and "up" for above/rise_*.
SUGGESTIONS: dict[str, dict[tuple[str, str | None], str]] = {
    "zh-CN": {
        ("payment_success_rate", None): "排查支付网关错误与延迟（按支付方式、平台拆分）",
        ("ad_ctr", None): "更换素材或暂停该渠道",
        ("dau", "down"): "核查当天的发版、获客渠道与埋点",
        ("dau", "up"): "排查机器人流量或重复埋点，再确认获客渠道",
        ("bounce_rate", None): "检查落地页加载速度与内容，以及新渠道的流量质量",
        ("add_to_cart_conversion", None): "检查热门商品的详情页、价格与库存",
        ("orders", None): "检查结算、支付环节与进行中的促销活动",
        ("gmv", None): "按品类、渠道拆分 GMV，定位变化来源",
        ("aov", None): "检查折扣、优惠券使用与商品结构",
        ("repurchase_rate", None): "复盘老客召回（优惠券、推送、会员权益）",
        ("new_users", None): "检查获客渠道、广告投放与注册流程",
        ("registration_conversion", None): "检查注册流程（短信验证码、表单报错），按平台拆分",
        ("urgent_feedback", None): "客服立即核实并在 30 分钟内响应用户，同步技术排查",
    },
    "en": {
        ("payment_success_rate", None): "check payment gateway errors and latency, by payment method and platform",
        ("ad_ctr", None): "change the creative or pause the channel",
        ("dau", "down"): "check releases, acquisition channels and tracking for that day",
        ("dau", "up"): "check for bot traffic or duplicated tracking, then the acquisition channels",
        ("urgent_feedback", None): "have support verify and answer the users within 30 minutes, and loop in engineering",
        ("bounce_rate", None): "check landing-page speed and content, and traffic quality from new channels",
        ("add_to_cart_conversion", None): "check product pages, prices and stock of the top products",
        ("orders", None): "check the checkout and payment steps and running promotions",
        ("gmv", None): "break GMV down by category and channel to find where the change comes from",
        ("aov", None): "check discounts, coupon use and the product mix",
        ("repurchase_rate", None): "review win-back campaigns for returning buyers (coupons, push, membership)",
        ("new_users", None): "check acquisition channels, ad spend and the sign-up flow",
        ("registration_conversion", None): "check the sign-up flow (SMS codes, form errors) by platform",
    },
}
GENERIC_SUGGESTION = {
    "zh-CN": "按渠道、平台拆分该指标，并对照近期发版与活动",
    "en": "break the metric down by channel and platform and compare with recent releases and campaigns",
}
DQ_SUGGESTION = {
    "zh-CN": "检查上游数据同步与埋点，修复后重跑当日流程",
    "en": "check the upstream load and tracking for that table, then re-run the day's flow",
}


def _strings(locale: str) -> dict[str, str]:
    try:
        return STRINGS[locale]
    except KeyError:
        raise ValueError(f"unsupported locale {locale!r}; expected one of {', '.join(LOCALES)}") from None


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def format_value(value: float | None, unit: str, locale: str = "zh-CN") -> str:
    """Format a metric value: 12,345 · 93.1% · ¥12,345.60 · 1m 23s / 1分23秒 · n/a / 无."""
    s = _strings(locale)
    if value is None:
        return s["na"]
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "currency":
        return f"-¥{-value:,.2f}" if value < 0 else f"¥{value:,.2f}"
    if unit == "seconds":
        total = int(round(abs(value)))
        h, rest = divmod(total, 3600)
        m, sec = divmod(rest, 60)
        sign = "-" if value < 0 and total else ""
        if h:
            return sign + s["hour_min_sec"].format(h=h, m=m, s=sec)
        if m:
            return sign + s["min_sec"].format(m=m, s=sec)
        return sign + s["sec"].format(s=sec)
    return f"{value:,.0f}"


def _signed_pct(change: float) -> str:
    pct = round(change * 100, 1)
    return "0.0%" if pct == 0 else f"{pct:+,.1f}%"


def format_change(change: float | None, locale: str = "zh-CN") -> str:
    """A relative change as an arrow plus signed percent: "▲ +5.2%", "▼ -12.3%", "0.0%", "n/a"/"无"."""
    s = _strings(locale)
    if change is None:
        return s["na"]
    text = _signed_pct(change)
    if text == "0.0%":
        return text
    return ("▲ " if change > 0 else "▼ ") + text


def _direction(condition: str) -> str | None:
    if condition in ("below", "anomaly_drop") or condition.startswith("drop"):
        return "down"
    if condition in ("above", "anomaly_rise") or condition.startswith("rise"):
        return "up"
    return None


def suggestion_for(metric: str, condition: str, locale: str = "zh-CN", kind: str = "threshold") -> str:
    """The first suggested action for an alert: by (metric, direction), then metric, then generic."""
    _strings(locale)
    if kind == "data_quality":
        return DQ_SUGGESTION[locale]
    table = SUGGESTIONS[locale]
    return (
        table.get((metric, _direction(condition)))
        or table.get((metric, None))
        or GENERIC_SUGGESTION[locale]
    )


def _data(text: object, limit: int = DATA_VALUE_CHARS) -> str:
    """A short data-derived value on one line: truncated, then escaped."""
    one_line = " ".join(str(text).split())
    return escape_mrkdwn(truncate(one_line, limit)) if one_line else ""


def _metric_label(metric: str, locale: str) -> tuple[str, str]:
    """(escaped label, unit) for a metric name; unknown names are data."""
    m = CATALOG.get(metric)
    if m is None:
        return _data(metric), "count"
    return escape_mrkdwn(m.label(locale)), m.unit


def _step_label(step: str, locale: str) -> str:
    label = FUNNEL_STEP_LABELS[locale].get(step)
    return label if label is not None else _data(step)


def _safe_tz(tz: str) -> str:
    return re.sub(r"[^A-Za-z0-9_/+\-]", "", tz)[:64]


def _safe_link(url: str | None, label: str) -> str | None:
    """``<url|label>`` for an http(s) URL, with Slack's control characters escaped."""
    if not url:
        return None
    url = url.strip()
    if not re.match(r"https?://", url, re.IGNORECASE) or any(c.isspace() for c in url):
        return None
    url = url.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "%7C")
    link = f"<{url}|{label}>"
    return link if len(link) <= MAX_CONTEXT_ELEMENT - 50 else None


# ---------------------------------------------------------------------------
# Parts: each returns (blocks, fallback lines)
# ---------------------------------------------------------------------------


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


def _pack(title: str, lines: list[str]) -> list[dict[str, Any]]:
    """Section blocks holding ``*title*`` then ``lines``, each text ≤ MAX_SECTION_TEXT."""
    blocks: list[dict[str, Any]] = []
    current = f"*{title}*"
    for line in lines:
        line = truncate(line, MAX_LINE)
        if len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            blocks.append(_section(current))
            current = line
        else:
            current = f"{current}\n{line}"
    blocks.append(_section(current))
    return blocks


def _more(n: int, s: dict[str, str]) -> str:
    return s["more"].format(n=n)


def _kpi_part(kpis: list[KpiValue], locale: str, s: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    fields: list[dict[str, Any]] = []
    lines: list[str] = []
    for k in kpis:
        label, unit = _metric_label(k.metric, locale)
        value = format_value(k.value, unit, locale)
        dod, wow = format_change(k.day_over_day, locale), format_change(k.week_over_week, locale)
        field_text = f"*{label}*\n{value}\n{s['dod']} {dod} · {s['wow']} {wow}"
        fields.append({"type": "mrkdwn", "text": truncate(field_text, MAX_FIELD_TEXT)})
        lines.append("• " + s["kpi_line"].format(label=label, value=value, dod=s["dod"], dod_v=dod,
                                                 wow=s["wow"], wow_v=wow))
    blocks: list[dict[str, Any]] = []
    for i in range(0, len(fields), MAX_FIELDS):
        block: dict[str, Any] = {"type": "section", "fields": fields[i : i + MAX_FIELDS]}
        if i == 0:
            block["text"] = {"type": "mrkdwn", "text": f"*{s['kpis']}*"}
        blocks.append(block)
    return blocks, [s["kpis"], *lines]


DIMENSION_LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {"channel": "渠道", "platform": "平台", "payment_method": "支付方式", "campaign": "活动", "table": "数据表"},
    "en": {"channel": "channel", "platform": "platform", "payment_method": "payment method", "campaign": "campaign",
           "table": "table"},
}


def _dim(alert: Alert, s: dict[str, str]) -> str:
    if alert.dimension in ("", "all") or alert.dimension_value in ("", "all"):
        return ""
    locale = "zh-CN" if s is STRINGS["zh-CN"] else "en"
    name = DIMENSION_LABELS[locale].get(alert.dimension, alert.dimension)
    return s["dim"].format(name=_data(name), value=_data(alert.dimension_value))


def describe_alert(alert: Alert, locale: str = "zh-CN") -> str:
    """One sentence for an alert, data escaped: "支付成功率 88.2%，低于阈值 95.0%"."""
    s = _strings(locale)
    dim = _dim(alert, s)
    if alert.kind == "data_quality":
        # The data-quality alert names the failing tables in its dimension value.
        name = alert.dimension_value if alert.metric == "data_quality" else alert.metric
        text = s["dq_alert"].format(name=_data(name), dim="" if alert.metric == "data_quality" else dim)
        if alert.value is not None:
            text += s["dq_alert_count"].format(count=f"{alert.value:,.0f}")
        return text
    if alert.metric == "urgent_feedback":
        return s["urgent_feedback"].format(value=format_value(alert.value, "count", locale))
    label, unit = _metric_label(alert.metric, locale)
    value = format_value(alert.value, unit, locale)
    # The daily brief: the previous period is yesterday.
    condition = {"drop_vs_previous_period": "drop_vs_yesterday",
                 "rise_vs_previous_period": "rise_vs_yesterday"}.get(alert.condition, alert.condition)
    if condition in ("below", "above"):
        return s[condition].format(label=label, dim=dim, value=value,
                                   threshold=format_value(alert.threshold, unit, locale))
    if condition in ("drop_vs_last_week", "rise_vs_last_week", "drop_vs_yesterday", "rise_vs_yesterday",
                     "drop_vs_same_period_last_year", "rise_vs_same_period_last_year", "anomaly_drop", "anomaly_rise"):
        change = relative_change(alert.value, alert.baseline)
        pct = f"{abs(change) * 100:.1f}%" if change is not None else f"≥{alert.threshold * 100:.1f}%"
        return s[condition].format(label=label, dim=dim, value=value, pct=pct,
                                   baseline=format_value(alert.baseline, unit, locale))
    return s["other_condition"].format(label=label, dim=dim, value=value, condition=_data(condition),
                                       threshold=f"{alert.threshold:g}")


MAX_DETAILS_SHOWN = 2  # root-cause lines under an alert in the brief


def _alert_lines(alert: Alert, locale: str, s: dict[str, str], *, markup: bool,
                 details: list[str] | None = None) -> str:
    emoji = SEVERITY_EMOJI.get(alert.severity, "⚪")
    sev = _data(alert.severity, 10)
    sev = f"*{sev}*" if markup else sev
    suggestion = suggestion_for(alert.metric, alert.condition, locale, alert.kind)
    text = f"{emoji} {sev} {describe_alert(alert, locale)}\n    → {s['suggest']}{suggestion}"
    # Root-cause lines arrive escaped (opscadence.alerting.rootcause); only their length is bounded here.
    for line in (details or [])[:MAX_DETAILS_SHOWN]:
        text += f"\n    · {truncate(line, 300)}"
    return text


def _alerts_part(alerts: list[Alert], dq_passed: bool, locale: str,
                 s: dict[str, str], details: dict[str, list[str]] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    withheld = 0
    if not dq_passed:
        withheld = sum(1 for a in alerts if a.kind != "data_quality")
        alerts = [a for a in alerts if a.kind == "data_quality"]
    if not alerts and not withheld:
        if not dq_passed:
            return [], []  # nothing could be evaluated; the data-quality section says so
        return [_section(s["no_alerts"])], [s["no_alerts"]]
    ordered = sorted(alerts, key=lambda a: (_SEVERITY_RANK.get(a.severity, 9), a.kind != "data_quality"))
    shown, hidden = ordered[:MAX_ALERTS_SHOWN], len(ordered) - MAX_ALERTS_SHOWN
    title = s["alerts"].format(n=len(alerts))
    details = details or {}
    block_lines = [_alert_lines(a, locale, s, markup=True, details=details.get(alert_key(a))) for a in shown]
    text_lines = [_alert_lines(a, locale, s, markup=False, details=details.get(alert_key(a))) for a in shown]
    extra = []
    if hidden > 0:
        extra.append(_more(hidden, s))
    if withheld:
        extra.append(s["withheld_alerts"].format(n=withheld))
    return _pack(title, block_lines + extra), [title, *text_lines, *extra]


def _issue_line(issue: DataQualityIssue, s: dict[str, str]) -> str:
    parts = [_data(issue.table), _data(issue.expectation)]
    if issue.column:
        parts.append(s["dq_column"].format(column=_data(issue.column)))
    if issue.unexpected_count is not None:
        parts.append(s["dq_count"].format(count=f"{issue.unexpected_count:,}"))
    samples = [_data(redact_sample(str(x)), 60) for x in issue.sample[:MAX_SAMPLES]]
    samples = [x for x in samples if x]
    if samples:
        parts.append(s["dq_samples"].format(samples=", ".join(samples)))
    line = ("❌ " if issue.severity == "critical" else "⚠️ ") + " · ".join(p for p in parts if p)
    if issue.detail:
        line += " — " + escape_mrkdwn(truncate(" ".join(mask_pii(issue.detail[:2000]).split()), DQ_DETAIL_CHARS))
    return line


def _dq_failed_part(brief: DailyBrief, s: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    title = s["dq_failed"].format(ds=brief.ds.isoformat())
    issues = sorted(brief.dq_issues, key=lambda i: i.severity != "critical")
    lines = [_issue_line(i, s) for i in issues[:MAX_DQ_ISSUES_SHOWN]] or [s["dq_no_details"]]
    if len(issues) > MAX_DQ_ISSUES_SHOWN:
        lines.append(_more(len(issues) - MAX_DQ_ISSUES_SHOWN, s))
    lines.append(s["dq_failed_hint"])
    return _pack(title, lines), [title, *lines]


def _dq_warning_part(issues: list[DataQualityIssue], s: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    names = "; ".join(f"{_data(i.table)} · {_data(i.expectation)}" for i in issues[:3])
    if len(issues) > 3:
        names += " " + _more(len(issues) - 3, s)
    text = truncate(s["dq_warnings"].format(n=len(issues), names=names), MAX_CONTEXT_ELEMENT)
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}], [text]


def _funnel_part(funnel: Funnel, locale: str, s: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    lines = []
    for i, step in enumerate(funnel.steps):
        label, users = _step_label(step.step, locale), format_value(step.users, "count", locale)
        if i == 0 or step.conversion is None:
            lines.append(f"{label} {users}")
        else:
            lines.append(s["funnel_step"].format(label=label, users=users,
                                                 conv=format_value(step.conversion, "ratio", locale)))
    if funnel.weakest_step:
        keys = [st.step for st in funnel.steps]
        name = _step_label(funnel.weakest_step, locale)
        if funnel.weakest_step in keys and keys.index(funnel.weakest_step) > 0:
            prev = keys[keys.index(funnel.weakest_step) - 1]
            name = f"{_step_label(prev, locale)}{_STEP_ARROW[locale]}{name}"
        line = s["weakest"].format(step=name)
        if funnel.weakest_change is not None:
            key = {"last_week": "weakest_change_last_week", "previous_day": "weakest_change_previous_day"}.get(
                funnel.weakest_baseline or "", "weakest_change")
            line += s[key].format(change=_signed_pct(funnel.weakest_change))
        lines.append(line)
    return _pack(s["funnel"], lines), [s["funnel"], *lines]


def _feedback_excerpt(text: str) -> str:
    # Cap before masking (bounded regex work), mask, cut, then escape, on one line.
    masked = mask_pii(str(text)[: FEEDBACK_EXCERPT_CHARS * 10])
    return "> " + escape_mrkdwn(truncate(" ".join(masked.split()), FEEDBACK_EXCERPT_CHARS))


def _feedback_part(brief: DailyBrief, s: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    title = s["feedback"].format(n=f"{brief.urgent_feedback_count:,}")
    lines = [_feedback_excerpt(t) for t in brief.urgent_feedback[:MAX_FEEDBACK_SHOWN] if str(t).strip()]
    return _pack(title, lines), [title, *lines]


def _footer(brief: DailyBrief, s: dict[str, str]) -> tuple[dict[str, Any], str]:
    link = _safe_link(brief.run_url, s["run_link"])
    block_text = f"{link} · opscadence" if link else "opscadence"
    text = "opscadence"
    if link:
        url = link[1 : link.rindex("|")]
        text = f"{s['run_link']}: {url} · opscadence"
    element = {"type": "mrkdwn", "text": truncate(block_text, MAX_CONTEXT_ELEMENT)}
    return {"type": "context", "elements": [element]}, text


def _fit_blocks(blocks: list[dict[str, Any]], s: dict[str, str]) -> list[dict[str, Any]]:
    """Keep at most MAX_BLOCKS: the first ones, a truncation note, and the footer."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return [*blocks[: MAX_BLOCKS - 2], _section(s["truncated"]), blocks[-1]]


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def render_daily_brief(brief: DailyBrief, locale: str = "zh-CN") -> Message:
    """Render ``brief`` as Slack blocks plus a self-contained plain-text/Markdown fallback.

    Raises ``ValueError`` for a locale other than ``zh-CN`` or ``en``.
    """
    s = _strings(locale)
    title = s["title"].format(ds=brief.ds.isoformat(), tz=_safe_tz(brief.timezone))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(title, MAX_HEADER_TEXT), "emoji": True}}
    ]
    paragraphs: list[list[str]] = [[title]]

    def add(part: tuple[list[dict[str, Any]], list[str]], divider: bool = True) -> None:
        part_blocks, part_lines = part
        if not part_blocks:
            return
        if divider and len(blocks) > 1:
            blocks.append({"type": "divider"})
        blocks.extend(part_blocks)
        paragraphs.append(part_lines)

    if not brief.dq_passed:
        add(_dq_failed_part(brief, s))
    else:
        if brief.kpis:
            add(_kpi_part(brief.kpis, locale, s))
        if brief.dq_issues:
            add(_dq_warning_part(brief.dq_issues, s), divider=False)
    add(_alerts_part(brief.alerts, brief.dq_passed, locale, s, brief.alert_details))
    if brief.dq_passed and brief.funnel is not None and brief.funnel.steps:
        add(_funnel_part(brief.funnel, locale, s))
    if brief.urgent_feedback_count > 0:
        add(_feedback_part(brief, s))

    footer_block, footer_text = _footer(brief, s)
    blocks.append(footer_block)
    paragraphs.append([footer_text])

    text = "\n\n".join("\n".join(p) for p in paragraphs)
    return Message(text=truncate(text, MAX_FALLBACK_TEXT), blocks=_fit_blocks(blocks, s))


def render_backfill_summary(summary: Any, locale: str = "zh-CN") -> Message:
    """One message for a whole backfill: done, skipped, failed (with why, escaped)."""
    s = _strings(locale)
    title = s["backfill_title"].format(cadence=_data(summary.cadence), start=summary.start.isoformat(),
                                       end=summary.end.isoformat())
    counts = s["backfill_counts"].format(done=len(summary.done), skipped=len(summary.skipped),
                                         failed=len(summary.failed))
    lines = [counts]
    if summary.recomputed:
        lines.append(s["backfill_recomputed"].format(n=len(summary.recomputed)))
    failed = sorted(summary.failed.items())
    if failed:
        lines.append(s["backfill_failed"])
        lines += [f"• {period}: {_data(why, 300)}" for period, why in failed[:MAX_ALERTS_SHOWN]]
        if len(failed) > MAX_ALERTS_SHOWN:
            lines.append(_more(len(failed) - MAX_ALERTS_SHOWN, s))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(title, MAX_HEADER_TEXT), "emoji": True}},
        *_pack(counts, lines[1:]),
    ]
    return Message(text=truncate("\n".join([title, *lines]), MAX_FALLBACK_TEXT), blocks=_fit_blocks(blocks, s))
