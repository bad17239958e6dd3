"""The one string catalogue (zh-CN and en) and the formatting every message shares.

Every user-visible string of the brief, the alert messages and the root-cause lines lives
in :data:`STRINGS`, keyed, once per locale. Metric labels stay in the metric catalogue
(:mod:`opscadence.metrics.catalog`) and are read from there. Lookup tables share the
catalogue under a prefix:

* ``dimension.<name>``: a dimension's label ("渠道" / "channel");
* ``value.<value>``: a dimension value we generate, not the shop: the one the SQL writes for
  a missing value of a dimension (:mod:`opscadence.metrics.dimensions`: "unknown" → "未知",
  channel "direct" → "直接访问", campaign "none" → "无活动");
* ``step.<step>``: a funnel step's label;
* ``metric.<name>``: the label of a series of ours that is not a KPI of the catalogue
  (``urgent_feedback``);
* ``playbook.<...>``: the built-in suggested actions (:mod:`opscadence.reporting.playbook`).

:func:`data_text` is the one way a structured value that came from data (a table, check or
column name, a data-quality finding) enters a message: on one line, truncated, then escaped
for Slack mrkdwn. Dimension values are free text (a UTM tag is whatever someone typed) and
also have personal data masked (:func:`~opscadence.core.privacy.free_text`, through
:func:`dimension_value_text`). Messages are rendered once, for Slack;
:func:`plain_text` turns such a text into the plain one the terminal and the ``.md`` outbox
files show (the entities decoded), so the Slack escaping is never weakened.

Changes: a rate of the catalogue (:attr:`~opscadence.metrics.catalog.MetricDef.is_rate`)
changes by percentage points (88.9% vs 99.0%: "-10.1 pp"), a count or an amount by a
relative percent (:func:`format_kpi_change`); relative percents of a percent mislead.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo

from opscadence.core.privacy import escape_mrkdwn, free_text, truncate
from opscadence.metrics import dimensions
from opscadence.metrics.catalog import CATALOG, is_rate

__all__ = [
    "LOCALES",
    "STRINGS",
    "SEVERITY_EMOJI",
    "DATA_VALUE_CHARS",
    "strings",
    "data_text",
    "format_value",
    "format_change",
    "format_point_change",
    "format_kpi_change",
    "format_delta",
    "signed_pct",
    "signed_points",
    "plain_text",
    "format_date",
    "format_datetime",
    "format_duration",
    "metric_label",
    "dimension_label",
    "dimension_value_text",
    "step_label",
]

DATA_VALUE_CHARS = 100  # dimension values, table/check names, step keys

SEVERITY_EMOJI = {"P1": "🔴", "P2": "🟠", "P3": "🟡"}

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # --- the daily brief
        "title": "📊 每日数据简报 {ds} ({tz})",
        "na": "无",
        "kpis": "📈 核心指标",
        "dod": "较昨日",
        "wow": "较上周同日",
        "kpi_line": "{label}：{value}（{dod} {dod_v}，{wow} {wow_v}）",
        "alerts": "🚨 告警（{n}）",
        "no_alerts": "✅ 无告警",
        "suggest": "建议：",
        "more": "…另有 {n} 条",
        "withheld_alerts": "另有 {n} 条指标告警因数据校验未通过暂不展示",
        "dq_failed": "⛔ 数据校验未通过：{ds} 的指标数字暂不发布",
        "dq_failed_hint": "修复数据后重跑流程即可生成完整简报。",
        "dq_no_details": "（无明细）",
        "dq_no_rows": "{where} 中没有 {ds} 的 {tables} 数据",
        "dq_source_empty": "没有 {ds} 的 {tables} 数据：{where} 中没有任何数据（新建或空的仓库/导出目录），请先导入数据，或运行 `opscadence demo`",
        "partial_period": "⚠️ {period} 尚未结束（{tz}）：数字不完整，告警不计入告警状态",
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
        "step_arrow": "→",
        "feedback": "📣 紧急反馈 {n} 条",
        "unavailable": "⚪ 无法计算：{metrics}（没有数据源提供 {tables}）",
        "funnel_name": "转化漏斗",
        "pp": "{n} 个百分点",
        "run_link": "查看运行",
        "truncated": "…内容过长，其余部分已省略",
        "delivery_health": "⚠️ 有 {n} 条较早的消息未送达 Slack（最早：{period}），运行 opscadence outbox status 查看",
        # --- the backfill summary
        "backfill_title": "🔁 回补完成：{cadence} {start} ~ {end}",
        "backfill_counts": "完成 {done} · 跳过 {skipped} · 失败 {failed}",
        "backfill_recomputed": "其中 {n} 天因输入数据变化而重算",
        "backfill_failed": "失败的周期：",
        # --- one alert in a sentence
        "below": "{label}{dim} {value}，低于阈值 {threshold}",
        "above": "{label}{dim} {value}，高于阈值 {threshold}",
        "drop_vs_last_week": "{label}{dim} {value}，较上周同日下降 {pct}（{baseline}）",
        "rise_vs_last_week": "{label}{dim} {value}，较上周同日上升 {pct}（{baseline}）",
        "drop_vs_yesterday": "{label}{dim} {value}，较昨日下降 {pct}（{baseline}）",
        "rise_vs_yesterday": "{label}{dim} {value}，较昨日上升 {pct}（{baseline}）",
        "drop_vs_same_period_last_year": "{label}{dim} {value}，较去年同期下降 {pct}（{baseline}）",
        "rise_vs_same_period_last_year": "{label}{dim} {value}，较去年同期上升 {pct}（{baseline}）",
        "anomaly_drop": "{label}{dim} {value}，比季节性预期 {baseline} 低 {pct}（异常）",
        "anomaly_rise": "{label}{dim} {value}，比季节性预期 {baseline} 高 {pct}（异常）",
        "urgent_feedback": "今日紧急用户反馈 {value} 条（支付失败、账号被封等）",
        "other_condition": "{label}{dim} {value}，触发规则 {condition}（阈值 {threshold}）",
        "dim": "（{name}：{value}）",
        "dq_alert": "数据质量：{name}{dim}未通过校验",
        "dq_alert_count": "，{count} 项检查失败",
        # --- alert lifecycle messages
        "firing": "{emoji} {severity} 告警触发：{summary}",
        "fingerprint": "告警指纹 {fp}",
        "resolved": "✅ 已恢复：{series} 回到 {value}",
        "resolved_no_value": "✅ 已恢复：{series} 不再触发告警",
        "dq_series": "数据质量（{name}）",
        "dq_resolved": "✅ 已恢复：{series} 校验通过",
        "escalate_ack": "P1 告警已 {minutes} 分钟未确认：{summary}",
        "escalate_resolve": "P1 告警 {duration}内未恢复：{summary}",
        "reminder": "⏰ 仍在告警（自 {since} 起）：{summary}",
        "watch_no_events": "自 {since} 起没有新事件（上周同期 {n} 条）",
        "watch_payments": "自 {since} 起 {attempts} 次支付尝试中 {successes} 次成功",
        # --- root-cause lines
        "cause_segment": "{dim}={value}：{before} → {after}，贡献 {contribution}，占总变化（{delta}）的 {share}",
        "cause_segment_over": "{dim}={value}：{before} → {after}，贡献 {contribution}，超过总变化 {delta}",
        "cause_offset": "其他{dim}分组抵消了 {offset}",
        "cause_omitted": "另有 {n} 个{dim}分组未列出",
        "cause_remainder": "其余 {rest}",
        "cause_interaction": "其余 {rest}（含分组间的相互影响）",
        "cause_join": "；",
        "cause_funnel": "漏斗：{step} 转化下降最多",
        # --- durations
        "sec": "{s}秒",
        "min_sec": "{m}分{s}秒",
        "hour_min_sec": "{h}小时{m}分{s}秒",
        "hours": "{n} 小时",
        "minutes": "{n} 分钟",
        # --- dimensions, well-known dimension values, funnel steps
        "dimension.channel": "渠道",
        "dimension.platform": "平台",
        "dimension.payment_method": "支付方式",
        "dimension.campaign": "活动",
        "dimension.region": "地区",
        "dimension.table": "数据表",
        "dimension.day": "日期",
        "metric.urgent_feedback": "紧急反馈",
        "value.unknown": "未知",
        "value.direct": "直接访问",
        "value.none": "无活动",
        "step.page_view": "访问",
        "step.product_view": "商品浏览",
        "step.add_to_cart": "加购",
        "step.checkout": "结算",
        "step.payment": "支付成功",
        "step.visit": "访问",
        "step.interact": "互动",
        "step.post": "发帖",
        "step.share": "分享",
        # --- built-in suggested actions (opscadence.reporting.playbook)
        "playbook.payment_success_rate": "排查支付网关错误与延迟（按支付方式、平台拆分）",
        "playbook.ad_ctr": "更换素材或暂停该渠道",
        "playbook.dau.down": "核查当天的发版、获客渠道与埋点",
        "playbook.dau.up": "排查机器人流量或重复埋点，再确认获客渠道",
        "playbook.bounce_rate": "检查落地页加载速度与内容，以及新渠道的流量质量",
        "playbook.add_to_cart_conversion": "检查热门商品的详情页、价格与库存",
        "playbook.orders": "检查结算、支付环节与进行中的促销活动",
        "playbook.gmv": "按品类、渠道拆分 GMV，定位变化来源",
        "playbook.aov": "检查折扣、优惠券使用与商品结构",
        "playbook.repurchase_rate": "复盘老客召回（优惠券、推送、会员权益）",
        "playbook.new_users": "检查获客渠道、广告投放与注册流程",
        "playbook.registration_conversion": "检查注册流程（短信验证码、表单报错），按平台拆分",
        "playbook.urgent_feedback": "客服立即核实并在 30 分钟内响应用户，同步技术排查",
        "playbook.share_rate": "检查分享入口与分享回调（按平台、App 版本拆分），对照近期发版",
        "playbook.avg_interaction_seconds": "检查信息流推荐与加载速度，对照近期发版与内容运营",
        "playbook.data_quality": "检查上游数据同步与埋点，修复后重跑当日流程",
        "playbook.generic": "按渠道、平台拆分该指标，并对照近期发版与活动",
    },
    "en": {
        # --- the daily brief
        "title": "📊 Daily brief {ds} ({tz})",
        "na": "n/a",
        "kpis": "📈 Headline KPIs",
        "dod": "DoD",
        "wow": "WoW",
        "kpi_line": "{label}: {value} ({dod} {dod_v}, {wow} {wow_v})",
        "alerts": "🚨 Alerts ({n})",
        "no_alerts": "✅ No alerts",
        "suggest": "Suggested: ",
        "more": "…and {n} more",
        "withheld_alerts": "{n} metric alert(s) withheld because data validation failed",
        "dq_failed": "⛔ Data validation failed: numbers for {ds} are withheld",
        "dq_failed_hint": "Fix the data and re-run the flow to get the full brief.",
        "dq_no_details": "(no details)",
        "dq_no_rows": "no {tables} for {ds} in {where}",
        "dq_source_empty": "no {tables} for {ds}: {where} holds no data at all (a new or empty warehouse or export folder); load data first, or run `opscadence demo`",
        "partial_period": "⚠️ {period} has not ended yet ({tz}): the numbers are incomplete and its alerts do not change alert states",
        "dq_column": "column {column}",
        "dq_count": "{count} rows failed",
        "dq_samples": "e.g. {samples}",
        "dq_warnings": "⚠️ {n} data-quality warning(s) (non-blocking): {names}",
        "funnel": "🔻 Funnel",
        "funnel_step": "{label} {users} ({conv} conversion)",
        "weakest": "Weakest step: {step}",
        "weakest_change_last_week": ", {change} vs same weekday last week",
        "weakest_change_previous_day": ", {change} vs yesterday",
        "weakest_change": ", {change}",
        "step_arrow": " → ",
        "feedback": "📣 Urgent feedback: {n}",
        "unavailable": "⚪ Not available: {metrics} (no source provides {tables})",
        "funnel_name": "the funnel",
        "pp": "{n} pp",
        "run_link": "View run",
        "truncated": "…message too long, the rest is omitted",
        "delivery_health": "⚠️ {n} earlier message(s) not delivered to Slack (oldest: {period}); "
                           "run opscadence outbox status",
        # --- the backfill summary
        "backfill_title": "🔁 Backfill finished: {cadence} {start} .. {end}",
        "backfill_counts": "done {done} · skipped {skipped} · failed {failed}",
        "backfill_recomputed": "{n} of them recomputed: inputs changed",
        "backfill_failed": "Failed periods:",
        # --- one alert in a sentence
        "below": "{label}{dim} {value}, below the {threshold} threshold",
        "above": "{label}{dim} {value}, above the {threshold} threshold",
        "drop_vs_last_week": "{label}{dim} {value}, down {pct} vs same weekday last week ({baseline})",
        "rise_vs_last_week": "{label}{dim} {value}, up {pct} vs same weekday last week ({baseline})",
        "drop_vs_yesterday": "{label}{dim} {value}, down {pct} vs yesterday ({baseline})",
        "rise_vs_yesterday": "{label}{dim} {value}, up {pct} vs yesterday ({baseline})",
        "drop_vs_same_period_last_year": "{label}{dim} {value}, down {pct} vs the same period last year ({baseline})",
        "rise_vs_same_period_last_year": "{label}{dim} {value}, up {pct} vs the same period last year ({baseline})",
        "anomaly_drop": "{label}{dim} {value}, {pct} below the expected {baseline} (seasonal anomaly)",
        "anomaly_rise": "{label}{dim} {value}, {pct} above the expected {baseline} (seasonal anomaly)",
        "urgent_feedback": "{value} urgent user feedback message(s) today (payment failed, account banned, …)",
        "other_condition": "{label}{dim} {value}, rule {condition} (threshold {threshold})",
        "dim": " ({name}: {value})",
        "dq_alert": "Data quality: {name}{dim} failed validation",
        "dq_alert_count": ", {count} check(s) failed",
        # --- alert lifecycle messages
        "firing": "{emoji} {severity} firing: {summary}",
        "fingerprint": "fingerprint {fp}",
        "resolved": "✅ resolved: {series} back to {value}",
        "resolved_no_value": "✅ resolved: {series} no longer breaching",
        "dq_series": "data quality ({name})",
        "dq_resolved": "✅ resolved: {series} passes validation again",
        "escalate_ack": "P1 unacknowledged for {minutes} min: {summary}",
        "escalate_resolve": "P1 not resolved within {duration}: {summary}",
        "reminder": "⏰ still firing (since {since}): {summary}",
        "watch_no_events": "no events since {since} (last week {n})",
        "watch_payments": "{successes}/{attempts} payment attempts succeeded since {since}",
        # --- root-cause lines
        "cause_segment": "{dim}={value}: {before} → {after}, {contribution} of the {delta} change ({share})",
        "cause_segment_over": "{dim}={value}: {before} → {after}, {contribution}, more than the whole {delta} change",
        "cause_offset": "other {dim} segments offset {offset}",
        "cause_omitted": "{n} more {dim} segment(s) not listed",
        "cause_remainder": "remainder {rest}",
        "cause_interaction": "remainder {rest}, including the segments' interaction",
        "cause_join": "; ",
        "cause_funnel": "funnel: {step} conversion fell most",
        # --- durations
        "sec": "{s}s",
        "min_sec": "{m}m {s}s",
        "hour_min_sec": "{h}h {m}m {s}s",
        "hours": "{n} h",
        "minutes": "{n} min",
        # --- dimensions, well-known dimension values, funnel steps
        "dimension.channel": "channel",
        "dimension.platform": "platform",
        "dimension.payment_method": "payment method",
        "dimension.campaign": "campaign",
        "dimension.region": "region",
        "dimension.table": "table",
        "dimension.day": "day",
        "metric.urgent_feedback": "Urgent feedback",
        "value.unknown": "unknown",
        "value.direct": "direct",
        "value.none": "no campaign",
        "step.page_view": "Visit",
        "step.product_view": "Product view",
        "step.add_to_cart": "Add to cart",
        "step.checkout": "Checkout",
        "step.payment": "Payment success",
        "step.visit": "Visit",
        "step.interact": "Interact",
        "step.post": "Post",
        "step.share": "Share",
        # --- built-in suggested actions (opscadence.reporting.playbook)
        "playbook.payment_success_rate": "check payment gateway errors and latency, by payment method and platform",
        "playbook.ad_ctr": "change the creative or pause the channel",
        "playbook.dau.down": "check releases, acquisition channels and tracking for that day",
        "playbook.dau.up": "check for bot traffic or duplicated tracking, then the acquisition channels",
        "playbook.bounce_rate": "check landing-page speed and content, and traffic quality from new channels",
        "playbook.add_to_cart_conversion": "check product pages, prices and stock of the top products",
        "playbook.orders": "check the checkout and payment steps and running promotions",
        "playbook.gmv": "break GMV down by category and channel to find where the change comes from",
        "playbook.aov": "check discounts, coupon use and the product mix",
        "playbook.repurchase_rate": "review win-back campaigns for returning buyers (coupons, push, membership)",
        "playbook.new_users": "check acquisition channels, ad spend and the sign-up flow",
        "playbook.registration_conversion": "check the sign-up flow (SMS codes, form errors) by platform",
        "playbook.urgent_feedback": "have support verify and answer the users within 30 minutes, and loop in engineering",
        "playbook.share_rate": "check the share button and its callbacks by platform and app version, against recent releases",
        "playbook.avg_interaction_seconds": "check feed recommendations and load times against recent releases and content campaigns",
        "playbook.data_quality": "check the upstream load and tracking for that table, then re-run the day's flow",
        "playbook.generic": "break the metric down by channel and platform and compare with recent releases and campaigns",
    },
}
LOCALES = tuple(STRINGS)


def strings(locale: str) -> dict[str, str]:
    """The catalogue of ``locale``; ``ValueError`` for a locale other than zh-CN or en."""
    try:
        return STRINGS[locale]
    except KeyError:
        raise ValueError(f"unsupported locale {locale!r}; expected one of {', '.join(LOCALES)}") from None


def data_text(value: object, limit: int = DATA_VALUE_CHARS, *, empty: str = "") -> str:
    """A value that came from data, on one line: truncated to ``limit``, then escaped.

    A value that is blank once its whitespace is collapsed gives ``empty``.
    """
    one_line = " ".join(str(value).split())
    return escape_mrkdwn(truncate(one_line, limit)) if one_line else empty


# ---------------------------------------------------------------------------
# Numbers, percents, dates
# ---------------------------------------------------------------------------


def format_value(value: float | None, unit: str, locale: str = "zh-CN") -> str:
    """Format a metric value: 12,345 · 93.1% · ¥12,345.60 · 1m 23s / 1分23秒 · n/a / 无."""
    s = strings(locale)
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


def signed_pct(change: float) -> str:
    """A relative change as a signed percent with one decimal: "+5.2%", "-12.3%", "0.0%"."""
    pct = round(change * 100, 1)
    return "0.0%" if pct == 0 else f"{pct:+,.1f}%"


def format_change(change: float | None, locale: str = "zh-CN") -> str:
    """A relative change as an arrow plus signed percent: "▲ +5.2%", "▼ -12.3%", "0.0%", "n/a"/"无"."""
    s = strings(locale)
    if change is None:
        return s["na"]
    text = signed_pct(change)
    if text == "0.0%":
        return text
    return ("▲ " if change > 0 else "▼ ") + text


def signed_points(delta: float, locale: str) -> str:
    """A change of a rate in signed percentage points: "-10.1 个百分点" / "+1.2 pp", "0.0 pp"."""
    points = round(delta * 100, 1)
    return strings(locale)["pp"].format(n="0.0" if points == 0 else f"{points:+.1f}")


def format_point_change(delta: float | None, locale: str = "zh-CN") -> str:
    """A change of a rate in percentage points: "▼ -10.1 个百分点" / "▲ +1.2 pp", "0.0 pp", "n/a"."""
    if delta is None:
        return strings(locale)["na"]
    text = signed_points(delta, locale)
    if round(delta * 100, 1) == 0:
        return text
    return ("▲ " if delta > 0 else "▼ ") + text


def format_kpi_change(metric: str, value: float | None, baseline: float | None, locale: str = "zh-CN") -> str:
    """``value`` against ``baseline``: percentage points for a rate of the catalogue, else a relative percent."""
    if is_rate(metric):
        return format_point_change(None if value is None or baseline is None else value - baseline, locale)
    if value is None or baseline is None or baseline == 0:
        return strings(locale)["na"]
    return format_change((value - baseline) / abs(baseline), locale)


def format_delta(delta: float, unit: str, locale: str = "zh-CN") -> str:
    """A difference in the metric's unit, signed: "-14.0 pp", "+¥1,000.00", "-2,500", "+1分5秒"."""
    if unit == "ratio":
        return signed_points(delta, locale)
    text = format_value(abs(delta), unit, locale)
    if text in ("0", "¥0.00", strings(locale)["sec"].format(s=0)):
        return text
    return ("+" if delta > 0 else "-") + text


