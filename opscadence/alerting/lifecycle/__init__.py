"""The alert lifecycle, Grafana-like: pending → firing → resolved, stored in ``alert_states``.

One row per *fingerprint* (rule × metric × dimension × dimension value). An evaluation
(the daily flow, an intraday watch ...) turns every rule × series it checked into an
:class:`Observation` (breached or not) and calls :func:`apply_observations`, which moves
the rows through the state machine in one transaction and returns the
:class:`Transition` s. :func:`notify` then tells Slack about them:

* a breach opens the alert as ``pending``; it fires once it has been pending for more
  than ``pending_periods`` consecutive evaluations (``0``: it fires at once);
* a pending alert that stops breaching goes back to ``resolved`` silently (it never
  fired, nobody was told);
* a firing alert that stops breaching is ``resolved``: one reply in the thread of its
  firing message;
* an alert of the evaluation's ``scope`` that the evaluation covers but did not observe
  counts as not breached (``covered`` decides what an evaluation covers, so the daily run
  does not resolve the watch alerts and vice versa);
* each row remembers the last evaluation period it saw: re-applying a period (a rerun)
  changes nothing, and an evaluation of a period earlier than the scope's latest one (a
  backfill of an old day) changes nothing at all.

Every Slack message goes through :func:`opscadence.delivery.outbox.deliver`, keyed by a ``kind``
made of the fingerprint and the firing time (one kind per firing *episode*, so a re-fire
the same day gets its own message), so a retry or a rerun never posts twice and a Slack
outage ends in the outbox. When the firing message went to the outbox its ts is not known;
it is picked up from the ``briefs`` table once ``opscadence outbox send`` delivered it,
otherwise the replies are posted without a thread.

Silences (``silenced_until`` in the future) record state changes but send nothing; an alert
whose firing was never announced gets no "resolved" reply either. Unacknowledged P1s
escalate once after ``ack_minutes`` and once more when unresolved after
``resolve_minutes`` (:func:`check_escalations`); :func:`send_reminders` re-posts a
still-firing alert once a day.

Timestamps are naive UTC; aware datetimes given by callers are converted.

Modules: :mod:`.state` (the pure state machine), :mod:`.store` (``alert_states``),
:mod:`.notify` (Slack, through the outbox; messages from
:mod:`opscadence.reporting.slack.alerts`), :mod:`.commands` (list, ack, silence).
"""

from opscadence.alerting.lifecycle.commands import ack, list_alerts, silence
from opscadence.alerting.lifecycle.notify import check_escalations, notify, send_reminders
from opscadence.alerting.lifecycle.state import (
    FIRING,
    PENDING,
    RESOLVED,
    STATES,
    Observation,
    Transition,
    fingerprint,
    next_state,
)
from opscadence.alerting.lifecycle.store import apply_observations

__all__ = [
    "PENDING",
    "FIRING",
    "RESOLVED",
    "STATES",
    "Observation",
    "Transition",
    "fingerprint",
    "next_state",
    "apply_observations",
    "notify",
    "check_escalations",
    "send_reminders",
    "list_alerts",
    "ack",
    "silence",
]
