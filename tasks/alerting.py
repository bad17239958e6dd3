"""Alerting: root causes, the pending → firing → resolved lifecycle, and its notifications."""

from datetime import date, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine

from opscadence.pipelines import daily

from opscadence.alerting import lifecycle
from opscadence.core.config import Config
from opscadence.delivery.outbox import DeliveryOutcome
from opscadence.core.model import Alert
from opscadence.delivery.slack import SlackClient
from opscadence.quality.report import ValidationReport
from opscadence.reporting.playbook import Playbook


@task(name="explain-alerts", cache_policy=NO_CACHE)
def explain_alerts(engine: Engine, ds: date, alerts: list[Alert], locale: str) -> dict[str, list[str]]:
    return daily.root_cause_details(engine, ds, alerts, locale)


@task(name="update-alert-lifecycle", cache_policy=NO_CACHE)
def update_alert_lifecycle(
    engine: Engine, cfg: Config, ds: date, report: ValidationReport, alerts: list[Alert],
    details: dict[str, list[str]], now: datetime,
) -> list[lifecycle.Transition]:
    return daily.update_lifecycle(engine, cfg, ds, report, alerts, details, now=now)


# Retries are safe: every message is keyed in the briefs table, so a retry never posts twice.
@task(name="notify-alerts", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60])
def notify_alerts(
    engine: Engine, client: SlackClient | None, cfg: Config, transitions: list[lifecycle.Transition], now: datetime
) -> list[DeliveryOutcome]:
    channels = cfg.slack.channels
    common = dict(channels=channels, locale=cfg.locale, outbox_dir=cfg.outbox_dir, now=now)
    # The on-call group is mentioned only when a P1 escalates, not on every firing message.
    outcomes = lifecycle.notify(engine, client, transitions, playbook=Playbook(cfg.playbook), **common)
    outcomes += lifecycle.check_escalations(
        engine, client, oncall_mention=cfg.slack.oncall_mention, ack_minutes=cfg.alerting.p1_ack_minutes,
        resolve_minutes=cfg.alerting.p1_resolve_minutes, **common,
    )
    if cfg.alerting.daily_reminder:
        outcomes += lifecycle.send_reminders(engine, client, today=now.date(), timezone=cfg.timezone, **common)
    return outcomes
