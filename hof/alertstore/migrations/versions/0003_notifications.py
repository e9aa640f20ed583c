"""The notifier's tables: escalation jobs, delivery attempts, acknowledgement tokens, its cursor.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Frozen copies of the vocabulary at this revision (a migration must not change with the code).
PURPOSES = ["escalate", "ack_timeout", "notice_acknowledged", "notice_resolved"]
JOB_STATES = ["pending", "claimed", "done", "cancelled"]
ATTEMPT_STATUSES = ["sent", "delivered", "failed"]


def _check(column: str, values: list[str], name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=name)


def _time(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _alert(name: str) -> sa.Column[object]:
    return sa.Column(
        "alert_id",
        BIG_ID,
        sa.ForeignKey("alert.id", ondelete="CASCADE", name=name),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "notify_job",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _alert("fk_notify_job_alert"),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        _time("due_at", nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(200)),
        _time("lease_until"),
        _time("created_at", nullable=False),
        _time("finished_at"),
        sa.Column("note", sa.String(300)),
        _check("purpose", PURPOSES, "ck_notify_job_purpose"),
        _check("state", JOB_STATES, "ck_notify_job_state"),
        sa.UniqueConstraint("alert_id", "purpose", "level", "repeat", name="uq_notify_job_step"),
    )
    op.create_index("ix_notify_job_due", "notify_job", ["state", "due_at"])
    op.create_table(
        "notify_attempt",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _alert("fk_notify_attempt_alert"),
        sa.Column(
            "job_id",
            BIG_ID,
            sa.ForeignKey("notify_job.id", ondelete="SET NULL", name="fk_notify_attempt_job"),
        ),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("recipient_name", sa.String(200), nullable=False),
        sa.Column("recipient_address", sa.String(500), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(1000), nullable=False),
        sa.Column("provider_ref", sa.String(200)),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        _time("at", nullable=False),
        _time("delivered_at"),
        _check("status", ATTEMPT_STATUSES, "ck_notify_attempt_status"),
    )
    op.create_index("ix_notify_attempt_alert", "notify_attempt", ["alert_id", "id"])
    op.create_index("ix_notify_attempt_provider_ref", "notify_attempt", ["provider_ref"])
    op.create_index("ix_notify_attempt_key", "notify_attempt", ["idempotency_key"])
    op.create_table(
        "notify_ack",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _alert("fk_notify_ack_alert"),
        sa.Column("recipient_name", sa.String(200), nullable=False),
        sa.Column("recipient_address", sa.String(500), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("code", sa.String(8), nullable=False),
        _time("created_at", nullable=False),
        _time("expires_at", nullable=False),
        _time("used_at"),
        sa.Column("used_via", sa.String(32)),
        sa.UniqueConstraint("alert_id", "recipient_address", name="uq_notify_ack_recipient"),
    )
    op.create_index("ix_notify_ack_code", "notify_ack", ["recipient_address", "code"])
    op.create_table(
        "notify_cursor",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("history_id", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("notify_cursor", "notify_ack", "notify_attempt", "notify_job"):
        op.drop_table(table)
