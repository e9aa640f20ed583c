"""The API's shapes for alerts and cases (shared by the home, queue and case routes)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel

from hof.alertstore import AlertView, HistoryEntry

__all__ = [
    "MAX_ROW_ID",
    "AlertId",
    "AlertOut",
    "AttemptOut",
    "ClocksOut",
    "EscalationOut",
    "HistoryOut",
]

# Row ids are signed 64-bit in the alert store (SQLite and PostgreSQL): a larger number names no
# alert, and must be refused as such rather than overflow the database driver (a 500).
MAX_ROW_ID = 2**63 - 1
AlertId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The alert's id")]


class HistoryOut(BaseModel):
    at: dt.datetime
    actor: str
    action: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, e: HistoryEntry) -> HistoryOut:
        return cls(at=e.at, actor=e.actor, action=e.action.value, detail=e.detail)


class ClocksOut(BaseModel):
    """Awaab's Law clocks of a case (all null when the hazard carries none)."""

    clock_class: str | None
    became_aware_at: dt.datetime | None
    investigation_due: dt.datetime | None
    investigation_ended_at: dt.datetime | None
    summary_due: dt.datetime | None
    summary_sent_at: dt.datetime | None
    works_due: dt.datetime | None
    works_done_at: dt.datetime | None
    further_works_due: dt.datetime | None
    further_works_started_at: dt.datetime | None


class AttemptOut(BaseModel):
    """One delivery attempt the notifier made and recorded (channel, recipient, result)."""

    level: int
    repeat: int
    channel: str  # webhook, email, notify_sms, notify_email, scaip, device_notice
    channel_words: str
    recipient: str
    address: str
    attempt: int
    status: str  # sent, delivered, failed
    detail: str
    at: dt.datetime
    delivered_at: dt.datetime | None


class EscalationOut(BaseModel):
    """What the notifier actually did: every attempt, who was reached, how it was acknowledged.

    Recorded facts only; nothing here is computed from the time since the alert was raised.
    """

    stopped: bool
    reached: list[str]
    acknowledged_by: str | None
    acknowledged_via: str | None
    text: str
    attempts: list[AttemptOut]


class AlertOut(BaseModel):
    id: int
    home: str
    room: str | None
    rule: str
    category: str
    audience: str
    severity: str
    state: str
    outcome: str | None
    summary: str
    evidence: dict[str, Any]
    first_raised_at: dt.datetime
    last_seen_at: dt.datetime
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    assigned_to: str | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    overdue: list[str]
    clocks: ClocksOut
    escalation: EscalationOut | None = None
    history: list[HistoryOut] | None = None

    @classmethod
    def of(
        cls,
        a: AlertView,
        history: tuple[HistoryEntry, ...] | None = None,
        escalation: EscalationOut | None = None,
    ) -> AlertOut:
        return cls(
            id=a.id,
            home=a.home,
            room=a.room,
            rule=a.rule,
            category=a.category.value,
            audience=a.audience.value,
            severity=a.severity.value,
            state=a.state.value,
            outcome=a.outcome.value if a.outcome else None,
            summary=str(a.evidence.get("summary", "")),
            evidence=a.evidence,
            first_raised_at=a.first_raised_at,
            last_seen_at=a.last_seen_at,
            acknowledged_by=a.acknowledged_by,
            acknowledged_at=a.acknowledged_at,
            assigned_to=a.assigned_to,
            resolved_by=a.resolved_by,
            resolved_at=a.resolved_at,
            overdue=list(a.overdue),
            clocks=ClocksOut.model_validate(a.clocks, from_attributes=True),
            escalation=escalation,
            history=[HistoryOut.of(e) for e in history] if history is not None else None,
        )
