"""The weekly review's steps as plain functions (Prefect-free; ``tasks/weekly.py`` wraps them).

prepare the week (and last week, and the same week last year) → fill the charts' history →
build the sections → assemble and render the brief → deliver it, then its chart in its thread.

A week's marts need its seven days validated with current daily marts: days that lack them
are validated and computed here through the daily cadence's own functions (so a week reviewed
without a daily run behind it gets the same daily numbers), under each day's daily lock. A
day that failed validation, or that has no data, makes the week *incomplete*: its weekly marts
are withdrawn and the brief says which days, instead of showing a week of six days as a week.
Every step replaces its own window, so a rerun converges to one state; an unchanged week is
not recomputed ("current" from its input fingerprint, :mod:`opscadence.analytics.weekly.marts`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opscadence import warehouse
from opscadence.analytics.daily import kpis as daily_kpis
from opscadence.analytics.weekly import charts, marts, trends, wording
from opscadence.analytics.weekly.sections import SECTION_PROVIDERS, WeeklyContext, WeeklySection, provider
from opscadence.core.config import Config
from opscadence.core.locks import period_lock
from opscadence.core.model import Message
from opscadence.core.periods import BackfillPass, PassOutcome, Period, get_cadence, today_in
from opscadence.core.privacy import mask_secrets
from opscadence.delivery.files import FileOutcome, deliver_file
from opscadence.delivery.outbox import DeliveryOutcome, deliver
from opscadence.pipelines import daily
from opscadence.reporting.i18n import strings
from opscadence.reporting.slack.weekly import WeeklyBrief, failed_section, render_weekly_brief
from opscadence.sources import PartitionSource
from opscadence.warehouse.schema import mart_inputs

log = logging.getLogger(__name__)

CADENCE = "weekly"
BRIEF_KIND = "weekly-brief"
CHART_KIND = "weekly-chart"

WEEK_NOTES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "failed": "⚠️ {days} 的数据未通过校验：本周的周数据暂不展示，修正后重跑。",
        "missing": "⚠️ {days} 没有数据：本周的周数据暂不展示。",
        "comparison": "{week}（{which}）不完整：{days}。",
        "previous": "上周",
        "last_year": "去年同周",
    },
    "en": {
        "failed": "⚠️ Data of {days} failed validation: this week's numbers are withheld; fix it and rerun.",
        "missing": "⚠️ No data for {days}: this week's numbers are withheld.",
        "comparison": "{week} ({which}) is incomplete: {days}.",
        "previous": "last week",
        "last_year": "the same week last year",
    },
}


@dataclass(frozen=True)
class WeekPreparation:
    """What preparing a week found and did."""

    week: Period
    status: str  # "current" (marts as they were), "computed", "incomplete" (withdrawn)
    failed_days: list[date] = field(default_factory=list)  # failed validation
    missing_days: list[date] = field(default_factory=list)  # no data in the source
    prepared_days: dict[date, str] = field(default_factory=dict)  # day -> why it was (re)computed

    @property
    def ready(self) -> bool:
        return self.status != "incomplete"


DayLock = Callable[[date], AbstractContextManager[Any]]


def day_lock(engine: Engine) -> DayLock:
    """The daily cadence's lock of a day (a daily run of that day waits, and the other way round)."""
    spec = get_cadence("daily")
    return lambda ds: period_lock(engine, spec.lock_key(Period.day(ds)))


# --- preparing weeks ---------------------------------------------------------------------------

def prepare_days(engine: Engine, cfg: Config, source: PartitionSource, days: list[date],
                 lock: DayLock | None = None) -> tuple[list[date], list[date], dict[date, str]]:
    """Validate and compute the daily marts of ``days`` that are not current; returns the days
    that failed validation, the days the source has no data for, and the days prepared (with
    why: "missing" or "changed")."""
    missing = [d for d in days if not source.has_partition(d)]
    present = [d for d in days if d not in missing]
    with engine.connect() as conn:
        status = daily_kpis.day_status(conn, present, cfg.vertical, source.tables)
    todo = [d for d in present if status[d] != "current"]
    failed: list[date] = []
    if todo:
        reports = daily.validate_days(engine, source, todo, lock=lock)
        failed = [d for d in todo if not reports[d].passed]
        for ds in failed:
            with lock(ds) if lock else nullcontext():
                daily_kpis.withdraw_marts(engine, ds)
        passed = [d for d in todo if reports[d].passed]
        for chunk in _runs(passed):
            daily.compute_days(engine, chunk, cfg.vertical, lock=lock, tables=source.tables)
    return failed, missing, {d: status[d] for d in todo if d not in failed}


def _runs(days: list[date]) -> list[list[date]]:
    """Runs of consecutive days (each computed with one set of range queries)."""
    out: list[list[date]] = []
    for day in sorted(days):
        if out and out[-1][-1] + timedelta(days=1) == day:
            out[-1].append(day)
        else:
            out.append([day])
    return out


