"""The one string catalogue (zh-CN and en) and the formatting every message shares.

Every user-visible string of the brief, the alert messages and the root-cause lines lives
in :data:`STRINGS`, keyed, once per locale. Metric labels stay in the metric catalogue
(:mod:`opscadence.metrics.catalog`) and are read from there. Lookup tables share the
catalogue under a prefix:

* ``dimension.<name>``: a dimension's label ("渠道" / "channel");
* ``value.<value>``: a well-known dimension value the SQL writes for a missing one
  ("unknown" → "未知");
* ``step.<step>``: a funnel step's label;
* ``playbook.<...>``: the built-in suggested actions (:mod:`opscadence.reporting.playbook`).

:func:`data_text` is the one way a value that came from data enters a message: on one
line, truncated, then escaped for Slack mrkdwn.
"""

from __future__ import annotations

from datetime import date, datetime

from opscadence.core.privacy import escape_mrkdwn, truncate
from opscadence.metrics.catalog import CATALOG

__all__ = [
    "LOCALES",
    "STRINGS",
    "SEVERITY_EMOJI",
    "DATA_VALUE_CHARS",
    "strings",
    "data_text",
    "format_value",
    "format_change",
    "signed_pct",
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
        "dq_alert_count": "，异常 {count} 行",
        # --- alert lifecycle messages
        "firing": "{emoji} {severity} 告警触发：{summary}",
        "fingerprint": "告警指纹 {fp}",
        "resolved": "✅ 已恢复：{series} 回到 {value}",
        "resolved_no_value": "✅ 已恢复：{series} 不再触发告警",
        "dq_series": "数据质量（{name}）",
        "dq_resolved": "✅ 已恢复：{series} 校验通过",
        "escalate_ack": "P1 告警已 {minutes} 分钟未确认：{summary}",
        "escalate_resolve": "P1 告警 {duration}内未恢复：{summary}",
        "reminder": "⏰ 仍在告警（自 {since} UTC 起）：{summary}",
        # --- root-cause lines
        "cause_segment": "{dim}={value}：{before} → {after}，解释了 {share} 的变化",
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
        "value.unknown": "未知",
        "step.page_view": "访问",
        "step.product_view": "商品浏览",
        "step.add_to_cart": "加购",
        "step.checkout": "结算",
        "step.payment": "支付成功",
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
        "step_arrow": " → ",
        "feedback": "📣 Urgent feedback: {n}",
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
        "dq_alert_count": ", {count} unexpected rows",
        # --- alert lifecycle messages
        "firing": "{emoji} {severity} firing: {summary}",
        "fingerprint": "fingerprint {fp}",
        "resolved": "✅ resolved: {series} back to {value}",
        "resolved_no_value": "✅ resolved: {series} no longer breaching",
        "dq_series": "data quality ({name})",
        "dq_resolved": "✅ resolved: {series} passes validation again",
        "escalate_ack": "P1 unacknowledged for {minutes} min: {summary}",
        "escalate_resolve": "P1 not resolved within {duration}: {summary}",
        "reminder": "⏰ still firing (since {since} UTC): {summary}",
        # --- root-cause lines
        "cause_segment": "{dim}={value}: {before} → {after}, explains {share} of the change",
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
        "value.unknown": "unknown",
        "step.page_view": "Visit",
        "step.product_view": "Product view",
        "step.add_to_cart": "Add to cart",
        "step.checkout": "Checkout",
        "step.payment": "Payment success",
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


def format_date(day: date) -> str:
    """A day as ISO 8601: "2026-11-24"."""
    return day.isoformat()


def format_datetime(moment: datetime) -> str:
    """A time to the minute: "2026-11-24 09:05"."""
    return moment.strftime("%Y-%m-%d %H:%M")


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
    """(escaped label, unit) of a metric of the catalogue; an unknown name is data (unit "count")."""
    m = CATALOG.get(metric)
    if m is None:
        return data_text(metric), "count"
    return escape_mrkdwn(m.label(locale)), m.unit


def dimension_label(dimension: str, locale: str) -> str | None:
    """The label of a known dimension ("渠道" / "channel"), None for any other."""
    return strings(locale).get(f"dimension.{dimension}")


def dimension_value_text(value: object, locale: str, *, empty: str = "") -> str:
    """A dimension value for a message: a well-known one localised ("unknown" → "未知"), any other as data."""
    label = strings(locale).get(f"value.{value}")
    return label if label is not None else data_text(value, empty=empty)


def step_label(step: str, locale: str) -> str | None:
    """The label of a known funnel step ("加购" / "Add to cart"), None for any other."""
    return strings(locale).get(f"step.{step}")
