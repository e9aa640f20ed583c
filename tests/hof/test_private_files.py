"""Files the project writes that hold tenants' data are owner-only: the alert store's SQLite
file (with its WAL) and the logs of `hof demo`'s services (0600; directories made for them 0700).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa

from hof.alertstore import make_engine, migrate
from hof.logs import open_log_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_alert_store_file_and_its_directory_are_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # a usual login's umask: files 0644 unless we say otherwise
    try:
        db = tmp_path / "state" / "alerts" / "alerts.sqlite3"
        url = f"sqlite:///{db}"
        migrate(url)
        engine = make_engine(url)
        with engine.begin() as connection:  # a write, so SQLite makes its -wal and -shm files
            connection.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            connection.execute(sa.text("INSERT INTO probe VALUES (1)"))
            wal = db.with_name(db.name + "-wal")
            shm = db.with_name(db.name + "-shm")
            assert wal.exists()
            assert (_mode(db), _mode(wal), _mode(shm)) == (0o600, 0o600, 0o600)
        engine.dispose()
        assert _mode(db.parent) == 0o700
    finally:
        os.umask(old_umask)


def test_an_older_wider_store_file_is_narrowed(tmp_path: Path) -> None:
    db = tmp_path / "alerts.sqlite3"
    db.touch(mode=0o644)
    db.chmod(0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert _mode(db) == 0o600


def test_log_files_are_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "logs" / "ingest.log"
        with open_log_file(path) as log:
            log.write(b"one line\n")
        with open_log_file(path) as log:  # appends
            log.write(b"two lines\n")
        assert path.read_bytes() == b"one line\ntwo lines\n"
        assert (_mode(path), _mode(path.parent)) == (0o600, 0o700)
        older = tmp_path / "logs" / "alerts.log"
        older.write_text("from before\n")
        older.chmod(0o644)
        open_log_file(older).close()
        assert _mode(older) == 0o600
    finally:
        os.umask(old_umask)


def test_the_demo_writes_its_services_logs_owner_only(tmp_path: Path) -> None:
    from hof.demo import _child

    old_umask = os.umask(0o022)
    try:
        logs = tmp_path / "logs"
        proc = _child("help", ["--help"], logs, {**os.environ, "HOF_STATE_DIR": str(tmp_path)})
        assert proc.wait(timeout=60) == 0
    finally:
        os.umask(old_umask)
    log = logs / "help.log"
    assert b"usage" in log.read_bytes().lower()
    assert (_mode(log), _mode(logs)) == (0o600, 0o700)
