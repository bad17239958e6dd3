"""How a backfill groups its days for the range queries."""

from __future__ import annotations

from datetime import date, timedelta

from opscadence.pipelines.backfill import CHUNK_DAYS, chunks


def test_chunks_are_runs_of_consecutive_days_with_a_size_cap():
    d = date(2026, 1, 1)
    days = [d + timedelta(days=n) for n in range(5)] + [d + timedelta(days=n) for n in range(7, 9)]
    assert chunks(days, size=3) == [days[0:3], days[3:5], days[5:7]]
    assert chunks([], size=3) == []
    year = [d + timedelta(days=n) for n in range(365)]
    assert [len(c) for c in chunks(year, size=31)] == [31] * 11 + [24]
    assert max(len(c) for c in chunks(year)) == CHUNK_DAYS and sum(map(len, chunks(year))) == 365
