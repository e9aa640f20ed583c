"""Upgrade an alert store's database to the newest schema with the Alembic migrations we ship."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from hof.alertstore.engine import WRITE, make_engine

__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "migrate",
    "migrate_engine",
]


# An arbitrary constant naming the alert store's migration lock among PostgreSQL advisory locks.
_LOCK = 0x486F46_A1E7


def alembic_config() -> Config:
    """Alembic's configuration pointing at the migrations inside this package."""
    config = Config()
    config.set_main_option("script_location", "hof.alertstore:migrations")
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when it has never been migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate_engine(engine: Engine, revision: str = "head", *, down: bool = False) -> None:
    """Upgrade (or with `down`, downgrade) the database behind `engine` to `revision`."""
    config = alembic_config()
    with engine.connect() as connection:
        connection = connection.execution_options(**{WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # Services migrate as they start; two starting at once would both try to create
                # the tables. The lock queues the second until the first has committed, and it
                # then finds the database at head. (SQLite queues on BEGIN IMMEDIATE already.)
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
            config.attributes["connection"] = connection
            if down:
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (the newest schema by default)."""
    engine = make_engine(url)
    try:
        migrate_engine(engine, revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at `url` to `revision` (empty by default): for development only."""
    engine = make_engine(url)
    try:
        migrate_engine(engine, revision, down=True)
    finally:
        engine.dispose()
