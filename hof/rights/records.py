"""A home's rows in the alert store: read them all (subject access), delete them all (erasure),
and append to the audit log that it happened."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hof.alertstore.engine import WRITE
from hof.alertstore.models import Alert, AlertHistory, NotifyAck, NotifyAttempt, NotifyJob
from hof.registry.models import (
    AuditEvent,
    AuditRelease,
    HistoryRelease,
    Home,
    HomeCarer,
    HomeCondition,
    HomeConsent,
    User,
)

__all__ = ["Actor", "audit", "erase_rows", "expire_audit", "home_rows", "release_history"]


@dataclass(frozen=True)
class Actor:
    """Who asked for a rights operation, as the audit log records it."""

    email: str
    role: str = "admin"
    via: str = "cli"


def audit(
    engine: Engine,
    actor: Actor,
    action: str,
    home: str,
    detail: dict[str, Any],
    *,
    at: dt.datetime | None = None,
) -> None:
    """Append one audit event (the log is append-only: triggers refuse change)."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        conn.execute(
            sa.insert(AuditEvent).values(
                at=at or dt.datetime.now(dt.UTC),
                actor=actor.email,
                role=actor.role,
                via=actor.via,
                action=action,
                home=home,
                subject=None,
                detail=detail,
            )
        )


def _dicts(conn: Connection, query: sa.Executable) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(query).all()]


def home_rows(engine: Engine, home: str) -> dict[str, list[dict[str, Any]]]:
    """Every row held about `home`, table by table (registry, consents, carers, alerts and cases
    with their history, notifications, the audit of who viewed or changed it)."""
    with engine.connect() as conn:
        alert_ids = sa.select(Alert.id).where(Alert.home == home)
        return {
            "home": _dicts(conn, sa.select(Home).where(Home.id == home)),
            "home_condition": _dicts(
                conn, sa.select(HomeCondition).where(HomeCondition.home == home)
            ),
            "consent": _dicts(
                conn,
                sa.select(HomeConsent).where(HomeConsent.home == home).order_by(HomeConsent.id),
            ),
            "carers": _dicts(
                conn,
                sa.select(
                    User.name.label("carer"),
                    User.email.label("carer_email"),
                    HomeCarer.relationship,
                    HomeCarer.recorded_by,
                    HomeCarer.recorded_at,
                    HomeCarer.ended_by,
                    HomeCarer.ended_at,
                )
                .join(User, User.id == HomeCarer.user_id)
                .where(HomeCarer.home == home)
                .order_by(HomeCarer.id),
            ),
            "alerts": _dicts(conn, sa.select(Alert).where(Alert.home == home).order_by(Alert.id)),
            "alert_history": _dicts(
                conn,
                sa.select(AlertHistory)
                .where(AlertHistory.alert_id.in_(alert_ids))
                .order_by(AlertHistory.id),
            ),
            "notifications": _dicts(
                conn,
                sa.select(NotifyAttempt)
                .where(NotifyAttempt.alert_id.in_(alert_ids))
                .order_by(NotifyAttempt.id),
            ),
            "audit": _dicts(
                conn,
                sa.select(AuditEvent).where(AuditEvent.home == home).order_by(AuditEvent.id),
            ),
        }


def release_history(conn: Connection, alert_ids: list[int]) -> None:
    """Let this transaction delete these alerts' append-only history (migration 0004)."""
    if alert_ids:
        conn.execute(sa.insert(HistoryRelease), [{"alert_id": i} for i in alert_ids])


def delete_alerts(conn: Connection, alert_ids: list[int]) -> dict[str, int]:
    """Delete alerts with their history and notifier rows, in one transaction; counts."""
    if not alert_ids:
        return {}
    release_history(conn, alert_ids)
    counts: dict[str, int] = {}
    for name, table, column in (
        ("alert_history", AlertHistory, AlertHistory.alert_id),
        ("notifications", NotifyAttempt, NotifyAttempt.alert_id),
        ("notify_ack", NotifyAck, NotifyAck.alert_id),
        ("notify_job", NotifyJob, NotifyJob.alert_id),
        ("alerts", Alert, Alert.id),
    ):
        result = conn.execute(sa.delete(table).where(column.in_(alert_ids)))
        counts[name] = result.rowcount
    conn.execute(sa.delete(HistoryRelease).where(HistoryRelease.alert_id.in_(alert_ids)))
    return {k: v for k, v in counts.items() if v}


def erase_rows(engine: Engine, home: str) -> dict[str, int]:
    """Delete everything the alert store holds about `home` but the audit log; what was
    removed, by kind ({} when nothing was left)."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        alert_ids = list(conn.execute(sa.select(Alert.id).where(Alert.home == home)).scalars())
        counts = delete_alerts(conn, alert_ids)
        for name, table, column in (
            ("consent", HomeConsent, HomeConsent.home),
            ("carers", HomeCarer, HomeCarer.home),
            ("home_condition", HomeCondition, HomeCondition.home),
            ("home", Home, Home.id),
        ):
            result = conn.execute(sa.delete(table).where(column == home))
            if result.rowcount:
                counts[name] = result.rowcount
    return counts


def expire_audit(engine: Engine, before: dt.datetime) -> int:
    """Delete the audit events older than `before`; how many. The log stays append-only for
    everything else: the rows are released (migration 0005) within this transaction only."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        last = conn.execute(
            sa.select(sa.func.max(AuditEvent.id)).where(AuditEvent.at < before)
        ).scalar()
        if last is None:
            return 0
        conn.execute(sa.insert(AuditRelease).values(up_to_id=last))
        gone = conn.execute(
            sa.delete(AuditEvent).where(AuditEvent.id <= last, AuditEvent.at < before)
        ).rowcount
        conn.execute(sa.delete(AuditRelease).where(AuditRelease.up_to_id == last))
    return gone
