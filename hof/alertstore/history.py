"""Appending to an alert's history: the only write the history table ever gets."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hof.alertstore.models import Alert, AlertHistory
from hof.alertstore.vocabulary import Action

__all__ = ["last_recorded_update", "record"]


def record(
    session: Session, row: Alert, action: Action, actor: str, at: dt.datetime, **detail: Any
) -> AlertHistory:
    """Append one entry: who did what to `row`, when, with the details."""
    entry = AlertHistory(alert_id=row.id, at=at, actor=actor, action=action, detail=detail)
    session.add(entry)
    return entry


def last_recorded_update(session: Session, row: Alert) -> dt.datetime | None:
    """When the rules' evidence was last written to the history (raised, updated, reopened)."""
    return session.scalar(
        sa.select(AlertHistory.at)
        .where(
            AlertHistory.alert_id == row.id,
            AlertHistory.action.in_([Action.RAISED, Action.UPDATED, Action.REOPENED]),
        )
        .order_by(AlertHistory.id.desc())
        .limit(1)
    )
