"""Write transactions below SQLAlchemy, for the few statements on a fall's way to a person.

A fall's raise in the rules engine and its first level's claim in the notifier are a handful
of statements each, and SQLAlchemy's Session, Core execution and type processing around them
cost about three quarters of their CPU (`bench/notify/fall_path.py`, docs/notify.md): a
millisecond apiece on an idle machine, several while both cores are busy, which is when a
fall is late. Here those statements run on the pooled DB-API connection itself (sqlite3 or
psycopg), with the values the models' column types would bind and read:

- SQLite: times as SQLAlchemy's DATETIME stores them (naive UTC, "YYYY-MM-DD HH:MM:SS.ffffff"),
  JSON as `json.dumps` text, and BEGIN IMMEDIATE as the engine's write transactions begin;
- PostgreSQL: aware times, JSONB through psycopg's adapter.

SQL is written once with `?` marks (psycopg's `%s` made from it). A unique-index violation is
raised as SQLAlchemy's IntegrityError and any other database error as its DBAPIError, so the
callers' race and outage handling is the one they have for the ORM's path.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from hof.alertstore.engine import begin_immediate, busy_timeout_s

__all__ = ["SLOW_S", "Tx", "write"]

log = structlog.get_logger(__name__)

SLOW_S = 0.05  # a write this long is logged, with where its time went

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


class Tx:
    """One open write transaction: statements, and the backend's way with times and JSON."""

    def __init__(self, cursor: Any, sqlite: bool) -> None:
        self._cursor = cursor
        self.sqlite = sqlite
        self._sql: dict[str, str] = {}

    def _text(self, sql: str) -> str:
        if self.sqlite:
            return sql
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = sql.replace("?", "%s")
        return text

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for a statement that returns none)."""
        self._cursor.execute(self._text(sql), params)
        return list(self._cursor.fetchall()) if self._cursor.description else []

    def marks(self, count: int) -> str:
        """`count` parameter marks, for an IN list."""
        return ", ".join("?" * count)

    def time(self, value: dt.datetime | None) -> Any:
        """A UTC time as the store's UTCDateTime binds it."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the alert store keeps times in UTC")
        if self.sqlite:
            return value.astimezone(dt.UTC).replace(tzinfo=None).strftime(_SQLITE_TIME)
        return value.astimezone(dt.UTC)

    def read_time(self, value: Any) -> dt.datetime | None:
        """A time read back, aware and in UTC."""
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def json(self, value: Any) -> Any:
        """A JSON document as the store's JSON column binds it."""
        if self.sqlite:
            return json.dumps(value)
        from psycopg.types.json import Jsonb

        return Jsonb(value)

    @staticmethod
    def read_json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value


@contextmanager
def write(engine: Engine) -> Iterator[Tx]:
    """A write transaction on one of `engine`'s pooled connections, committed when the block
    ends without an error and rolled back otherwise."""
    dbapi = engine.dialect.dbapi
    assert dbapi is not None
    sqlite = engine.dialect.name == "sqlite"
    began = time.perf_counter()
    fairy = engine.raw_connection()
    try:
        raw = fairy.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            checked_out = time.perf_counter()
            if sqlite:
                busy_s = busy_timeout_s(engine)
                begin_immediate(raw, busy_s, int(busy_s * 1000))
            locked = time.perf_counter()
            yield Tx(cursor, sqlite)
            written = time.perf_counter()
            raw.commit()
            done = time.perf_counter()
            if done - began >= SLOW_S:
                # On a fall's way: say where the time went (a lock held by another writer, the
                # log's restart at the commit, the process itself paused).
                log.warning(
                    "alertstore_slow_write",
                    checkout_ms=round((checked_out - began) * 1000, 1),
                    lock_ms=round((locked - checked_out) * 1000, 1),
                    statements_ms=round((written - locked) * 1000, 1),
                    commit_ms=round((done - written) * 1000, 1),
                )
        except BaseException:
            try:
                raw.rollback()
            except dbapi.Error:
                fairy.invalidate()  # the connection is broken: not back to the pool
            raise
        finally:
            cursor.close()
    except dbapi.IntegrityError as exc:
        raise sa_exc.IntegrityError(None, None, exc) from exc
    except dbapi.Error as exc:
        raise sa_exc.DBAPIError(None, None, exc) from exc
    finally:
        fairy.close()
