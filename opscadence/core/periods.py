"""Periods (a day, an ISO week, a month, a quarter, a year) and the cadence registry.

A :class:`Period` is one logical period of a run, as bigquery-etl's ``@submission_date``: its
``[start, end)`` dates are calendar dates in the shop's timezone. A :class:`Cadence` declares
its grain, its schedule, what "complete" means and its steps; every cadence the CLI, the flows
and the backfill know comes from :data:`CADENCES`, so a new cadence is one :func:`register`
call plus the module that implements its steps (see :class:`CadenceSteps`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from opscadence.core.errors import UserError

Grain = Literal["day", "week", "month", "quarter", "year"]
GRAINS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")


def _add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def _start_of(grain: str, day: date) -> date:
    if grain == "day":
        return day
    if grain == "week":  # ISO weeks start on Monday
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if grain == "year":
        return date(day.year, 1, 1)
    raise ValueError(f"unknown grain {grain!r}; known: {', '.join(GRAINS)}")


def _step(grain: str, start: date, n: int) -> date:
    """The start of the period ``n`` periods after the one starting at ``start``."""
    if grain == "day":
        return start + timedelta(days=n)
    if grain == "week":
        return start + timedelta(weeks=n)
    if grain == "month":
        return _add_months(start, n)
    if grain == "quarter":
        return _add_months(start, 3 * n)
    return date(start.year + n, 1, 1)


@dataclass(frozen=True, order=True)
class Period:
    """One period of a grain: ``[start, end)`` in the shop's calendar."""

    grain: str
    start: date

    def __post_init__(self) -> None:
        if _start_of(self.grain, self.start) != self.start:
            raise ValueError(f"{self.start} does not start a {self.grain}")

    @classmethod
    def containing(cls, grain: str, day: date) -> Period:
        return cls(grain, _start_of(grain, day))

    @classmethod
    def day(cls, day: date) -> Period:
        return cls("day", day)

    @property
    def end(self) -> date:
        """The first day after the period (exclusive bound)."""
        return _step(self.grain, self.start, 1)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def shift(self, n: int) -> Period:
        """The period ``n`` periods later (earlier when negative)."""
        return Period(self.grain, _step(self.grain, self.start, n))

    def previous(self) -> Period:
        return self.shift(-1)

    def next(self) -> Period:
        return self.shift(1)

    def same_period_last_year(self) -> Period:
        """Days: the same weekday 52 weeks earlier (what retail compares a day with); weeks: the
        same ISO week number of the previous ISO year (week 53 → that year's last week);
        months, quarters and years: the same one a calendar year earlier."""
        if self.grain == "day":
            return Period("day", self.start - timedelta(weeks=52))
        if self.grain == "week":
            year, week, _ = self.start.isocalendar()
            weeks_then = date(year - 1, 12, 28).isocalendar()[1]  # 28 December is always in the last ISO week
            return Period("week", date.fromisocalendar(year - 1, min(week, weeks_then), 1))
        return Period(self.grain, self.start.replace(year=self.start.year - 1))

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days)]

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end

    @property
    def key(self) -> str:
        """A stable, sortable key: ``2026-11-24``, ``2026-W48``, ``2026-11``, ``2026-Q4``, ``2026``."""
        if self.grain == "day":
            return self.start.isoformat()
        if self.grain == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.grain == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        if self.grain == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return str(self.start.year)

    def label(self, locale: str = "zh-CN") -> str:
        """How a person reads it: ``2026-W48`` / ``2026年第48周``, ``2026年11月`` / ``2026-11``, ``2026 Q4``."""
        zh = locale == "zh-CN"
        s = self.start
        if self.grain == "day":
            return f"{s.year}年{s.month}月{s.day}日" if zh else s.isoformat()
        if self.grain == "week":
            year, week, _ = s.isocalendar()
            return f"{year}年第{week}周" if zh else f"{year}-W{week:02d}"
        if self.grain == "month":
            return f"{s.year}年{s.month}月" if zh else f"{s.year}-{s.month:02d}"
        if self.grain == "quarter":
            quarter = (s.month - 1) // 3 + 1
            return f"{s.year}年第{quarter}季度" if zh else f"{s.year} Q{quarter}"
        return f"{s.year}年" if zh else str(s.year)

    def __str__(self) -> str:
        return self.key


def today_in(timezone: str, now: datetime | None = None) -> date:
    """The calendar date in the shop's timezone at ``now`` (default: this moment)."""
    now = now or datetime.now(tz=ZoneInfo("UTC"))
    if now.tzinfo is None:
        raise ValueError("the run's start time must be timezone-aware")
    return now.astimezone(ZoneInfo(timezone)).date()


def last_complete(grain: str, timezone: str, now: datetime | None = None) -> Period:
    """The period of ``grain`` that ended most recently in the shop's timezone."""
    return Period.containing(grain, today_in(timezone, now)).previous()


def resolve_period(grain: str, as_of: date | None, timezone: str, now: datetime | None = None) -> Period:
    """The logical period of a run: the one holding ``as_of``, else the one that just ended."""
    if as_of is not None:
        return Period.containing(grain, as_of)
    return last_complete(grain, timezone, now)


