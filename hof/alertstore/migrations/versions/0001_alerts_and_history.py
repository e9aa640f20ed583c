"""Alerts (cases with Awaab's Law clocks) and their append-only history.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copies of the vocabulary at this revision: a migration must not change when the code
# does. A later revision that adds a category replaces the CHECK.
CATEGORIES = [
    "damp_mould",
    "cold",
    "heat",
    "ventilation",
    "fall",
    "button",
    "inactivity",
    "leak",
    "smoke",
    "device_offline",
    "low_battery",
    "tamper",
]
AUDIENCES = ["housing_officer", "responder", "both"]
SEVERITIES = ["watch", "significant", "severe", "emergency"]
STATES = ["open", "acknowledged", "assigned", "resolved"]
OUTCOMES = [
    "fixed",
    "false_alarm",
    "tenant_declined",
    "no_access",
    "withdrawn",
    "cleared",
    "duplicate",
    "other",
]
ASSIGNEE_KINDS = ["person", "team"]
ACTIONS = [
    "raised",
    "updated",
    "acknowledged",
    "assigned",
    "note",
    "resolved",
    "cleared",
    "withdrawn",
    "reopened",
    "confirmed",
    "duty",
]


def _check(column: str, values: list[str], name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=name)


def _time(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(JSONB(), "postgresql")

SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER alert_history_no_update BEFORE UPDATE ON alert_history
       BEGIN SELECT RAISE(ABORT, 'alert_history is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER alert_history_no_delete BEFORE DELETE ON alert_history
       BEGIN SELECT RAISE(ABORT, 'alert_history is append-only: DELETE refused'); END""",
]
POSTGRES_APPEND_ONLY = [
    """CREATE FUNCTION alert_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
       BEGIN
         RAISE EXCEPTION USING
           MESSAGE = 'alert_history is append-only: ' || TG_OP || ' refused',
           ERRCODE = 'insufficient_privilege';
       END
       $fn$""",
    """CREATE TRIGGER alert_history_no_change BEFORE UPDATE OR DELETE ON alert_history
       FOR EACH ROW EXECUTE FUNCTION alert_history_append_only()""",
    """CREATE TRIGGER alert_history_no_truncate BEFORE TRUNCATE ON alert_history
       FOR EACH STATEMENT EXECUTE FUNCTION alert_history_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("home", sa.String(64), nullable=False),
        sa.Column("room", sa.String(64), nullable=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("rule_version", sa.Integer, nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("audience", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        _time("first_raised_at", nullable=False),
        _time("last_seen_at", nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("acknowledged_by", sa.String(200)),
        _time("acknowledged_at"),
        sa.Column("assigned_to", sa.String(200)),
        sa.Column("assignee_kind", sa.String(32)),
        sa.Column("assigned_by", sa.String(200)),
        _time("assigned_at"),
        sa.Column("resolved_by", sa.String(200)),
        _time("resolved_at"),
        sa.Column("reopen_count", sa.Integer, nullable=False),
        sa.Column("clock_class", sa.String(16)),
        _time("became_aware_at"),
        _time("investigation_due"),
        _time("investigation_ended_at"),
        _time("summary_due"),
        _time("summary_sent_at"),
        _time("works_due"),
        _time("works_done_at"),
        _time("further_works_due"),
        _time("further_works_started_at"),
        _check("category", CATEGORIES, "ck_alert_category"),
        _check("audience", AUDIENCES, "ck_alert_audience"),
        _check("severity", SEVERITIES, "ck_alert_severity"),
        _check("state", STATES, "ck_alert_state"),
        _check("outcome", OUTCOMES, "ck_alert_outcome"),
        _check("assignee_kind", ASSIGNEE_KINDS, "ck_alert_assignee_kind"),
        _check("clock_class", ["emergency", "significant"], "ck_alert_clock_class"),
        sa.CheckConstraint(
            "(state = 'resolved') = (outcome IS NOT NULL)", name="ck_alert_outcome_when_resolved"
        ),
    )
    op.create_index("ix_alert_state_severity", "alert", ["state", "severity"])
    op.create_index("ix_alert_home", "alert", ["home"])
    op.create_index("ix_alert_key_resolved", "alert", ["home", "rule", "room", "resolved_at"])
    open_only = sa.text("state <> 'resolved'")
    op.create_index(
        "uq_alert_open",
        "alert",
        ["home", "rule", sa.text("coalesce(room, '')")],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )
    op.create_table(
        "alert_history",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "alert_id",
            BIG_ID,
            sa.ForeignKey("alert.id", ondelete="RESTRICT", name="fk_alert_history_alert"),
            nullable=False,
        ),
        _time("at", nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        _check("action", ACTIONS, "ck_alert_history_action"),
    )
    op.create_index("ix_alert_history_alert", "alert_history", ["alert_id", "id"])
    dialect = op.get_bind().dialect.name
    statements = POSTGRES_APPEND_ONLY if dialect == "postgresql" else SQLITE_APPEND_ONLY
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE alert_history")
        op.execute("DROP FUNCTION alert_history_append_only()")
    else:
        op.drop_table("alert_history")
    op.drop_table("alert")
