"""The alert store's tables as typed SQLAlchemy 2 models: alerts (cases) and their history."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hof.alertstore.vocabulary import (
    Action,
    AssigneeKind,
    Audience,
    Category,
    Outcome,
    Severity,
    State,
)

__all__ = [
    "OPEN_WHERE",
    "Alert",
    "AlertHistory",
    "AttemptStatus",
    "Base",
    "JobPurpose",
    "JobState",
    "NotifyAck",
    "NotifyAttempt",
    "NotifyCursor",
    "NotifyJob",
    "UTCDateTime",
    "check_in",
    "open_alert_key",
]


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone, so we restore it)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the alert store keeps times in UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def _enum(kind: type[StrEnum]) -> sa.Enum:
    # Plain VARCHAR plus a named CHECK (below), identical on SQLite and PostgreSQL and easy to
    # extend in a migration, instead of a PostgreSQL ENUM type.
    return sa.Enum(
        kind,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def check_in(column: str, kind: type[StrEnum], name: str) -> sa.CheckConstraint:
    """A named CHECK that `column` holds one of the enum's values (NULL passes)."""
    values = ", ".join(f"'{m.value}'" for m in kind)
    return sa.CheckConstraint(f"{column} IN ({values})", name=name)


def open_alert_key() -> list[Any]:
    """The columns of the one-open-alert-per-(home, rule, room) rule; a NULL room is ''."""
    # A plain unique index treats NULLs as distinct, which would allow two open whole-home
    # alerts; coalescing makes "no room" one value on both SQLite and PostgreSQL.
    return [Alert.home, Alert.rule, sa.func.coalesce(Alert.room, "")]


class Base(DeclarativeBase):
    pass


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid is INTEGER


class Alert(Base):
    """One case: a condition in a home (and room) from one rule, and what is being done about it."""

    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    home: Mapped[str] = mapped_column(sa.String(64))
    room: Mapped[str | None] = mapped_column(sa.String(64))
    rule: Mapped[str] = mapped_column(sa.String(100))
    rule_version: Mapped[int] = mapped_column(sa.Integer)
    category: Mapped[Category] = mapped_column(_enum(Category))
    audience: Mapped[Audience] = mapped_column(_enum(Audience))
    severity: Mapped[Severity] = mapped_column(_enum(Severity))
    state: Mapped[State] = mapped_column(_enum(State))
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    first_raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType)
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(200))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    assigned_to: Mapped[str | None] = mapped_column(sa.String(200))
    assignee_kind: Mapped[AssigneeKind | None] = mapped_column(_enum(AssigneeKind))
    assigned_by: Mapped[str | None] = mapped_column(sa.String(200))
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(200))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reopen_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Awaab's Law: the case's clocks (NULL when the category and severity carry none).
    clock_class: Mapped[str | None] = mapped_column(sa.String(16))
    became_aware_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    investigation_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    investigation_ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    summary_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    summary_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    works_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    works_done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    further_works_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    further_works_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        check_in("category", Category, "ck_alert_category"),
        check_in("audience", Audience, "ck_alert_audience"),
        check_in("severity", Severity, "ck_alert_severity"),
        check_in("state", State, "ck_alert_state"),
        check_in("outcome", Outcome, "ck_alert_outcome"),
        check_in("assignee_kind", AssigneeKind, "ck_alert_assignee_kind"),
        sa.CheckConstraint(
            "clock_class IN ('emergency', 'significant')", name="ck_alert_clock_class"
        ),
        # A resolved alert has an outcome; an unresolved one has none.
        sa.CheckConstraint(
            "(state = 'resolved') = (outcome IS NOT NULL)", name="ck_alert_outcome_when_resolved"
        ),
        sa.Index("ix_alert_state_severity", "state", "severity"),
        sa.Index("ix_alert_home", "home"),
        sa.Index("ix_alert_key_resolved", "home", "rule", "room", "resolved_at"),
    )


# One open alert per (home, rule, room): a partial unique index, so the database itself refuses a
# second open row even when two workers race. "Open" means anything not yet resolved.
OPEN_WHERE = sa.text("state <> 'resolved'")
sa.Index(
    "uq_alert_open",
    *open_alert_key(),
    unique=True,
    sqlite_where=OPEN_WHERE,
    postgresql_where=OPEN_WHERE,
)


