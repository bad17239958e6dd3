"""Notify: render the brief and deliver it (Slack, or the outbox when Slack is unavailable)."""

from dataclasses import replace
from datetime import date
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine

from opscadence.reporting.playbook import DEFAULT_PLAYBOOK, Playbook
from opscadence.reporting.slack.brief import render_daily_brief
from opscadence.delivery.outbox import DeliveryOutcome, deliver
from opscadence.core.model import DailyBrief, Message
from opscadence.delivery.slack import SlackClient


@task(name="render-brief", cache_policy=NO_CACHE)
def render_brief(brief: DailyBrief, locale: str, playbook: Playbook = DEFAULT_PLAYBOOK) -> tuple[Message, Message]:
    """The brief, and the same brief without the run link (what decides "changed" on reruns)."""
    return (render_daily_brief(brief, locale, playbook),
            render_daily_brief(replace(brief, run_url=None), locale, playbook))


# Retries cover a failed warehouse write after delivery; deliver() itself never double-posts
# because it looks up the stored message ts, or an in-flight post's metadata, first.
@task(name="deliver-message", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60])
def deliver_message(
    engine: Engine,
    client: SlackClient | None,
    kind: str,
    ds: date,
    channel: str,
    message: Message,
    outbox_dir: Path,
    content_key: Message | None = None,
    period: str | None = None,
) -> DeliveryOutcome:
    return deliver(
        engine, client, kind=kind, ds=ds, channel=channel, message=message, outbox_dir=outbox_dir,
        content_key=content_key, period=period,
    )
