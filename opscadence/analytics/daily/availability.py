"""Which metric the KPI mart holds by which dimension, read off the code that fills it.

A metric is a measure or a ratio of two (:mod:`opscadence.metrics.catalog`); each measure is
counted from one family's rows (:mod:`opscadence.metrics.dimensions`), split by that family's
dimensions. So a metric exists by a dimension exactly when every measure it reads exists by
it. The measure → family map comes from the same definitions that compute the measures:

* the SQL measure files (``kpi/*_measures``, :data:`~opscadence.analytics.daily.kpis.MEASURE_QUERIES`):
  the family of their ``{{ fan_out('<family>', …) }}``, the measures their final select names;
* the event measures: what :func:`~opscadence.analytics.daily.kpis.event_measures` returns for one
  session (family ``events``);
* MAU: :data:`~opscadence.analytics.daily.kpis.MAU_MEASURE` (family ``visitors``).

Used by the configuration to refuse a threshold rule that could never fire.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date

import pandas as pd

from opscadence.analytics.daily import kpis
from opscadence.core.sqlfiles import sql_text
from opscadence.metrics import dimensions
from opscadence.metrics.catalog import CATALOG

__all__ = ["measure_families", "metric_dimensions"]

_FAN_OUT_FAMILY = re.compile(r"\{\{\s*fan_out\(\s*'(\w+)'")
_FINAL_SELECT = re.compile(r"^select\b", re.MULTILINE)  # a top-level select starts a line
_ALIAS = re.compile(r"\bas\s+(\w+)\s*,?\s*$", re.MULTILINE)


def _sql_measures(name: str) -> tuple[str, list[str]]:
    """(family, measure names) of one SQL measure file."""
    text = sql_text(name)
    family = _FAN_OUT_FAMILY.search(text)
    if family is None:
        raise ValueError(f"sql/{name}.sql has no fan_out: its family is unknown")
    final = text[[m.start() for m in _FINAL_SELECT.finditer(text)][-1]:]
    return family.group(1), _ALIAS.findall(final)


def _event_measure_names() -> list[str]:
    """The measures :func:`kpis.event_measures` computes, from one synthetic session."""
    row = {"ds": date(2000, 1, 1), "visitor_id": "v", "session_id": "s", "event_count": 1, "engagement_seconds": 0.0}
    row |= {flag: 1 for _measure, flag in kpis.FUNNEL_FLAGS}
    row |= {column: "x" for _dim, column in kpis.EVENT_DIMENSIONS if column}
    measures = kpis.event_measures(pd.DataFrame([row]))
    return sorted({m for values in measures.values() for m in values})


@functools.cache
def measure_families() -> Mapping[str, str]:
    """measure name -> the family whose rows count it."""
    families = {measure: "events" for measure in _event_measure_names()}
    families[kpis.MAU_MEASURE] = "visitors"
    for name in kpis.MEASURE_QUERIES:
        family, measures = _sql_measures(name)
        families |= {measure: family for measure in measures}
    return families


def metric_dimensions(metric: str) -> tuple[str, ...]:
    """The dimensions the mart holds ``metric`` by: ``all`` first, then registry order.

    Raises ``KeyError`` for a metric not in the catalogue.
    """
    definition = CATALOG[metric]
    families = measure_families()
    reads = [definition.numerator, *([definition.denominator] if definition.denominator else [])]
    split = [set(dimensions.names(families[m])) for m in reads]
    return (dimensions.ALL, *(name for name in dimensions.names() if all(name in s for s in split)))
