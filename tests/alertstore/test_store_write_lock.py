"""A SQLite writer that comes second to a run of short write transactions (another process's:
the notifier's in a burst of falls) gets the lock within milliseconds of it being free, not
after SQLite's busy handler has slept its way up to 100 ms a try (docs/notify.md, Latency)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from hof.alertstore import make_engine, migrate
from hof.alertstore.engine import WRITE

WRITES = 20


def _write(engine: sa.Engine, hold_s: float = 0.0) -> float:
    """One write transaction (held `hold_s`); the seconds it waited for the lock."""
    started = time.perf_counter()
    with engine.connect() as connection, connection.execution_options(**{WRITE: True}).begin():
        waited = time.perf_counter() - started
        time.sleep(hold_s)
    return waited


def test_a_writer_gets_the_lock_between_anothers_short_transactions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    mine, busy = make_engine(url), make_engine(url)
    stop = threading.Event()

    def other_writer() -> None:  # 4 ms transactions, 0.5 ms apart, until stopped
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            _write(busy, hold_s=0.004)
            time.sleep(0.0005)

    hog = threading.Thread(target=other_writer)
    hog.start()
    try:
        time.sleep(0.05)
        waits = []
        for _ in range(WRITES):
            waits.append(_write(mine))
            time.sleep(0.01)
    finally:
        stop.set()
        hog.join(10)
        mine.dispose()
        busy.dispose()
    # SQLite's own backoff: about 1 s in all, single waits up to a second (this machine).
    assert sum(waits) < 0.6, [round(w * 1000) for w in waits]


def test_a_lock_held_past_the_busy_timeout_still_fails(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    mine = make_engine(url, sqlite_busy_timeout_s=0.2)
    holder = make_engine(url)
    try:
        with holder.connect() as held, held.execution_options(**{WRITE: True}).begin():
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                _write(mine)
            assert 0.15 < time.monotonic() - started < 2.0
        assert _write(mine) < 0.1  # and the connection's busy timeout is as it was
        with mine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
    finally:
        mine.dispose()
        holder.dispose()
