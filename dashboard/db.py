"""Sessions on the platform database that say up front whether they write.

On SQLite a writing transaction must start as BEGIN IMMEDIATE (the alert store's WRITE option),
or a read that later writes can fail at once when another writer got in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hof.alertstore.engine import WRITE

__all__ = ["reading", "writing"]


@contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    with engine.connect() as connection:
        connection = connection.execution_options(**{WRITE: True})
        with Session(bind=connection, expire_on_commit=False) as session, session.begin():
            yield session


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    with (
        engine.connect() as connection,
        Session(bind=connection, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session
