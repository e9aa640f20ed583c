"""The registry's tables as typed SQLAlchemy 2 models, on the alert store's metadata."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hof.alertstore.models import Base, BigId, JSONType, UTCDateTime

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuditRelease",
    "HistoryRelease",
    "Home",
    "HomeCarer",
    "HomeCondition",
    "HomeConsent",
    "User",
    "UserSession",
]


class Home(Base):
    """A property with sensors: who it is for the landlord (reference, address) and where."""

    __tablename__ = "home"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the id in MQTT topics
    reference: Mapped[str] = mapped_column(sa.String(64), unique=True)  # property ref / UPRN
    address: Mapped[str] = mapped_column(sa.String(300))
    postcode: Mapped[str] = mapped_column(sa.String(16))
    estate: Mapped[str] = mapped_column(sa.String(100))
    ward: Mapped[str] = mapped_column(sa.String(100))
    patch: Mapped[str] = mapped_column(sa.String(100))
    # The tenant consented to telecare: health data (falls, activity) is collected for carers.
    telecare: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_home_patch", "patch"),
        sa.Index("ix_home_estate", "estate"),
        sa.Index("ix_home_ward", "ward"),
        sa.Index("ix_home_postcode", "postcode"),
    )


class HomeCondition(Base):
    """A home's need, summarised for the estate overview; refreshed by the dashboard."""

    __tablename__ = "home_condition"

    home: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("home.id", ondelete="CASCADE"), primary_key=True
    )
    need: Mapped[float] = mapped_column(sa.Float, default=0.0)
    risk: Mapped[str] = mapped_column(sa.String(16), default="none")  # none/low/medium/high
    damp_cases: Mapped[int] = mapped_column(sa.Integer, default=0)
    damp_worst: Mapped[str | None] = mapped_column(sa.String(32))
    overdue_cases: Mapped[int] = mapped_column(sa.Integer, default=0)
    mould_index: Mapped[float | None] = mapped_column(sa.Float)
    mould_room: Mapped[str | None] = mapped_column(sa.String(64))
    cold_hours: Mapped[float] = mapped_column(sa.Float, default=0.0)  # last 7 days
    hot_hours: Mapped[float] = mapped_column(sa.Float, default=0.0)  # last 7 days
    heat_alerts: Mapped[int] = mapped_column(sa.Integer, default=0)
    cold_alerts: Mapped[int] = mapped_column(sa.Integer, default=0)
    devices_offline: Mapped[int] = mapped_column(sa.Integer, default=0)
    low_battery: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_reading_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_home_condition_need", "need"),)


class User(Base):
    """A dashboard account: a housing officer, a responder or an admin, with their patches."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)  # stored lower-case
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(32))
    patches: Mapped[list[str]] = mapped_column(JSONType)  # ["*"] means every patch
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('housing_officer', 'responder', 'admin')", name="ck_app_user_role"
        ),
    )


class UserSession(Base):
    """A signed-in browser: only the SHA-256 of its cookie is kept."""

    __tablename__ = "user_session"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("app_user.id", ondelete="CASCADE", name="fk_user_session_user")
    )
    csrf: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_user_session_user", "user_id"),)


class ApiToken(Base):
    """A token a landlord's own system calls the API with; it acts as its user, nothing more."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("app_user.id", ondelete="CASCADE", name="fk_api_token_user")
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    prefix: Mapped[str] = mapped_column(sa.String(16))  # shown in lists to tell tokens apart
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who viewed or exported a tenant's data, or changed something. Append-only."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(320))
    role: Mapped[str] = mapped_column(sa.String(32))
    via: Mapped[str] = mapped_column(sa.String(16))  # page / api / cli
    action: Mapped[str] = mapped_column(sa.String(64))
    home: Mapped[str | None] = mapped_column(sa.String(64))
    subject: Mapped[str | None] = mapped_column(sa.String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        sa.Index("ix_audit_event_home", "home", "id"),
        sa.Index("ix_audit_event_actor", "actor", "id"),
    )


class HomeConsent(Base):
    """One consent decision for a home and data stream: granted or withdrawn, on what lawful
    basis, by whom, when. Appended, never changed (but `purged_at`): the current consent is a
    stream's latest row, and the rows before it are its history."""

    __tablename__ = "home_consent"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    home: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("home.id", ondelete="CASCADE", name="fk_home_consent_home")
    )
    stream: Mapped[str] = mapped_column(sa.String(32))
    granted: Mapped[bool] = mapped_column(sa.Boolean)
    basis: Mapped[str] = mapped_column(sa.String(32))
    recorded_by: Mapped[str] = mapped_column(sa.String(320))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    # When what was held under a withdrawn consent was deleted (None: not yet).
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint(
            "stream IN ('environment', 'activity', 'telecare')", name="ck_home_consent_stream"
        ),
        sa.CheckConstraint(
            "basis IN ('consent', 'contract', 'legal_obligation', 'vital_interests', "
            "'public_task', 'legitimate_interests')",
            name="ck_home_consent_basis",
        ),
        sa.Index("ix_home_consent_home", "home", "stream", "id"),
    )


class HistoryRelease(Base):
    """An alert whose append-only history may be deleted in this transaction (an erasure, or
    the expiry of an old case); written and removed within that transaction."""

    __tablename__ = "history_release"

    alert_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)


class AuditRelease(Base):
    """Audit events up to this id may be deleted in this transaction (the retention job's
    expiry of the audit log); written and removed within that transaction."""

    __tablename__ = "audit_release"

    up_to_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)


class HomeCarer(Base):
    """A named carer: an account with a care relationship to one home, who sees its health data
    (falls, help calls, activity) wherever the home's patch is. Ended, never deleted, so who
    could see the home and when stays on record; the live ones have no `ended_at`."""

    __tablename__ = "home_carer"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    home: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("home.id", ondelete="CASCADE", name="fk_home_carer_home")
    )
    user_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("app_user.id", ondelete="CASCADE", name="fk_home_carer_user")
    )
    relationship: Mapped[str] = mapped_column(sa.String(100))
    recorded_by: Mapped[str] = mapped_column(sa.String(320))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(sa.String(320))
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_home_carer_home", "home", "id"),
        sa.Index("ix_home_carer_user", "user_id", "ended_at"),
    )