def prepare_week(engine: Engine, cfg: Config, source: PartitionSource, week: Period, *, force: bool = False,
                 lock: DayLock | None = None, until: date | None = None) -> WeekPreparation:
    """Make ``week``'s marts current: its days first, then the week (skipped when current
    unless ``force``). ``until``: the first day not over yet (a partial week's later days are
    not missing, they have not happened)."""
    days = [d for d in week.days() if until is None or d < until]
    failed, missing, prepared = prepare_days(engine, cfg, source, days, lock)
    if failed or missing or not days:
        with engine.begin() as conn:
            marts.withdraw_week(conn, week)
        return WeekPreparation(week, "incomplete", failed, missing, prepared)
    with engine.connect() as conn:
        status = marts.week_status(conn, [week], cfg.vertical, source.tables)[week]
    if status == "current" and not force and not prepared:
        return WeekPreparation(week, "current")
    with engine.begin() as conn:
        marts.compute_week(conn, week, cfg.vertical, source.tables)
    return WeekPreparation(week, "computed", prepared_days=prepared)


def prepare_weeks(engine: Engine, cfg: Config, source: PartitionSource, week: Period, *,
                  partial: bool = False) -> dict[str, WeekPreparation]:
    """The reviewed week, last week and the same ISO week last year (when the source has any of
    its days): {"week", "previous", "last_year"}."""
    lock = day_lock(engine)
    until = today_in(cfg.timezone) if partial else None
    out = {"week": prepare_week(engine, cfg, source, week, lock=lock, until=until),
           "previous": prepare_week(engine, cfg, source, week.previous(), lock=lock)}
    last_year = week.same_period_last_year()
    if any(source.has_partition(d) for d in last_year.days()):
        out["last_year"] = prepare_week(engine, cfg, source, last_year, lock=lock)
    return out


def fill_history(engine: Engine, cfg: Config, week: Period, n: int = trends.CHART_WEEKS) -> list[Period]:
    """Compute the weekly marts of the charts' earlier weeks that have none but whose seven daily
    marts are all recorded (from the daily marts as they are: no validation here); returns them."""
    weeks = trends.history_weeks(week, n)[:-1]
    with engine.connect() as conn:
        lacking = [w for w in weeks if not marts.has_week(conn, w)]
        if not lacking:
            return []
        recorded = {warehouse.as_date(d) for d in conn.execute(
            sa.select(mart_inputs.c.ds).where(mart_inputs.c.cadence == daily_kpis.CADENCE,
                                              mart_inputs.c.ds >= lacking[0].start,
                                              mart_inputs.c.ds < lacking[-1].end)).scalars()}
    done = []
    for w in lacking:
        if all(d in recorded for d in w.days()):
            with engine.begin() as conn:
                marts.compute_week(conn, w, cfg.vertical, cfg.provided_tables)
            done.append(w)
    return done


def week_notes(prepared: dict[str, WeekPreparation], locale: str) -> list[str]:
    """The brief's data notes: why this week's numbers are withheld, which comparison is incomplete."""
    strings(locale)  # an unknown locale fails as everywhere else
    words = WEEK_NOTES[locale]
    sep = "、" if locale == "zh-CN" else ", "
    notes = []
    this = prepared["week"]
    if this.failed_days:
        notes.append(words["failed"].format(days=sep.join(d.isoformat() for d in this.failed_days)))
    if this.missing_days:
        notes.append(words["missing"].format(days=sep.join(d.isoformat() for d in this.missing_days)))
    for key in ("previous", "last_year"):
        other = prepared.get(key)
        if other is not None and not other.ready:
            days = sep.join(d.isoformat() for d in [*other.failed_days, *other.missing_days])
            notes.append(words["comparison"].format(week=other.week.label(locale), which=words[key], days=days))
    return notes


# --- sections and the brief ---------------------------------------------------------------------

# The weekly analyses of this package, before the providers of SECTION_PROVIDERS.
CORE_PROVIDERS: tuple[str, ...] = (
    "opscadence.analytics.weekly.trends:trends_section",
    "opscadence.analytics.weekly.diagnosis:diagnosis_section",
    "opscadence.analytics.weekly.retention:retention_section",
)


def section_specs() -> list[str]:
    """The providers the brief is built from, in order (each named once)."""
    return list(dict.fromkeys([*CORE_PROVIDERS, *SECTION_PROVIDERS]))


def build_sections(ctx: WeeklyContext, specs: list[str] | None = None) -> tuple[list[WeeklySection], dict[str, str]]:
    """Call every provider with ``ctx``; a provider that raises becomes a part saying so (the
    error logged, and returned by spec) rather than taking the whole brief down."""
    sections, errors = [], {}
    for spec in specs or section_specs():
        try:
            sections.append(provider(spec)(ctx))
        except Exception as exc:  # one analysis failing must not silence the others: stated in the brief
            error = mask_secrets(f"{type(exc).__name__}: {exc}")
            log.exception("weekly section %s failed", spec)
            errors[spec] = error
            name = spec.rpartition(":")[2].removesuffix("_section")
            sections.append(failed_section(name, name, error, ctx.locale))
    return sections, errors


