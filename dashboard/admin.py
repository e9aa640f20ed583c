"""What an administrator works with: accounts, API tokens, homes and the audit log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard.db import reading
from hof.registry import ApiToken, AuditEvent, Home, User

__all__ = ["AuditRow", "TokenRow", "audit_events", "home_count", "tokens"]


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str
    role: str
    via: str
    action: str
    home: str | None
    subject: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenRow:
    prefix: str
    name: str
    email: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def audit_events(
    engine: Engine, *, home: str = "", actor: str = "", limit: int = 100, before: int = 0
) -> list[AuditRow]:
    """Newest first; `before` pages back by id."""
    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if home:
        query = query.where(AuditEvent.home == home)
    if actor:
        query = query.where(AuditEvent.actor == actor.strip().lower())
    if before:
        query = query.where(AuditEvent.id < before)
    with reading(engine) as session:
        return [
            AuditRow(
                e.id, e.at, e.actor, e.role, e.via, e.action, e.home, e.subject, dict(e.detail)
            )
            for e in session.scalars(query)
        ]


def tokens(engine: Engine) -> list[TokenRow]:
    with reading(engine) as session:
        rows = session.execute(
            sa.select(ApiToken, User.email)
            .join(User, User.id == ApiToken.user_id)
            .order_by(ApiToken.id.desc())
        ).all()
        return [
            TokenRow(t.prefix, t.name, email, t.created_at, t.last_used_at, t.revoked_at)
            for t, email in rows
        ]


def home_count(engine: Engine) -> int:
    with reading(engine) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Home)) or 0)
