"""What the notifier actually did for a responder alert: who was told, how, with what result.

Screens say what happened, not what should have (docs/DESIGN.md): every line here is a
delivery attempt the notifier recorded in the alert store (`notify_attempt`, read through
`hof.alertstore.notifications.attempts_for`), and "acknowledged by" comes from the alert's own
history, with the way it came (the dashboard, the link in a message, an SMS reply). Nothing is
derived from the clock: an alert nobody has been told of reads "Nobody contacted yet" however
long it has been open. (This module used to compute "With team lead" from the time since the
alert was raised, although nobody had been contacted.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hof.alertstore import AlertView, Audience, State
from hof.alertstore import notifications as n
from hof.alertstore.models import AlertHistory, AttemptStatus
from hof.alertstore.vocabulary import Action

__all__ = [
    "CHANNEL_WORDS",
    "AttemptLine",
    "Escalation",
    "Notifications",
    "escalation_of",
    "escalations",
    "notifications_for",
]

# How each channel reads on a screen.
CHANNEL_WORDS: dict[str, str] = {
    "webhook": "webhook",
    "email": "email",
    "notify_sms": "text message",
    "notify_email": "email (GOV.UK Notify)",
    "scaip": "alarm receiving centre (SCAIP)",
    "device_notice": "notice to the tenant's device",
}
# How an acknowledgement came in (the `via` of its history entry; none: a person signed in).
VIA_WORDS: dict[str, str] = {
    "dashboard": "the dashboard",
    "link": "the link in a message",
    "sms": "an SMS reply",
    "scaip": "the alarm receiving centre",
}


@dataclass(frozen=True, slots=True)
class AttemptLine:
    """One recorded delivery attempt, in words a responder reads."""

    level: int
    repeat: int
    channel: str  # the adapter's name: webhook, email, notify_sms, notify_email, scaip, ...
    channel_words: str
    recipient: str
    address: str
    attempt: int
    status: str  # sent, delivered, failed
    detail: str
    at: dt.datetime
    delivered_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Notifications:
    """What the store holds for one alert: its attempts and how it was acknowledged."""

    attempts: tuple[n.AttemptView, ...] = ()
    acknowledged_via: str | None = None


@dataclass(frozen=True, slots=True)
class Escalation:
    stopped: bool
    attempts: tuple[AttemptLine, ...]
    reached: tuple[str, ...]  # recipients a message was handed to or delivered to, in order
    acknowledged_by: str | None
    acknowledged_via: str | None
    text: str


def notifications_for(engine: Engine, alert_ids: Collection[int]) -> dict[int, Notifications]:
    """Attempts and the acknowledgement's channel for each alert (absent: nothing recorded)."""
    ids = list(alert_ids)
    if not ids:
        return {}
    with n.transaction(engine, write=False) as session:
        attempts = n.attempts_for(session, ids)
        acks = session.execute(
            sa.select(AlertHistory.alert_id, AlertHistory.detail)
            .where(AlertHistory.alert_id.in_(ids), AlertHistory.action == Action.ACKNOWLEDGED)
            .order_by(AlertHistory.id)
        ).all()
    via: dict[int, str] = {}
    for alert_id, detail in acks:
        # The last acknowledgement is the one that stands (a reopened alert is acked again).
        via[alert_id] = str((detail or {}).get("via") or "dashboard")
    return {
        i: Notifications(tuple(attempts.get(i, ())), via.get(i))
        for i in ids
        if i in attempts or i in via
    }


def _line(a: n.AttemptView) -> AttemptLine:
    return AttemptLine(
        level=a.level,
        repeat=a.repeat,
        channel=a.channel,
        channel_words=CHANNEL_WORDS.get(a.channel, a.channel.replace("_", " ")),
        recipient=a.recipient_name,
        address=a.recipient_address,
        attempt=a.attempt,
        status=a.status.value,
        detail=a.detail,
        at=a.at,
        delivered_at=a.delivered_at,
    )


# The tenant's own device is told that help is coming; it is not someone escalated to.
_TENANT_CHANNELS = frozenset({"device_notice"})


def _contacts(attempts: Sequence[n.AttemptView]) -> tuple[str, ...]:
    reached = [
        a.recipient_name
        for a in attempts
        if a.status is not AttemptStatus.FAILED and a.channel not in _TENANT_CHANNELS
    ]
    return tuple(dict.fromkeys(reached))


def escalation_of(alert: AlertView, notes: Notifications | None) -> Escalation | None:
    """None for alerts that do not escalate (housing officers' cases)."""
    if alert.audience is Audience.HOUSING_OFFICER:
        return None
    notes = notes or Notifications()
    lines = tuple(_line(a) for a in notes.attempts)
    reached = _contacts(notes.attempts)
    failed = tuple(
        dict.fromkeys(
            a.recipient_name
            for a in notes.attempts
            if a.status is AttemptStatus.FAILED
            and a.recipient_name not in reached
            and a.channel not in _TENANT_CHANNELS
        )
    )
    tenant_told = any(
        a.channel in _TENANT_CHANNELS and a.status is not AttemptStatus.FAILED
        for a in notes.attempts
    )
    via = notes.acknowledged_via
    if alert.acknowledged_at is not None:
        how = f" via {VIA_WORDS.get(via, via)}" if via else ""
        head = f"Acknowledged by {alert.acknowledged_by or 'someone'}{how}"
    else:
        head = ""
    told = f"Told {', '.join(reached)}" if reached else "Nobody contacted yet"
    if failed:
        told += f"; could not reach {', '.join(failed)}"
    if tenant_told:
        told += "; the tenant's device was told"
    if alert.state is State.RESOLVED:
        text = f"Resolved; {told[0].lower()}{told[1:]}" if lines else "Resolved"
        return Escalation(True, lines, reached, alert.acknowledged_by, via, text)
    if head:
        return Escalation(True, lines, reached, alert.acknowledged_by, via, f"{head}. {told}")
    return Escalation(False, lines, reached, None, None, told)


def escalations(
    alerts: Sequence[AlertView], notes: Mapping[int, Notifications]
) -> dict[int, Escalation | None]:
    """`escalation_of` for each alert, by id."""
    return {a.id: escalation_of(a, notes.get(a.id)) for a in alerts}
