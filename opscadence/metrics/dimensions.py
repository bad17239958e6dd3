"""The dimension registry: every dimension the KPIs are broken down by, written once.

Each dimension names the raw column its values come from in each measure family it applies
to, and the value a row without one gets. The marts key rows by these names (``dimension``;
``all`` is the whole shop); a family's query names each dimension's column after the
dimension, so the SQL fan-out (``{{ fan_out(...) }}``, expanded by
:mod:`opscadence.core.sqlfiles`), the event measures and MAU (``opscadence/analytics/daily/kpis.py``)
and the root-cause split (``opscadence/alerting/rootcause.py``) all read their lists from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ALL = "all"  # the whole-shop row: dimension 'all', value 'all'

# The measure families: the rows a group of measures is counted from.
FAMILIES: Mapping[str, str] = {
    "events": "raw_events per session (kpi/session_facts): DAU, sessions, funnel steps, engagement",
    "visitors": "mart_daily_visitors, raw_events summarised per day (kpi/visitor_days): MAU",
    "orders": "paid raw_orders (kpi/order_measures): orders, GMV, paying and repeat paying users",
    "payments": "raw_payments (kpi/payment_measures): attempts and successes",
    "ads": "raw_ad_spend (kpi/ad_measures): impressions, clicks, cost",
    "signups": "raw_users (kpi/signup_measures): new users",
}


@dataclass(frozen=True)
class Source:
    """Where a dimension's value comes from in one family's rows."""

    table: str
    column: str
    via: str | None = None  # the row's key into ``table`` when the value is not the row's own


@dataclass(frozen=True)
class Dimension:
    name: str
    missing: str  # the value of a row whose source column is null (or that has no user)
    sources: Mapping[str, Source]  # family -> source


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("platform", "unknown", {
        "events": Source("raw_events", "platform"),
        "visitors": Source("raw_events", "platform"),
        "orders": Source("raw_orders", "platform"),
        "payments": Source("raw_payments", "platform"),
        "signups": Source("raw_users", "platform"),  # the signup platform
    }),
    Dimension("channel", "direct", {
        "events": Source("raw_events", "utm_source"),
        "visitors": Source("raw_events", "utm_source"),
        "orders": Source("raw_orders", "channel"),  # the order's attributed channel
        "ads": Source("raw_ad_spend", "channel"),
        "signups": Source("raw_users", "channel"),  # the acquisition channel
    }),
    Dimension("campaign", "none", {
        "events": Source("raw_events", "utm_campaign"),  # ad spend has campaigns but is not split by them
    }),
    Dimension("region", "unknown", {
        "events": Source("raw_users", "region", via="user_id"),  # the registered user's (staging/stg_user_region)
        "orders": Source("raw_users", "region", via="user_id"),  # the customer's (staging/stg_user_region)
        "signups": Source("raw_users", "region"),  # the signup row's own
    }),
    Dimension("payment_method", "unknown", {
        "payments": Source("raw_payments", "method"),
    }),
)

BY_NAME: Mapping[str, Dimension] = {d.name: d for d in DIMENSIONS}


def names(family: str | None = None) -> tuple[str, ...]:
    """The dimension names (of one family's rows), in registry order; ``all`` not included."""
    return tuple(d.name for d in of_family(family))


def of_family(family: str | None = None) -> tuple[Dimension, ...]:
    """The dimensions that apply to ``family`` (every dimension when None)."""
    if family is None:
        return DIMENSIONS
    if family not in FAMILIES:
        raise KeyError(f"unknown measure family {family!r}; known: {', '.join(FAMILIES)}")
    return tuple(d for d in DIMENSIONS if family in d.sources)


def breakdowns(family: str) -> tuple[tuple[str, str | None], ...]:
    """(dimension, column of the family's rows) for ``all`` (column None) and each dimension
    of ``family``: the groupings its measures are counted by."""
    return ((ALL, None), *((name, name) for name in names(family)))