def assemble_brief(cfg: Config, week: Period, sections: list[WeeklySection], notes: list[str], *,
                   chart_file: str | None, run_url: str | None = None, partial: bool = False,
                   undelivered: int = 0, undelivered_since: str | None = None) -> WeeklyBrief:
    return WeeklyBrief(period=week, timezone=cfg.timezone, sections=sections, notes=notes, chart_file=chart_file,
                       run_url=run_url, partial=partial, undelivered=undelivered,
                       undelivered_since=undelivered_since)


def chart_location(client: Any, week: Period) -> str:
    """Where the brief says the chart is: in its thread with Slack, else the outbox file's name."""
    return "thread" if client is not None else f"{CHART_KIND}-{week.key}.png"


def render(brief: WeeklyBrief, locale: str) -> tuple[Message, Message]:
    """The message, and the same without the run link (what decides "changed" on reruns)."""
    return render_weekly_brief(brief, locale), render_weekly_brief(replace(brief, run_url=None), locale)


# --- delivery -----------------------------------------------------------------------------------

def deliver_brief(engine: Engine, client: Any, cfg: Config, week: Period, message: Message,
                  content_key: Message) -> list[DeliveryOutcome]:
    return [deliver(engine, client, kind=BRIEF_KIND, ds=week.start, channel=channel, message=message,
                    outbox_dir=cfg.outbox_dir, content_key=content_key, period=week.key)
            for channel in cfg.slack.channels.brief_channels()]


def deliver_chart(engine: Engine, client: Any, cfg: Config, week: Period, brief_deliveries: list[DeliveryOutcome],
                  locale: str) -> list[FileOutcome]:
    """Render the chart and share it in each brief's thread (or keep it in the outbox)."""
    loaded = trends.load_trends(engine, cfg, week)
    digest = charts.chart_digest(loaded, cfg.vertical, locale)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="opscadence-chart-") as folder:
        path = charts.render_chart(loaded, cfg.vertical, locale, Path(folder) / f"{CHART_KIND}-{week.key}.png")
        if path is None:
            return []
        title = wording.text(locale, "chart_title", week=week.label(locale), n=trends.CHART_WEEKS)
        for brief in brief_deliveries:
            outcomes.append(deliver_file(
                engine, client, kind=CHART_KIND, ds=week.start, period=week.key, channel=brief.channel,
                channel_id=brief.channel_id, thread_ts=brief.ts if brief.delivered else None, path=path,
                content_hash=digest, title=title, outbox_dir=cfg.outbox_dir,
                alt_text=charts.chart_alt_text(loaded, locale)))
    return outcomes


# --- the weekly cadence's steps (opscadence.core.periods.CadenceSteps) ----------------------------

def period_status(engine: Engine, cfg: Config, periods: list[Period]) -> dict[Period, str]:
    """A week is "current" when its marts were written from the raw data and definitions there
    are now; "changed" when those moved since; else "missing" (or withdrawn)."""
    with engine.connect() as conn:
        return marts.week_status(conn, periods, cfg.vertical, cfg.provided_tables)


def backfill_passes() -> list[BackfillPass]:
    """Prepare the daily marts of a chunk of weeks, then compute each complete week's marts."""
    return [
        BackfillPass("prepare", prepare_chunk, progress="prepared"),
        BackfillPass("compute", compute_chunk, progress="done"),
    ]


def prepare_chunk(ctx: Any, cadence: str, batch: list[tuple[Period, Any]]) -> dict[Period, PassOutcome]:
    """Validate and compute every day of the chunk's weeks that lacks current daily marts."""
    days = [d for week, _ in batch for d in week.days()]
    failed, missing, _ = prepare_days(ctx.engine, ctx.cfg, ctx.source, days, day_lock(ctx.engine))
    out = {}
    for week, _ in batch:
        bad = [d for d in week.days() if d in failed]
        absent = [d for d in week.days() if d in missing]
        if bad or absent:
            with ctx.engine.begin() as conn:
                marts.withdraw_week(conn, week)
            why = "; ".join(filter(None, [
                f"failed validation: {', '.join(d.isoformat() for d in bad)}" if bad else "",
                f"no data: {', '.join(d.isoformat() for d in absent)}" if absent else ""]))
            out[week] = PassOutcome(ok=False, why=why)
        else:
            out[week] = PassOutcome(ok=True)
    return out


def compute_chunk(ctx: Any, cadence: str, batch: list[tuple[Period, Any]]) -> dict[Period, PassOutcome]:
    """Each week's marts, in its own transaction under the week's lock."""
    spec = get_cadence(cadence)
    for week, _ in batch:
        with period_lock(ctx.engine, spec.lock_key(week)):
            with ctx.engine.begin() as conn:
                marts.compute_week(conn, week, ctx.cfg.vertical, ctx.source.tables)
    return {week: PassOutcome(ok=True) for week, _ in batch}
