"""Named carers: an account's care relationship to one home (who recorded it, when, and when
it ended), through which it sees the home's health data outside its patches.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "home_carer",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "home",
            sa.String(64),
            sa.ForeignKey("home.id", ondelete="CASCADE", name="fk_home_carer_home"),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            BIG_ID,
            sa.ForeignKey("app_user.id", ondelete="CASCADE", name="fk_home_carer_user"),
            nullable=False,
        ),
        sa.Column("relationship", sa.String(100), nullable=False),
        sa.Column("recorded_by", sa.String(320), nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.Column("ended_by", sa.String(320), nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
    )
    op.create_index("ix_home_carer_home", "home_carer", ["home", "id"])
    op.create_index("ix_home_carer_user", "home_carer", ["user_id", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_home_carer_user", table_name="home_carer")
    op.drop_index("ix_home_carer_home", table_name="home_carer")
    op.drop_table("home_carer")
