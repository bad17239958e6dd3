"""How a backfill groups its periods into chunks."""

from __future__ import annotations

from datetime import date

from opscadence.core.periods import Period, get_cadence
from opscadence.pipelines.backfill import chunks


def test_chunks_are_runs_of_consecutive_periods_with_a_size_cap():
    d = Period.day(date(2026, 1, 1))
    days = [d.shift(n) for n in range(5)] + [d.shift(n) for n in range(7, 9)]
    assert chunks(days, size=3) == [days[0:3], days[3:5], days[5:7]]
    assert chunks([], size=3) == []
    year = [d.shift(n) for n in range(365)]
    assert [len(c) for c in chunks(year, size=31)] == [31] * 11 + [24]  # 11 × 31 = 341, 365 − 341 = 24
    size = get_cadence("daily").chunk_periods
    assert max(len(c) for c in chunks(year, size)) == size and sum(map(len, chunks(year, size))) == 365


def test_weeks_chunk_by_consecutive_weeks():
    w = Period.containing("week", date(2026, 11, 25))
    assert chunks([w, w.next(), w.shift(3)], size=10) == [[w, w.next()], [w.shift(3)]]
