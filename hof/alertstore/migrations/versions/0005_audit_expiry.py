"""The audit log's expiry: append-only still, except for the rows a transaction releases first
in `audit_release` (every row up to an id), which only the retention job writes.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

RELEASED = "EXISTS (SELECT 1 FROM audit_release r WHERE OLD.id <= r.up_to_id)"
SQLITE_TRIGGERS = [
    "DROP TRIGGER audit_event_no_delete",
    f"""CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
       WHEN NOT {RELEASED}
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END""",
]
SQLITE_TRIGGERS_DOWN = [
    "DROP TRIGGER audit_event_no_delete",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END""",
]
POSTGRES_FUNCTION = """CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger
   LANGUAGE plpgsql AS $fn$
   BEGIN
     IF TG_OP = 'DELETE' THEN
       IF {released} THEN
         RETURN OLD;
       END IF;
     END IF;
     RAISE EXCEPTION USING
       MESSAGE = 'audit_event is append-only: ' || TG_OP || ' refused',
       ERRCODE = 'insufficient_privilege';
   END
   $fn$"""


def upgrade() -> None:
    op.create_table("audit_release", sa.Column("up_to_id", BIG_ID, primary_key=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION.format(released=RELEASED))
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION.format(released="FALSE"))
    else:
        for statement in SQLITE_TRIGGERS_DOWN:
            op.execute(statement)
    op.drop_table("audit_release")
