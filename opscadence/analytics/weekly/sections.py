"""What every weekly analysis hands to the weekly brief: one section and its "next week" actions.

The weekly pipeline calls each provider of :data:`SECTION_PROVIDERS` with a
:class:`WeeklyContext`; a provider returns a :class:`WeeklySection` (already localised, Slack
mrkdwn escaped, free of personal data) or raises. Missing inputs are a finding in the section,
not an empty section.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from opscadence.core.periods import Period


@dataclass(frozen=True)
class WeeklyContext:
    engine: Any  # sqlalchemy Engine of the warehouse
    cfg: Any  # opscadence.core.config.Config
    period: Period  # the ISO week (grain "week")
    locale: str  # "zh-CN" | "en"
    exports_dir: Path  # OPSCADENCE_HOME/exports: real ids only here, files 0600


@dataclass(frozen=True)
class NextAction:
    """One suggestion for next week, tied to a number of the brief."""

    text: str  # localised, names the number it rests on
    priority: int = 2  # 1 = first


@dataclass(frozen=True)
class WeeklySection:
    key: str  # "trends", "diagnosis", "attribution", "rfm", "abtest", "painpoints"
    title: str  # localised
    lines: tuple[str, ...]  # localised mrkdwn lines, escaped, no personal data
    actions: tuple[NextAction, ...] = ()
    findings: tuple[str, ...] = ()  # localised: missing or invalid data, stated
    data: dict[str, Any] = field(default_factory=dict)  # structured numbers (tests, outbox JSON)


SectionProvider = Callable[[WeeklyContext], WeeklySection]

# "module:function" of each provider, in the brief's order.
SECTION_PROVIDERS: tuple[str, ...] = (
    "opscadence.analytics.weekly.attribution:weekly_section",
    "opscadence.analytics.weekly.rfm:weekly_section",
    "opscadence.analytics.weekly.abtest:weekly_section",
    "opscadence.analytics.weekly.painpoints:weekly_section",
)


def provider(spec: str) -> SectionProvider:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)