def format_date(day: date) -> str:
    """A day as ISO 8601: "2026-11-24"."""
    return day.isoformat()


def format_datetime(moment: datetime, tz: tzinfo | None = None) -> str:
    """A time to the minute: "2026-11-24 09:05"; with ``tz`` shown there with its offset.

    A naive ``moment`` is UTC (how the warehouse stores bookkeeping times):
    ``format_datetime(datetime(2026, 11, 24, 1, 5), ZoneInfo("Asia/Shanghai"))`` is
    "2026-11-24 09:05 UTC+08:00".
    """
    if tz is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(tz)
    offset = local.strftime("%z")  # +0800
    return f"{local:%Y-%m-%d %H:%M} UTC{offset[:3]}:{offset[3:]}"


def format_duration(minutes: int, locale: str) -> str:
    """Whole hours as hours ("2 h" / "2 小时"), anything else in minutes ("90 min")."""
    s = strings(locale)
    if minutes % 60 == 0:
        return s["hours"].format(n=minutes // 60)
    return s["minutes"].format(n=minutes)


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------


def metric_label(metric: str, locale: str) -> tuple[str, str]:
    """(escaped label, unit) of a metric of the catalogue, or of one of our series outside it
    (``metric.urgent_feedback``: "紧急反馈"); any other name is data (unit "count")."""
    m = CATALOG.get(metric)
    if m is None:
        ours = strings(locale).get(f"metric.{metric}")
        return (ours if ours is not None else data_text(metric)), "count"
    return escape_mrkdwn(m.label(locale)), m.unit


def dimension_label(dimension: str, locale: str) -> str | None:
    """The label of a known dimension ("渠道" / "channel"), None for any other."""
    return strings(locale).get(f"dimension.{dimension}")


def _generated(value: object, dimension: str | None) -> bool:
    """Whether we wrote ``value`` (a dimension's value for a missing one), not the shop."""
    known = dimensions.BY_NAME.get(dimension or "")
    if known is not None:
        return value == known.missing
    return value == "unknown"  # any other dimension ("table" of a data-quality alert): only our "unknown"


def dimension_value_text(value: object, locale: str, *, empty: str = "", dimension: str | None = None) -> str:
    """A dimension value for a message: one we generate localised, any other as free text:
    personal data masked ("vip-13812345678" → "vip-[phone]"), then escaped.

    With ``dimension`` only that dimension's value for a missing one is ours (channel
    "direct" → "直接访问", campaign "none" → "无活动", platform "unknown" → "未知"); a shop's
    own platform named "none" stays as it is. Without it only "unknown" is ours.
    """
    if _generated(value, dimension):
        label = strings(locale).get(f"value.{value}")
        if label is not None:
            return label
    return free_text(value, DATA_VALUE_CHARS, empty=empty)


_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def plain_text(text: str) -> str:
    """A Slack-escaped message as plain text (terminal, ``.md``): ``&lt;`` ``&gt;`` ``&amp;`` decoded.

    One pass over the text, so it inverts :func:`~opscadence.core.privacy.escape_mrkdwn`'s
    entities exactly ("&amp;lt;" is the data "&lt;"); the full-width look-alikes stay (they
    read the same and keep Markdown inert).
    """
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def step_label(step: str, locale: str) -> str | None:
    """The label of a known funnel step ("加购" / "Add to cart"), None for any other."""
    return strings(locale).get(f"step.{step}")
