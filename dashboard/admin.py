"""What an administrator works with: accounts, API tokens, homes, a home's consent and carers,
and the audit log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dashboard import audit
from dashboard.access import Principal
from dashboard.db import reading
from hof.consent import Stream
from hof.registry import ApiToken, AuditEvent, Home, User
from hof.registry.carers import CARER_ROLE, CareRow, care_history
from hof.registry.consent import ConsentIn, consent_history, publish_current, record_consents
from hof.registry.models import HomeConsent
from hof.settings import Settings

__all__ = [
    "HOME_AUDIT_SHOWN",
    "AuditRow",
    "HomeRights",
    "TokenRow",
    "audit_events",
    "home_count",
    "home_rights",
    "record_consent",
    "tokens",
]

HOME_AUDIT_SHOWN = 200


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


@dataclass(frozen=True, slots=True)
class HomeRights:
    """One home as its data-rights page shows it; `address` None: not in the registry (never
    registered, or erased, whose audit is still kept)."""

    home: str
    address: str | None
    patch: str | None
    current: dict[Stream, bool]  # each stream's consent, the unrecorded default where none
    recorded: set[Stream]  # the streams with a decision recorded
    history: list[HomeConsent]  # newest first
    carers: list[CareRow]  # newest first, live and ended
    responders: list[str]  # the active responder accounts that could be named
    events: list[AuditRow]  # newest first, at most HOME_AUDIT_SHOWN
    total_events: int


def home_rights(settings: Settings, engine: Engine, home: str) -> HomeRights:
    """Everything the page of one home's consent, carers and audit shows (blocking)."""
    with reading(engine) as session:
        found = session.get(Home, home)
        address, patch = (found.address, found.patch) if found else (None, None)
        responders = list(
            session.scalars(
                sa.select(User.email)
                .where(User.role == CARER_ROLE, User.active.is_(True))
                .order_by(User.email)
            )
        )
        total = int(
            session.scalar(
                sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.home == home)
            )
            or 0
        )
    history = consent_history(engine, home)
    current = {s: s.value in settings.rights.unrecorded for s in Stream}
    for row in history:
        current[Stream(row.stream)] = row.granted
    return HomeRights(
        home=home,
        address=address,
        patch=patch,
        current=current,
        recorded={Stream(r.stream) for r in history},
        history=history[::-1],
        carers=care_history(engine, home),
        responders=responders,
        events=audit_events(engine, home=home, limit=HOME_AUDIT_SHOWN),
        total_events=total,
    )


def record_consent(settings: Settings, engine: Engine, who: Principal, decision: ConsentIn) -> bool:
    """Record a consent decision as this person, audit it and tell the running services
    through the retained consent topic (blocking). True when published; False when the broker
    could not be reached (recorded all the same: `hof rights sync` publishes it later).
    HofError for a home not in the registry."""
    changed = record_consents(engine, [decision], recorded_by=who.email)
    audit.record(
        engine,
        who,
        "consent",
        home=decision.home,
        detail={
            "stream": decision.stream.value,
            "granted": decision.granted,
            "basis": decision.basis.value,
        },
    )
    try:
        publish_current(settings.mqtt, engine, changed)
    except Exception:  # recorded; `hof rights sync` publishes it once the broker is back
        return False
    return True
