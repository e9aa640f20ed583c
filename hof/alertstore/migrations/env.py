"""Alembic's entry point: run the migrations on the connection `migrate_engine` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from hof.alertstore.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run the alert store's migrations with hof.alertstore.migrate(url)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place: later revisions copy-and-move tables.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
