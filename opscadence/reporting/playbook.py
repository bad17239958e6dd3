"""Suggested actions: the team's playbook (config ``playbook``) over the built-in one.

An entry applies to an alert when its ``metric`` is the alert's (or ``*``) and each
selector it sets (``rule``, ``kind``, ``direction``) equals the alert's. An entry without
``kind`` applies to metric alerts (threshold and anomaly) only: a data-quality alert is
about tables, so only ``kind: data_quality`` entries apply to it.

The most specific entry that applies wins: one naming a ``rule`` beats one naming a
``metric``, which beats ``*``; at the same level the team's entries beat the built-in
ones, then an entry that also sets ``kind`` or ``direction`` beats one that does not;
remaining ties go to the entry listed first. The built-in entries carry today's texts
(catalogue keys ``playbook.*`` in :mod:`opscadence.reporting.i18n`) and end with a
wildcard, so every alert gets a suggestion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from opscadence.core.config import PlaybookEntry
from opscadence.core.model import Alert
from opscadence.reporting.i18n import LOCALES, STRINGS, strings

__all__ = ["Playbook", "BUILTIN_ENTRIES", "DEFAULT_PLAYBOOK", "direction", "suggestion_for"]


def _builtin(key: str, metric: str = "*", **selectors: str) -> PlaybookEntry:
    texts = {locale: STRINGS[locale][f"playbook.{key}"] for locale in LOCALES}
    return PlaybookEntry.model_validate({"metric": metric, **selectors, **texts})


BUILTIN_ENTRIES: tuple[PlaybookEntry, ...] = (
    _builtin("data_quality", kind="data_quality"),
    _builtin("payment_success_rate", "payment_success_rate"),
    _builtin("ad_ctr", "ad_ctr"),
    _builtin("dau.down", "dau", direction="down"),
    _builtin("dau.up", "dau", direction="up"),
    _builtin("bounce_rate", "bounce_rate"),
    _builtin("add_to_cart_conversion", "add_to_cart_conversion"),
    _builtin("orders", "orders"),
    _builtin("gmv", "gmv"),
    _builtin("aov", "aov"),
    _builtin("repurchase_rate", "repurchase_rate"),
    _builtin("new_users", "new_users"),
    _builtin("registration_conversion", "registration_conversion"),
    _builtin("share_rate", "share_rate"),
    _builtin("avg_interaction_seconds", "avg_interaction_seconds"),
    _builtin("urgent_feedback", "urgent_feedback"),
    _builtin("generic"),
)


def direction(condition: str) -> str | None:
    """"down" for below/drop_*/anomaly_drop, "up" for above/rise_*/anomaly_rise, else None."""
    if condition in ("below", "anomaly_drop") or condition.startswith("drop"):
        return "down"
    if condition in ("above", "anomaly_rise") or condition.startswith("rise"):
        return "up"
    return None


def _applies(entry: PlaybookEntry, metric: str, condition: str, kind: str, rule_id: str | None) -> bool:
    if entry.metric not in ("*", metric):
        return False
    if entry.rule is not None and entry.rule != rule_id:
        return False
    if entry.kind is not None and entry.kind != kind:
        return False
    if entry.kind is None and kind == "data_quality":
        return False
    return entry.direction is None or entry.direction == direction(condition)


@dataclass(frozen=True, init=False)
class Playbook:
    """The resolved playbook: ``entries`` (the team's, from config) consulted over :data:`BUILTIN_ENTRIES`."""

    entries: tuple[PlaybookEntry, ...]

    def __init__(self, entries: Iterable[PlaybookEntry] = ()) -> None:
        object.__setattr__(self, "entries", tuple(entries))

    def suggestion(self, metric: str, condition: str, locale: str = "zh-CN", kind: str = "threshold",
                   rule_id: str | None = None) -> str:
        """The suggested action for an alert of ``metric``/``condition``/``kind``/``rule_id`` in ``locale``."""
        strings(locale)
        best: tuple[tuple[bool, bool, bool, int], PlaybookEntry] | None = None
        for team, pool in ((True, self.entries), (False, BUILTIN_ENTRIES)):
            for entry in pool:
                if not _applies(entry, metric, condition, kind, rule_id):
                    continue
                rank = (entry.rule is not None, entry.metric != "*", team,
                        (entry.kind is not None) + (entry.direction is not None))
                if best is None or rank > best[0]:  # strictly better: ties keep the first listed
                    best = (rank, entry)
        assert best is not None, "the built-in playbook ends with a wildcard"
        return best[1].text(locale)

    def for_alert(self, alert: Alert, locale: str) -> str:
        """The suggested action for ``alert``."""
        return self.suggestion(alert.metric, alert.condition, locale, alert.kind, alert.rule_id)


DEFAULT_PLAYBOOK = Playbook()


def suggestion_for(metric: str, condition: str, locale: str = "zh-CN", kind: str = "threshold") -> str:
    """The built-in suggested action (no team playbook) for an alert of ``metric``/``condition``/``kind``."""
    return DEFAULT_PLAYBOOK.suggestion(metric, condition, locale, kind)