class AlertHistory(Base):
    """One change to an alert: who, what, when. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "alert_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("alert.id", ondelete="RESTRICT", name="fk_alert_history_alert")
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[Action] = mapped_column(_enum(Action))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        check_in("action", Action, "ck_alert_history_action"),
        sa.Index("ix_alert_history_alert", "alert_id", "id"),
    )


# -- the notifier's tables (notify/): escalation jobs, delivery attempts, acknowledgement tokens --


class JobPurpose(StrEnum):
    """What an escalation job does when it comes due."""

    ESCALATE = "escalate"  # send one level of the alert's policy (only while the alert is open)
    ACK_TIMEOUT = "ack_timeout"  # acknowledged but not resolved in time: tell people again
    NOTICE_ACKNOWLEDGED = "notice_acknowledged"  # tell the home's devices help is coming
    NOTICE_RESOLVED = "notice_resolved"  # tell the home's devices the alert is closed


class JobState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"  # a notifier holds it until `lease_until`; then anyone may take it
    DONE = "done"
    CANCELLED = "cancelled"


class AttemptStatus(StrEnum):
    """One delivery attempt's outcome (the channel adapters' `DeliveryStatus` values)."""

    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class NotifyJob(Base):
    """One step of one alert's escalation, due at a time; claimed under a lease, done once."""

    __tablename__ = "notify_job"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("alert.id", ondelete="CASCADE", name="fk_notify_job_alert")
    )
    purpose: Mapped[JobPurpose] = mapped_column(_enum(JobPurpose))
    level: Mapped[int] = mapped_column(sa.Integer)
    repeat: Mapped[int] = mapped_column(sa.Integer)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    state: Mapped[JobState] = mapped_column(_enum(JobState))
    owner: Mapped[str | None] = mapped_column(sa.String(200))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(sa.String(300))

    __table_args__ = (
        check_in("purpose", JobPurpose, "ck_notify_job_purpose"),
        check_in("state", JobState, "ck_notify_job_state"),
        # A level is never created twice, however many notifiers discover the alert.
        sa.UniqueConstraint("alert_id", "purpose", "level", "repeat", name="uq_notify_job_step"),
        sa.Index("ix_notify_job_due", "state", "due_at"),
    )


class NotifyAttempt(Base):
    """One delivery attempt: which channel, to whom, what happened. What screens show."""

    __tablename__ = "notify_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("alert.id", ondelete="CASCADE", name="fk_notify_attempt_alert")
    )
    job_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("notify_job.id", ondelete="SET NULL", name="fk_notify_attempt_job")
    )
    level: Mapped[int] = mapped_column(sa.Integer)
    repeat: Mapped[int] = mapped_column(sa.Integer)
    channel: Mapped[str] = mapped_column(sa.String(32))
    recipient_name: Mapped[str] = mapped_column(sa.String(200))
    recipient_address: Mapped[str] = mapped_column(sa.String(500))
    attempt: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[AttemptStatus] = mapped_column(_enum(AttemptStatus))
    detail: Mapped[str] = mapped_column(sa.String(1000))
    provider_ref: Mapped[str | None] = mapped_column(sa.String(200))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        check_in("status", AttemptStatus, "ck_notify_attempt_status"),
        sa.Index("ix_notify_attempt_alert", "alert_id", "id"),
        sa.Index("ix_notify_attempt_provider_ref", "provider_ref"),
        sa.Index("ix_notify_attempt_key", "idempotency_key"),
    )


class NotifyAck(Base):
    """How one recipient may acknowledge one alert: a link token (hash only) and an SMS code."""

    __tablename__ = "notify_ack"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("alert.id", ondelete="CASCADE", name="fk_notify_ack_alert")
    )
    recipient_name: Mapped[str] = mapped_column(sa.String(200))
    recipient_address: Mapped[str] = mapped_column(sa.String(500))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    code: Mapped[str] = mapped_column(sa.String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    used_via: Mapped[str | None] = mapped_column(sa.String(32))

    __table_args__ = (
        sa.UniqueConstraint("alert_id", "recipient_address", name="uq_notify_ack_recipient"),
        sa.Index("ix_notify_ack_code", "recipient_address", "code"),
    )


class NotifyCursor(Base):
    """How far a notifier has read the alert history (its ids only grow)."""

    __tablename__ = "notify_cursor"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    history_id: Mapped[int] = mapped_column(sa.BigInteger)
