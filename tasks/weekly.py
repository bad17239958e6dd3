"""Weekly review: prepare the weeks, build the sections, render and deliver the brief and its chart."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.engine import Engine

from opscadence.analytics.weekly.sections import WeeklyContext, WeeklySection
from opscadence.core.config import Config
from opscadence.core.model import Message
from opscadence.core.periods import Period
from opscadence.delivery.files import FileOutcome
from opscadence.delivery.outbox import DeliveryOutcome
from opscadence.delivery.slack import SlackClient
from opscadence.pipelines import weekly
from opscadence.reporting.slack.weekly import WeeklyBrief
from opscadence.sources import PartitionSource


@task(name="prepare-weeks", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def prepare_weeks(engine: Engine, cfg: Config, source: PartitionSource, week: Period,
                  partial: bool = False) -> dict[str, weekly.WeekPreparation]:
    return weekly.prepare_weeks(engine, cfg, source, week, partial=partial)


@task(name="fill-weekly-history", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def fill_history(engine: Engine, cfg: Config, week: Period) -> list[Period]:
    return weekly.fill_history(engine, cfg, week)


@task(name="build-weekly-sections", cache_policy=NO_CACHE)
def build_sections(ctx: WeeklyContext) -> tuple[list[WeeklySection], dict[str, str]]:
    return weekly.build_sections(ctx)


@task(name="render-weekly-brief", cache_policy=NO_CACHE)
def render_brief(brief: WeeklyBrief, locale: str) -> tuple[Message, Message]:
    return weekly.render(brief, locale)


# Retries never post twice: deliver() looks up the stored ts (or an in-flight post's metadata) first.
@task(name="deliver-weekly-brief", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60])
def deliver_brief(engine: Engine, client: SlackClient | None, cfg: Config, week: Period, message: Message,
                  content_key: Message) -> list[DeliveryOutcome]:
    return weekly.deliver_brief(engine, client, cfg, week, message, content_key)


# Retries never upload twice: a shared chart is recorded, an unknown upload looked for in the thread first.
@task(name="deliver-weekly-chart", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=[10])
def deliver_chart(engine: Engine, client: SlackClient | None, cfg: Config, week: Period,
                  briefs: list[DeliveryOutcome], locale: str) -> list[FileOutcome]:
    return weekly.deliver_chart(engine, client, cfg, week, briefs, locale)
