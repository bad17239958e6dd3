"""Random draws, ids and timestamps shared by the demo generators."""

from __future__ import annotations

import re
from datetime import date

import numpy as np

# Hour-of-day traffic weights (shop-local time).
HOUR_W = np.array([2.0, 1.2, 0.7, 0.4, 0.3, 0.4, 0.8, 1.6, 2.6, 3.4, 4.0, 4.4,
                   4.6, 4.2, 4.0, 4.0, 4.1, 4.2, 4.4, 5.2, 6.0, 6.6, 6.0, 4.0])
HOUR_P = HOUR_W / HOUR_W.sum()


def seconds_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    hours = rng.choice(24, size=n, p=HOUR_P)
    return hours * 3600.0 + rng.random(n) * 3600.0


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """``total`` split into integers proportional to ``weights`` (largest remainders round up)."""
    raw = total * weights / weights.sum()
    counts = np.floor(raw).astype(np.int64)
    rest = total - int(counts.sum())
    if rest > 0:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:rest]] += 1
    return counts


def unique_hex_ids(rng: np.random.Generator, prefix: str, n: int, digits: int = 12) -> np.ndarray:
    """Unique random hex ids; none holds a run of 6+ decimal digits (nothing phone-like)."""
    values = rng.integers(0, 16 ** digits, size=n, dtype=np.int64)
    long_run = re.compile(r"\d{6,}")
    while True:
        ids = [f"{v:0{digits}x}" for v in values.tolist()]
        redo = np.array([bool(long_run.search(i)) for i in ids])
        _, first = np.unique(values, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        redo |= dup
        if not redo.any():
            return np.array([prefix + i for i in ids], dtype=object)
        values[redo] = rng.integers(0, 16 ** digits, size=int(redo.sum()), dtype=np.int64)


def pick(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """Vectorised categorical draw: ``cum`` is one cumulative-probability row per draw."""
    u = rng.random(len(cum))
    return np.minimum((u[:, None] > cum).sum(axis=1), cum.shape[1] - 1)


def ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.array([f"{prefix}{n:0{width}d}" for n in numbers.tolist()], dtype=object)


def day_sequence(days: np.ndarray) -> np.ndarray:
    """1, 2, … within each run of equal values of ``days`` (rows sorted by day)."""
    n = len(days)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n, dtype=np.int64) - run_start + 1


def stamped_ids(prefix: str, dates: np.ndarray, days: np.ndarray, numbers: np.ndarray, width: int) -> np.ndarray:
    """``{prefix}{YYYYMMDD}{number}`` per row, the date being ``dates[day]`` (rows sorted by day)."""
    out = np.empty(len(numbers), dtype=object)
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]]) if len(days) else np.zeros(0, np.int64)
    for lo, hi in zip(starts.tolist(), np.r_[starts[1:], len(days)].tolist()):
        out[lo:hi] = ids(f"{prefix}{dates[days[lo]]:%Y%m%d}", numbers[lo:hi], width)
    return out


def timestamps(start: date, day_idx: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Naive shop-local datetime64[us] from a day index and seconds into that day."""
    micros = np.clip(np.round(seconds * 1e6).astype(np.int64), 0, 86_400 * 10**6 - 1)
    base = np.datetime64(start, "us")
    return base + (day_idx.astype(np.int64) * 86_400 * 10**6 + micros).astype("timedelta64[us]")
