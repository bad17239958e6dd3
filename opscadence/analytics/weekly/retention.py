"""New-user retention by signup cohort: D1, D7, D30 and week-N for the last 12 weekly cohorts.

Definitions (the shop's calendar days, ``ds``):

* a **cohort** is the users whose first signup (``raw_users``) falls in one ISO week;
* a user is **active** on a day when the user's id is on an event of that day (a logged-in
  visit) or the user has a paid order that day (``staging/stg_paid_orders``);
* **D-N retention** of a cohort: the share of its users active on exactly day N after their own
  signup day (D1 = the next day). It is given only once every user of the cohort has reached
  day N by the end of the reviewed week (the cohort's last signup day + N ≤ the week's last
  day); before that it is not observable yet (—), not a low number;
* **week-N retention**: the share of its users active during the N-th ISO week after the
  cohort's week (W1 = the next week), given once that week has ended.

Active days are read from ``mart_weekly_active_users``, written with each week's marts: a cell
that needs a week without weekly marts is not given (—), and the section says which weeks lack
them, rather than counting their users as gone.

The week-over-week change compares, for each of D1, D7, D30 and W1, the latest cohort for
which it is observable with the cohort one week older, in percentage points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from opscadence.analytics.weekly import marts
from opscadence.analytics.weekly.sections import NextAction, WeeklyContext, WeeklySection
from opscadence.analytics.weekly.wording import text
from opscadence.core.periods import Period
from opscadence.core.sqlfiles import read_sql_frame
from opscadence.reporting.i18n import format_value, signed_points, strings

COHORTS = 12
DAY_MARKS = (1, 7, 30)
WEEK_MARKS_SHOWN = (1, 2, 4)  # week-N columns in the brief's lines (all are in the data)
RETENTION_FALL_ACTION = 0.02  # a fall of at least 2 pp of D7 or W1 becomes an action


@dataclass(frozen=True)
class CohortRetention:
    cohort: Period
    users: int
    days: dict[int, float | None] = field(default_factory=dict)  # D-N: share, None when not observable
    weeks: dict[int, float | None] = field(default_factory=dict)  # week-N


@dataclass(frozen=True)
class RetentionChange:
    mark: str  # "D1", "D7", "D30", "W1"
    cohort: Period
    value: float
    previous_cohort: Period
    previous: float

    @property
    def delta(self) -> float:
        return self.value - self.previous


def cohort_weeks(week: Period, n: int = COHORTS) -> list[Period]:
    """The ``n`` signup weeks ending with ``week``, oldest first."""
    return [week.shift(i) for i in range(-(n - 1), 1)]


def _days(values: pd.Series) -> pd.Series:
    """``ds`` values as read (dates, or ISO text on SQLite) as midnight timestamps."""
    return pd.to_datetime(values.astype(str).str[:10], format="%Y-%m-%d")


def retention_table(signups: pd.DataFrame, activity: pd.DataFrame, week: Period, n: int = COHORTS,
                    day_marks: tuple[int, ...] = DAY_MARKS,
                    observed: set[Period] | None = None) -> list[CohortRetention]:
    """Retention of the ``n`` cohorts ending with ``week`` (cohorts without signups are left out).

    ``signups``: user_id, signup_ds (one row per user); ``activity``: user_id, ds (a row per
    active user-day, duplicates allowed). Observed up to ``week``'s last day, in the weeks of
    ``observed`` (None: every week); a cell reading another week is None.
    """

    def seen(first_day: date, last_day: date) -> bool:
        if observed is None:
            return True
        weeks = {Period.containing("week", first_day + timedelta(days=k)) for k in range((last_day - first_day).days + 1)}
        return weeks <= observed

    cohorts = cohort_weeks(week, n)
    first, last_day = cohorts[0].start, week.last_day
    if signups.empty:
        return []
    users = pd.DataFrame({"user_id": signups["user_id"].astype(str),
                          "signup": _days(signups["signup_ds"])})
    users = users[(users["signup"] >= pd.Timestamp(first)) & (users["signup"] <= pd.Timestamp(last_day))]
    users = users.drop_duplicates("user_id")
    users["cohort"] = ((users["signup"] - pd.Timestamp(first)).dt.days // 7).astype(np.int64)
    active = pd.DataFrame({"user_id": activity["user_id"].astype(str),
                           "day": _days(activity["ds"])}).drop_duplicates()
    joined = active.merge(users, on="user_id", how="inner")
    joined["offset"] = (joined["day"] - joined["signup"]).dt.days
    joined["week_offset"] = (joined["day"] - pd.Timestamp(first)).dt.days // 7 - joined["cohort"]
    out = []
    for index, cohort in enumerate(cohorts):
        members = users[users["cohort"] == index]
        if members.empty:
            continue
        size = len(members)
        mine = joined[joined["cohort"] == index]
        first_signup, last_signup = members["signup"].min().date(), members["signup"].max().date()
        days = {}
        for mark in day_marks:
            observable = last_signup + timedelta(days=mark) <= last_day and seen(
                first_signup + timedelta(days=mark), last_signup + timedelta(days=mark))
            days[mark] = (mine.loc[mine["offset"] == mark, "user_id"].nunique() / size) if observable else None
        weeks = {}
        for mark in range(1, n):
            later = cohort.shift(mark)
            if later.last_day > last_day:
                break
            weeks[mark] = (mine.loc[mine["week_offset"] == mark, "user_id"].nunique() / size
                           if seen(later.start, later.last_day) else None)
        out.append(CohortRetention(cohort, size, days, weeks))
    return out


def _marks(row: CohortRetention) -> dict[str, float | None]:
    return {**{f"D{k}": v for k, v in row.days.items()}, "W1": row.weeks.get(1)}


def changes(table: list[CohortRetention]) -> list[RetentionChange]:
    """For D1, D7, D30 and W1: the latest cohort observable vs the cohort one week older."""
    out = []
    by_week = {row.cohort: row for row in table}
    for mark in [*(f"D{k}" for k in DAY_MARKS), "W1"]:
        observable = [row for row in table if _marks(row).get(mark) is not None]
        if not observable:
            continue
        latest = observable[-1]
        before = by_week.get(latest.cohort.previous())
        if before is None or _marks(before).get(mark) is None:
            continue
        out.append(RetentionChange(mark, latest.cohort, _marks(latest)[mark], before.cohort, _marks(before)[mark]))
    return out


@dataclass(frozen=True)
class Retention:
    table: list[CohortRetention]
    unobserved: list[Period]  # weeks of the window without weekly marts (their activity is unknown)


def load_retention(engine: Any, week: Period, n: int = COHORTS) -> Retention:
    weeks = cohort_weeks(week, n)
    with engine.connect() as conn:
        signups = read_sql_frame(conn, "weekly/retention_signups", start=weeks[0].start, end=week.end)
        activity = read_sql_frame(conn, "weekly/retention_activity", start=weeks[0].start, end=week.end)
        observed = marts.weeks_with_marts(conn, weeks)
    table = retention_table(signups, activity, week, n, observed=observed)
    # weeks before the first cohort with signups are not missing anything retention needs
    first = table[0].cohort if table else week
    return Retention(table, [w for w in weeks if w not in observed and w >= first])


def _pct(value: float | None, locale: str) -> str:
    return "—" if value is None else format_value(value, "ratio", locale)


def retention_lines(table: list[CohortRetention], locale: str) -> list[str]:
    lines = [text(locale, "retention_definition")]
    for row in reversed(table):  # newest cohort first
        lines.append(text(locale, "retention_line", cohort=row.cohort.label(locale),
                          users=format_value(row.users, "count", locale),
                          d1=_pct(row.days.get(1), locale), d7=_pct(row.days.get(7), locale),
                          d30=_pct(row.days.get(30), locale),
                          **{f"w{k}": _pct(row.weeks.get(k), locale) for k in WEEK_MARKS_SHOWN}))
    for change in changes(table):
        lines.append(text(locale, "retention_change", mark=change.mark, cohort=change.cohort.label(locale),
                          value=_pct(change.value, locale), before=change.previous_cohort.label(locale),
                          previous=_pct(change.previous, locale), change=signed_points(change.delta, locale)))
    return lines


def _points(amount: float, locale: str) -> str:
    """An unsigned size in percentage points: "3.1 pp" / "3.1 个百分点"."""
    return strings(locale)["pp"].format(n=f"{abs(amount) * 100:.1f}")


def retention_actions(table: list[CohortRetention], locale: str) -> list[NextAction]:
    out = []
    for change in changes(table):
        if change.mark in ("D7", "W1") and change.delta <= -RETENTION_FALL_ACTION:
            out.append(NextAction(text(locale, "action_retention", mark=change.mark,
                                       change=_points(-change.delta, locale), cohort=change.cohort.label(locale),
                                       value=_pct(change.value, locale), previous=_pct(change.previous, locale)),
                                  priority=2))
    return out


def section_from_retention(table: list[CohortRetention], locale: str, n: int = COHORTS,
                           unobserved: list[Period] | None = None) -> WeeklySection:
    findings = [] if table else [text(locale, "retention_no_cohorts", n=n)]
    if table and unobserved:
        sep = "、" if locale == "zh-CN" else ", "
        findings.append(text(locale, "retention_unobserved", n=len(unobserved),
                             weeks=sep.join(w.label(locale) for w in unobserved)))
    data = {"cohorts": [{"cohort": r.cohort.key, "users": r.users, "days": r.days, "weeks": r.weeks} for r in table]}
    return WeeklySection(key="retention", title=text(locale, "retention_title", n=n),
                         lines=tuple(retention_lines(table, locale)) if table else (),
                         actions=tuple(retention_actions(table, locale)), findings=tuple(findings), data=data)


def retention_section(ctx: WeeklyContext) -> WeeklySection:
    """The weekly brief's retention (a :data:`~.sections.SECTION_PROVIDERS` provider)."""
    loaded = load_retention(ctx.engine, ctx.period)
    return section_from_retention(loaded.table, ctx.locale, unobserved=loaded.unobserved)
