"""The SQLite store's write-ahead log is checkpointed in the background, never in a commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from hof.alertstore import checkpoint
from hof.alertstore.engine import WRITE, make_engine


def test_no_commit_checkpoints_the_log(tmp_path: Path) -> None:
    # SQLite's default (1,000 pages) makes the commit that crosses it copy the log back and
    # sync both files: tens of ms inside a fall's raise or claim.
    engine = make_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    engine.dispose()


def test_the_log_is_checkpointed_in_the_background_and_stays_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "CHECKPOINT_EVERY_S", 0.5)  # runs of writes 1.5 s apart
    path = tmp_path / "a.sqlite3"
    wal = path.with_name(path.name + "-wal")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        conn.exec_driver_sql("CREATE TABLE scratch (id INTEGER PRIMARY KEY, body BLOB)")
    grown = []
    for _ in range(6):  # runs of writes with quiet moments between, as a store sees them
        before = wal.stat().st_size
        for _ in range(100):
            with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
                conn.execute(sa.text("INSERT INTO scratch (body) VALUES (:b)"), {"b": b"x" * 3000})
        grown.append(wal.stat().st_size - before)
        time.sleep(3 * checkpoint.CHECKPOINT_EVERY_S + checkpoint.TICK_S)
    frames, done = checkpoint.checkpoint_once(path) or (0, 0)
    assert frames == done  # everything in the log is in the database file
    # Never checkpointed, the log would hold every run's pages (and SQLite's own checkpoint
    # in a commit would wait for 1,000 of them, about three runs); checkpointed in the quiet
    # moments it is reset and reused, so the file stays about one run's size.
    one_run = grown[0]
    assert one_run > 0
    assert wal.stat().st_size < 2 * one_run, (wal.stat().st_size, grown)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM scratch").scalar() == 600
    engine.dispose()


def test_a_store_removed_is_not_made_again(tmp_path: Path) -> None:
    path = tmp_path / "gone.sqlite3"
    assert checkpoint.checkpoint_once(path) is None
    assert not path.exists()


def test_a_store_whose_path_has_uri_characters_is_checkpointed(tmp_path: Path) -> None:
    path = tmp_path / "odd?name#1%41.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY)")
    assert checkpoint.checkpoint_once(path) is not None
    db.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no stray file made


def _log_salt(wal: Path) -> bytes:
    """The log header's salts: SQLite changes them each time a commit restarts the log."""
    with wal.open("rb") as f:
        return f.read(24)[16:24]


def test_the_log_is_restarted_seldom_by_a_steady_trickle_of_commits(tmp_path: Path) -> None:
    """A commit that restarts the log syncs its header: 100-390 ms on a disk InfluxDB is
    writing to, in a fall's raise (docs/notify.md). With a commit every 50 ms for 3 s, as a
    paced run's falls and sends make them, at most one commit may restart the log (it was one
    in ten, with a checkpoint every 0.5 s)."""
    path = tmp_path / "a.sqlite3"
    wal = path.with_name(path.name + "-wal")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        conn.exec_driver_sql("CREATE TABLE scratch (id INTEGER PRIMARY KEY, body BLOB)")
    restarts, salt = 0, _log_salt(wal)
    for _ in range(60):
        with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            conn.execute(sa.text("INSERT INTO scratch (body) VALUES (:b)"), {"b": b"x" * 300})
        now = _log_salt(wal)
        restarts += now != salt
        salt = now
        time.sleep(0.05)
    assert restarts <= 1
    engine.dispose()
