"""WAL checkpoints of the SQLite alert store off the write path.

SQLite's default moves the write-ahead log back into the database file inside the commit that
takes the log past 1,000 pages: that commit copies the pages and syncs both files, tens of
milliseconds on a shared disk, and it was a fall's raise or its first level's claim (the
harness's paced falls: one or two a run took 20-40 ms longer, `docs/notify.md`). So every
connection the store's engines open has `wal_autocheckpoint=0`, and one thread a process
checkpoints each open store file in the background (PASSIVE: it never waits for, nor blocks,
a reader or a writer). A process that ends checkpoints on its last connection's close, as
SQLite always does.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import structlog

__all__ = ["CHECKPOINT_EVERY_S", "checkpoint_once", "watch"]

log = structlog.get_logger(__name__)

CHECKPOINT_EVERY_S = 0.5  # the log holds what the store wrote in about this long
_lock = threading.Lock()
_paths: Counter[Path] = Counter()  # store file -> live engines in this process
_thread: threading.Thread | None = None


def checkpoint_once(path: Path) -> tuple[int, int] | None:
    """One PASSIVE checkpoint of `path`: (frames in the log, frames checkpointed), or None
    when the file is gone (never made anew: the URI is read-write, not create)."""
    try:
        # A URI, so that mode=rw applies; the path quoted, as a "?" or "#" in it would end it.
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=0.0)
    except sqlite3.OperationalError:
        return None
    try:
        row = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return (int(row[1]), int(row[2])) if row else None
    except sqlite3.OperationalError:
        return None  # busy (another process's checkpoint, a schema change): next round
    finally:
        db.close()


def _run() -> None:
    while True:
        time.sleep(CHECKPOINT_EVERY_S)
        with _lock:
            paths = list(_paths)
        for path in paths:
            try:
                checkpoint_once(path)
            except Exception:  # a disk error must not end the thread, or the log grows
                log.warning("alertstore_checkpoint_failed", path=str(path), exc_info=True)


def _release(path: Path) -> None:
    with _lock:
        _paths[path] -= 1
        if _paths[path] <= 0:
            del _paths[path]


def watch(owner: object, path: Path) -> None:
    """Checkpoint `path` in the background for as long as `owner` (an engine) lives."""
    global _thread
    with _lock:
        _paths[path] += 1
        if _thread is None:
            _thread = threading.Thread(target=_run, name="hof-sqlite-checkpoint", daemon=True)
            _thread.start()
    weakref.finalize(owner, _release, path)
