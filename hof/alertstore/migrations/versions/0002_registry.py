"""The registry: homes, their need summary, dashboard accounts, sessions, API tokens, audit log.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _time(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END""",
]
POSTGRES_APPEND_ONLY = [
    """CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
       BEGIN
         RAISE EXCEPTION USING
           MESSAGE = 'audit_event is append-only: ' || TG_OP || ' refused',
           ERRCODE = 'insufficient_privilege';
       END
       $fn$""",
    """CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "home",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("reference", sa.String(64), nullable=False, unique=True),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("postcode", sa.String(16), nullable=False),
        sa.Column("estate", sa.String(100), nullable=False),
        sa.Column("ward", sa.String(100), nullable=False),
        sa.Column("patch", sa.String(100), nullable=False),
        sa.Column("telecare", sa.Boolean, nullable=False),
        _time("created_at", nullable=False),
    )
    for column in ("patch", "estate", "ward", "postcode"):
        op.create_index(f"ix_home_{column}", "home", [column])
    op.create_table(
        "home_condition",
        sa.Column(
            "home", sa.String(64), sa.ForeignKey("home.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("need", sa.Float, nullable=False),
        sa.Column("risk", sa.String(16), nullable=False),
        sa.Column("damp_cases", sa.Integer, nullable=False),
        sa.Column("damp_worst", sa.String(32)),
        sa.Column("overdue_cases", sa.Integer, nullable=False),
        sa.Column("mould_index", sa.Float),
        sa.Column("mould_room", sa.String(64)),
        sa.Column("cold_hours", sa.Float, nullable=False),
        sa.Column("hot_hours", sa.Float, nullable=False),
        sa.Column("heat_alerts", sa.Integer, nullable=False),
        sa.Column("cold_alerts", sa.Integer, nullable=False),
        sa.Column("devices_offline", sa.Integer, nullable=False),
        sa.Column("low_battery", sa.Integer, nullable=False),
        _time("last_reading_at"),
        _time("refreshed_at", nullable=False),
    )
    op.create_index("ix_home_condition_need", "home_condition", ["need"])
    op.create_table(
        "app_user",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("patches", JSON, nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        _time("locked_until"),
        _time("created_at", nullable=False),
        _time("last_login_at"),
        sa.CheckConstraint(
            "role IN ('housing_officer', 'responder', 'admin')", name="ck_app_user_role"
        ),
    )
    op.create_table(
        "user_session",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            BIG_ID,
            sa.ForeignKey("app_user.id", ondelete="CASCADE", name="fk_user_session_user"),
            nullable=False,
        ),
        sa.Column("csrf", sa.String(64), nullable=False),
        _time("created_at", nullable=False),
        _time("expires_at", nullable=False),
        _time("last_seen_at", nullable=False),
    )
    op.create_index("ix_user_session_user", "user_session", ["user_id"])
    op.create_table(
        "api_token",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id",
            BIG_ID,
            sa.ForeignKey("app_user.id", ondelete="CASCADE", name="fk_api_token_user"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _time("created_at", nullable=False),
        _time("last_used_at"),
        _time("revoked_at"),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _time("at", nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("home", sa.String(64)),
        sa.Column("subject", sa.String(200)),
        sa.Column("detail", JSON, nullable=False),
    )
    op.create_index("ix_audit_event_home", "audit_event", ["home", "id"])
    op.create_index("ix_audit_event_actor", "audit_event", ["actor", "id"])
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_APPEND_ONLY if dialect == "postgresql" else SQLITE_APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("audit_event")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_event_append_only()")
    for table in ("api_token", "user_session", "app_user", "home_condition", "home"):
        op.drop_table(table)
