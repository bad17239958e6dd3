"""Periods and the cadence registry: hand-checked calendar arithmetic."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from opscadence.core.errors import EXIT_USAGE, UserError
from opscadence.core.periods import (
    Cadence,
    Period,
    PeriodNotComplete,
    check_complete,
    is_complete,
    get_cadence,
    last_complete,
    periods_between,
    register,
    resolve_period,
    unregister,
)


def test_a_day_and_its_neighbours():
    d = Period.day(date(2026, 3, 1))
    assert (d.start, d.end) == (date(2026, 3, 1), date(2026, 3, 2))
    assert d.previous() == Period.day(date(2026, 2, 28))  # 2026 is not a leap year
    # 52 weeks = 364 days earlier: 2025-03-02, a Sunday like 2026-03-01
    assert d.same_period_last_year().start == date(2025, 3, 2)
    assert d.same_period_last_year().start.weekday() == d.start.weekday() == 6


def test_iso_weeks_start_on_monday_and_cross_years():
    w = Period.containing("week", date(2026, 11, 26))  # a Thursday
    assert (w.start, w.end) == (date(2026, 11, 23), date(2026, 11, 30))
    assert w.key == "2026-W48" and w.label("en") == "2026-W48" and w.label("zh-CN") == "2026年第48周"
    # 2027-01-01 is a Friday: it belongs to ISO week 53 of 2026, which starts Monday 2026-12-28
    w53 = Period.containing("week", date(2027, 1, 1))
    assert w53.start == date(2026, 12, 28) and w53.key == "2026-W53"
    # 2025 has 52 ISO weeks, so week 53 of 2026 compares with week 52 of 2025 (Monday 2025-12-22)
    assert w53.same_period_last_year().start == date(2025, 12, 22)
    assert w.same_period_last_year().key == "2025-W48" and w.same_period_last_year().start == date(2025, 11, 24)
    assert w.previous().start == date(2026, 11, 16)


def test_months_quarters_years():
    m = Period.containing("month", date(2026, 12, 31))
    assert (m.start, m.end, m.key) == (date(2026, 12, 1), date(2027, 1, 1), "2026-12")
    assert m.label("zh-CN") == "2026年12月" and m.next().key == "2027-01"
    assert Period.containing("month", date(2026, 3, 15)).previous().days()[-1] == date(2026, 2, 28)
    q = Period.containing("quarter", date(2026, 11, 24))
    assert (q.start, q.end, q.key) == (date(2026, 10, 1), date(2027, 1, 1), "2026-Q4")
    assert q.label("en") == "2026 Q4" and q.label("zh-CN") == "2026年第4季度"
    assert q.previous().key == "2026-Q3" and q.same_period_last_year().key == "2025-Q4"
    assert len(q.days()) == 31 + 30 + 31  # October, November, December
    y = Period.containing("year", date(2026, 6, 1))
    assert (y.key, y.label("zh-CN"), y.previous().key, len(y.days())) == ("2026", "2026年", "2025", 365)


def test_a_period_must_start_on_its_grain():
    with pytest.raises(ValueError, match="does not start a week"):
        Period("week", date(2026, 11, 24))  # a Tuesday
    with pytest.raises(ValueError, match="unknown grain"):
        Period.containing("fortnight", date(2026, 11, 24))


def test_the_period_that_just_ended_is_in_the_shops_timezone():
    # 2026-12-01 17:30 UTC is 2026-12-02 01:30 in Shanghai (UTC+8): yesterday there is Dec 1
    now = datetime(2026, 12, 1, 17, 30, tzinfo=timezone.utc)
    assert last_complete("day", "Asia/Shanghai", now) == Period.day(date(2026, 12, 1))
    assert last_complete("day", "UTC", now) == Period.day(date(2026, 11, 30))
    # on Wednesday 2026-12-02 (Shanghai) the last complete ISO week is 2026-W48 (Nov 23-29)
    assert last_complete("week", "Asia/Shanghai", now).key == "2026-W48"
    assert last_complete("month", "Asia/Shanghai", now).key == "2026-11"
    assert resolve_period("week", date(2026, 11, 3), "UTC") == Period.containing("week", date(2026, 11, 2))
    with pytest.raises(ValueError, match="timezone-aware"):
        last_complete("day", "UTC", datetime(2026, 12, 1))


def test_periods_between_covers_both_ends():
    weeks = periods_between("week", date(2026, 11, 4), date(2026, 11, 24))
    # Wed Nov 4 is in the week of Mon Nov 2; Tue Nov 24 in the week of Mon Nov 23: 4 weeks
    assert [w.start.day for w in weeks] == [2, 9, 16, 23]
    assert len(periods_between("day", date(2026, 11, 1), date(2026, 11, 30))) == 30
    with pytest.raises(ValueError, match="before it starts"):
        periods_between("day", date(2026, 11, 2), date(2026, 11, 1))


def test_registry_lookups_and_lock_keys():
    daily = get_cadence("daily")
    assert daily.grain == "day" and daily.lock_key(Period.day(date(2026, 11, 24))) == "daily:2026-11-24"
    with pytest.raises(ValueError, match="unknown cadence 'hourly'; known: daily"):
        get_cadence("hourly")
    with pytest.raises(ValueError, match="unknown grain"):
        Cadence(name="x", grain="hour", cron="0 * * * *", steps="x", flow="x:y")
    register(Cadence(name="weekly-test", grain="week", cron="30 9 * * 1", steps="x", flow="x:y"))
    try:
        assert get_cadence("weekly-test").lock_key(Period.containing("week", date(2026, 11, 25))) == "weekly-test:2026-W48"
    finally:
        unregister("weekly-test")


# 2026-12-02 01:30 UTC is 09:30 on 2026-12-02 in Asia/Shanghai (UTC+8) and still 2026-12-01 in New York (UTC-5).
NOW = datetime(2026, 12, 2, 1, 30, tzinfo=timezone.utc)


def test_a_period_is_complete_once_its_last_day_has_ended_in_the_shops_timezone():
    assert is_complete(Period.day(date(2026, 12, 1)), "Asia/Shanghai", NOW)  # ended at 00:00 today
    assert not is_complete(Period.day(date(2026, 12, 2)), "Asia/Shanghai", NOW)  # today: partial
    assert not is_complete(Period.day(date(2027, 6, 1)), "Asia/Shanghai", NOW)  # the future
    assert not is_complete(Period.day(date(2026, 12, 1)), "America/New_York", NOW)  # still 1 December there
    assert is_complete(Period.day(date(2026, 11, 30)), "America/New_York", NOW)
    # W49 is Mon 2026-11-30 .. Sun 2026-12-06: not over on 2 December; W48 (23..29 November) is
    assert not is_complete(Period.containing("week", date(2026, 11, 30)), "Asia/Shanghai", NOW)
    assert is_complete(Period.containing("week", date(2026, 11, 26)), "Asia/Shanghai", NOW)
    assert not is_complete(Period.containing("month", date(2026, 12, 1)), "Asia/Shanghai", NOW)


def test_a_period_not_over_is_refused_naming_the_latest_complete_one():
    with pytest.raises(PeriodNotComplete) as today:
        check_complete(Period.day(date(2026, 12, 2)), "Asia/Shanghai", NOW)
    assert str(today.value) == ("2026-12-02 has not ended yet in Asia/Shanghai; the latest complete day is 2026-12-01 "
                                "(pass --allow-partial to run it anyway)")
    assert isinstance(today.value, UserError) and today.value.exit_code == EXIT_USAGE == 2
    with pytest.raises(PeriodNotComplete, match="^2027-06-01 has not ended yet in Asia/Shanghai; "
                                                "the latest complete day is 2026-12-01 "):
        check_complete(Period.day(date(2027, 6, 1)), "Asia/Shanghai", NOW)
    with pytest.raises(PeriodNotComplete, match=r"^2026-W49 .* the latest complete week is 2026-W48 \(end it here\)$"):
        check_complete(Period.containing("week", date(2026, 12, 2)), "Asia/Shanghai", NOW, hint="end it here")
    check_complete(Period.day(date(2026, 12, 1)), "Asia/Shanghai", NOW)  # complete: no error
    check_complete(Period.day(date(2025, 1, 1)), "Asia/Shanghai", NOW)  # long past: no error
