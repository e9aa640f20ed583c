"""Engines for the alert store: SQLite (WAL, foreign keys, immediate writes) or PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from hof.alertstore import checkpoint
from hof.settings import Settings

__all__ = ["WRITE", "begin_immediate", "busy_timeout_s", "default_url", "make_engine", "store_url"]

# Execution option a write transaction sets: on SQLite it begins with BEGIN IMMEDIATE, so two
# writers queue on the busy timeout instead of one failing at once with "database is locked"
# when it upgrades a read lock to a write lock mid-transaction.
WRITE = "hof_write"
BEGIN_POLL_S = 0.002  # the longest pause between two tries at SQLite's write lock


# Each SQLite engine's busy timeout, for transactions begun below SQLAlchemy
# (hof.alertstore.direct).
_BUSY_S: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def busy_timeout_s(engine: Engine) -> float:
    """The busy timeout `make_engine` gave a SQLite engine (SQLite's own default of 30 s for
    one made elsewhere)."""
    return _BUSY_S.get(engine, 30.0)


def default_url(state_dir: Path) -> str:
    """The embedded default: a SQLite file under the state directory."""
    path = (state_dir / "alerts" / "alerts.sqlite3").resolve()
    return f"sqlite:///{path}"


def store_url(settings: Settings) -> str:
    """The alert store's URL from the settings (the SQLite default when none is named).

    The password, kept apart in the settings so that it stays secret, goes into the URL here.
    """
    conf = settings.alertstore
    if conf.url is None:
        return default_url(settings.state_dir)
    if conf.password is None:
        return conf.url
    url = sa.make_url(conf.url).set(password=conf.password.get_secret_value())
    return url.render_as_string(hide_password=False)


def _private_file(path: Path) -> None:
    """The store's file owner-only (0600; a directory made for it 0700) before SQLite opens
    it: it holds tenants' alerts, accounts and the audit log. SQLite gives the -wal and -shm
    files it makes the database file's permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if name.stat().st_mode & 0o077:
                name.chmod(0o600)  # left wider by an older version


def _begin_immediate(connection: sa.Connection, busy_s: float, busy_ms: int) -> None:
    """`begin_immediate` on a SQLAlchemy connection ("database is locked" as SQLAlchemy's
    error)."""
    raw = connection.connection.dbapi_connection
    assert raw is not None
    try:
        begin_immediate(raw, busy_s, busy_ms)
    except sqlite3.OperationalError:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # fails again, as SQLAlchemy's error


def begin_immediate(raw: Any, busy_s: float, busy_ms: int) -> None:
    """BEGIN IMMEDIATE on a sqlite3 connection, tried again every millisecond or two while
    another writer holds the lock, for up to the busy timeout (then sqlite3's error).

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... then 100 ms between tries: a writer
    that came second to a run of short transactions (the notifier's, in a burst of falls)
    slept hundreds of milliseconds with the lock free most of that time (docs/notify.md,
    Latency). Only the BEGIN polls; every other statement keeps the busy timeout.
    """
    cursor = raw.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=0")
        deadline = time.monotonic() + busy_s
        pause = BEGIN_POLL_S / 2
        while time.monotonic() < deadline:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            time.sleep(pause)
            pause = min(pause * 2, BEGIN_POLL_S)
        cursor.execute("BEGIN IMMEDIATE")  # locked still: "database is locked"
    finally:
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()


def _wal(cursor: Any, busy_s: float) -> None:
    """Put the database in WAL mode, trying again while another connection holds the lock,
    for up to the busy timeout. Services that start together on a new store each switch it to
    WAL as they connect, and SQLite answers the losers "database is locked" at once, without
    its busy handler: one service in four or so failed to start (9 of 40 trios)."""
    deadline = time.monotonic() + busy_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(BEGIN_POLL_S)


def make_engine(url: str, *, sqlite_busy_timeout_s: float = 30.0, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get WAL mode, foreign keys and a busy timeout."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, **kwargs)
    on_file = bool(parsed.database) and parsed.database != ":memory:"
    if on_file:
        _private_file(Path(str(parsed.database)))
    engine = sa.create_engine(
        url,
        connect_args={"timeout": sqlite_busy_timeout_s, "check_same_thread": False},
        **kwargs,
    )
    busy_ms = int(sqlite_busy_timeout_s * 1000)
    _BUSY_S[engine] = sqlite_busy_timeout_s

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _wal(cursor, sqlite_busy_timeout_s)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode except on power loss
        if on_file:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # hof.alertstore.checkpoint does it
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(WRITE, False):
            _begin_immediate(connection, sqlite_busy_timeout_s, busy_ms)
        else:
            connection.exec_driver_sql("BEGIN")

    if on_file:
        checkpoint.watch(engine, Path(str(parsed.database)).resolve())
    return engine