def is_complete(period: Period, timezone: str, now: datetime | None = None) -> bool:
    """Whether ``period`` has ended in the shop's timezone at ``now`` (default: this moment)."""
    return period.end <= today_in(timezone, now)


class PeriodNotComplete(UserError):
    """A run asked for a period that has not ended yet (today, or a day in the future)."""


def check_complete(period: Period, timezone: str, now: datetime | None = None, *,
                   hint: str = "pass --allow-partial to run it anyway") -> None:
    """Raise :class:`PeriodNotComplete` unless ``period`` has ended in the shop's timezone.

    A partial period's numbers are not the period's numbers: a brief of them, or its alerts
    resolving real ones, would mislead. The message names the latest complete period.
    """
    if is_complete(period, timezone, now):
        return
    latest = last_complete(period.grain, timezone, now)
    suffix = f" ({hint})" if hint else ""
    raise PeriodNotComplete(
        f"{period.key} has not ended yet in {timezone}; the latest complete {period.grain} is {latest.key}{suffix}"
    )


def periods_between(grain: str, start: date, end: date) -> list[Period]:
    """Every period of ``grain`` that holds a day of [start, end] (both inclusive)."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    out = [Period.containing(grain, start)]
    while out[-1].end <= end:
        out.append(out[-1].next())
    return out


# --- the cadence registry ---------------------------------------------------------------------

class CadenceSteps(Protocol):
    """What the module named by :attr:`Cadence.steps` provides (module-level functions).

    ``backfill_passes`` are run in order over chunks of consecutive periods: each pass gets the
    periods that came through the one before it (with what that pass returned for them), so a
    later pass may read what an earlier one wrote for every chunk (MAU reads earlier days; alerts
    read earlier marts). Functions must be importable by name: backfills run them in worker
    processes.
    """

    def period_status(self, engine: Any, cfg: Any, periods: list[Period]) -> dict[Period, str]:
        """Each period's state: "current" (done from today's inputs: skipped), "changed" (done
        from other inputs: recomputed) or "missing"."""

    def backfill_passes(self) -> list[BackfillPass]: ...


@dataclass(frozen=True)
class PassOutcome:
    """What a backfill pass made of one period: carried to the next pass, or why it failed."""

    ok: bool
    data: Any = None
    why: str | None = None


# (context, cadence name, [(period, what the previous pass returned)]) -> {period: outcome}
PassFunction = Callable[[Any, str, list[tuple[Period, Any]]], dict[Period, PassOutcome]]


@dataclass(frozen=True)
class BackfillPass:
    name: str  # "validate", "compute", "evaluate": the summary's stage_seconds keys
    function: PassFunction
    progress: str | None = None  # the progress status reported per period when the pass ends


@dataclass(frozen=True)
class Cadence:
    """One cadence: its grain and schedule, and where its steps and its Prefect flow live."""

    name: str
    grain: str
    cron: str  # in the shop's timezone; prefect.yaml carries the same schedule
    steps: str  # dotted module implementing CadenceSteps
    flow: str  # "module:function" of the Prefect flow that runs one period
    description: str = ""
    chunk_periods: int = 1  # periods a backfill validates and computes together

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise ValueError(f"cadence {self.name!r}: unknown grain {self.grain!r}; known: {', '.join(GRAINS)}")

    def lock_key(self, period: Period) -> str:
        """Runs of one cadence and period are serialised on this key (core.locks.period_lock)."""
        return f"{self.name}:{period.key}"

    def period(self, as_of: date | None, timezone: str, now: datetime | None = None) -> Period:
        return resolve_period(self.grain, as_of, timezone, now)

    def implementation(self) -> CadenceSteps:
        return importlib.import_module(self.steps)  # type: ignore[return-value]

    def flow_function(self) -> Callable[..., Any]:
        module, _, name = self.flow.partition(":")
        return getattr(importlib.import_module(module), name)


CADENCES: dict[str, Cadence] = {}


def register(cadence: Cadence) -> Cadence:
    """Add (or replace) a cadence; returns it."""
    CADENCES[cadence.name] = cadence
    return cadence


def unregister(name: str) -> None:
    CADENCES.pop(name, None)


def get_cadence(name: str) -> Cadence:
    try:
        return CADENCES[name]
    except KeyError:
        raise ValueError(f"unknown cadence {name!r}; known: {', '.join(CADENCES) or 'none'}") from None


def cadence_names() -> list[str]:
    return list(CADENCES)


def iter_cadences() -> Iterator[Cadence]:
    return iter(CADENCES.values())


# The cadences opscadence ships. Each names the module of its steps and its flow; nothing is
# imported until a cadence runs, so this floor imports nothing above it.
register(Cadence(
    name="daily", grain="day", cron="0 9 * * *", steps="opscadence.pipelines.daily",
    flow="flows.daily:daily_brief", chunk_periods=16,
    description="Validated daily data brief for the day that just ended, before 10:00.",
))
register(Cadence(
    name="weekly", grain="week", cron="30 9 * * 1", steps="opscadence.pipelines.weekly",
    flow="flows.weekly:weekly_review", chunk_periods=4,
    description="Weekly review of the ISO week (Monday to Sunday) that just ended: trends, retention, "
                "diagnosis and next week's actions, Monday 09:30.",
))
