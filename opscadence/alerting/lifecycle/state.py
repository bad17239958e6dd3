"""The lifecycle's state machine, pure: states, fingerprints, observations and transitions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from opscadence.core.model import Alert

__all__ = [
    "PENDING",
    "FIRING",
    "RESOLVED",
    "STATES",
    "Observation",
    "Transition",
    "fingerprint",
    "alert_fingerprint",
    "next_state",
    "utc_naive",
]

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
STATES = (PENDING, FIRING, RESOLVED)


def fingerprint(rule_id: str, metric: str, dimension: str, dimension_value: str) -> str:
    """Stable id of one rule × series: sha1 hex of the joined key, first 16 characters."""
    key = "\x1f".join((str(rule_id), str(metric), str(dimension), str(dimension_value)))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def alert_fingerprint(alert: Alert) -> str:
    return fingerprint(alert.rule_id, alert.metric, alert.dimension, alert.dimension_value)


@dataclass(frozen=True)
class Observation:
    """The result of evaluating one rule for one series at one time."""

    alert: Alert  # rule_id, metric, dimension, dimension_value, severity, kind, value, baseline, threshold, condition
    breached: bool
    details: Sequence[str] = ()  # e.g. root-cause lines, put into the firing message

    @property
    def fingerprint(self) -> str:
        return alert_fingerprint(self.alert)


@dataclass(frozen=True)
class Transition:
    """A change of state; ``before`` is None for an alert seen for the first time."""

    fingerprint: str
    before: str | None
    after: str
    alert: Alert
    details: list[str]


def next_state(before: str | None, pending_count: int, breached: bool, pending_periods: int) -> tuple[str | None, int]:
    """``(state, pending_count)`` after one evaluation; ``(None, 0)`` means "no alert".

    ``pending_count`` is the number of consecutive breaching evaluations of the current
    episode; the alert fires when it exceeds ``pending_periods``.
    """
    if before not in (None, *STATES):
        raise ValueError(f"unknown alert state {before!r}")
    if breached:
        if before in (None, RESOLVED):
            count = 1
        elif before == PENDING:
            count = pending_count + 1
        else:
            return FIRING, pending_count
        return (FIRING if count > pending_periods else PENDING), count
    if before is None:
        return None, 0
    return RESOLVED, 0


def utc_naive(value: datetime) -> datetime:
    """``value`` as naive UTC (an aware time is converted, a naive one is taken as UTC)."""
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
