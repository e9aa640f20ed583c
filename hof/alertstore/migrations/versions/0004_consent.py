"""Tenants' data rights: consent per home and data stream (history kept), and the one way an
alert's append-only history may be deleted (erasure, and the expiry of old cases).

A home flagged `telecare` in the registry had consented to telecare: its consent to the activity
and telecare streams is recorded from that flag.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Frozen copies of the vocabulary at this revision.
STREAMS = ["environment", "activity", "telecare"]
BASES = [
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
]


def _check(column: str, values: list[str], name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=name)


# alert_history stays append-only, except for the rows of an alert named in `history_release`
# within the same transaction: what an erasure or the expiry of an old case writes first.
RELEASED = "EXISTS (SELECT 1 FROM history_release r WHERE r.alert_id = OLD.alert_id)"
SQLITE_TRIGGERS = [
    "DROP TRIGGER alert_history_no_delete",
    f"""CREATE TRIGGER alert_history_no_delete BEFORE DELETE ON alert_history
       WHEN NOT {RELEASED}
       BEGIN SELECT RAISE(ABORT, 'alert_history is append-only: DELETE refused'); END""",
]
SQLITE_TRIGGERS_DOWN = [
    "DROP TRIGGER alert_history_no_delete",
    """CREATE TRIGGER alert_history_no_delete BEFORE DELETE ON alert_history
       BEGIN SELECT RAISE(ABORT, 'alert_history is append-only: DELETE refused'); END""",
]
POSTGRES_FUNCTION = """CREATE OR REPLACE FUNCTION alert_history_append_only() RETURNS trigger
   LANGUAGE plpgsql AS $fn$
   BEGIN
     IF TG_OP = 'DELETE' AND {released} THEN
       RETURN OLD;
     END IF;
     RAISE EXCEPTION USING
       MESSAGE = 'alert_history is append-only: ' || TG_OP || ' refused',
       ERRCODE = 'insufficient_privilege';
   END
   $fn$"""


def upgrade() -> None:
    op.create_table(
        "home_consent",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "home",
            sa.String(64),
            sa.ForeignKey("home.id", ondelete="CASCADE", name="fk_home_consent_home"),
            nullable=False,
        ),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("basis", sa.String(32), nullable=False),
        sa.Column("recorded_by", sa.String(320), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        # When what was held under a withdrawn consent was deleted (NULL: not yet).
        sa.Column("purged_at", sa.DateTime(timezone=True)),
        _check("stream", STREAMS, "ck_home_consent_stream"),
        _check("basis", BASES, "ck_home_consent_basis"),
    )
    op.create_index("ix_home_consent_home", "home_consent", ["home", "stream", "id"])
    op.create_table(
        "history_release",
        sa.Column("alert_id", BIG_ID, primary_key=True),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION.format(released=RELEASED))
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    now = dt.datetime.now(dt.UTC)
    homes = bind.execute(sa.text("SELECT id FROM home WHERE telecare")).scalars().all()
    consent = sa.table(
        "home_consent",
        sa.column("home", sa.String),
        sa.column("stream", sa.String),
        sa.column("granted", sa.Boolean),
        sa.column("basis", sa.String),
        sa.column("recorded_by", sa.String),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
        sa.column("note", sa.String),
    )
    rows = [
        {
            "home": home,
            "stream": stream,
            "granted": True,
            "basis": "consent",
            "recorded_by": "migration 0004",
            "recorded_at": now,
            "note": "from the registry's telecare flag",
        }
        for home in homes
        for stream in ("activity", "telecare")
    ]
    if rows:
        op.bulk_insert(consent, rows)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION.format(released="FALSE"))
    else:
        for statement in SQLITE_TRIGGERS_DOWN:
            op.execute(statement)
    op.drop_table("history_release")
    op.drop_table("home_consent")
