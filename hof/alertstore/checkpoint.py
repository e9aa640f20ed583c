"""WAL checkpoints of the SQLite alert store off the write path.

SQLite's default moves the write-ahead log back into the database file inside the commit that
takes the log past 1,000 pages: that commit copies the pages and syncs both files, tens of
milliseconds on a shared disk, and it was a fall's raise or its first level's claim (the
harness's paced falls: one or two a run took 20-40 ms longer, `docs/notify.md`). So every
connection the store's engines open has `wal_autocheckpoint=0`, and one thread a process
checkpoints each open store file in the background (PASSIVE: it never waits for, nor blocks,
a reader or a writer). A process that ends checkpoints on its last connection's close, as
SQLite always does.

Not too often, either: once a checkpoint has copied the whole log back, the next commit
restarts the log from its start and syncs the log's new header (SQLite does, at
`synchronous=NORMAL`, so that a write reordered by the disk cannot corrupt the file). That
sync is cheap on an idle disk and took 100-390 ms while InfluxDB was writing to the same disk
(the harness's paced falls: 3 falls in 320 had their raise's commit take that long, with a
checkpoint every 0.5 s). Every 10 s, a fall's commit is the one that pays it far more rarely
(none in 320), and the log holds what the store writes in 10 s: a few MB in a burst.
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

__all__ = ["CHECKPOINT_EVERY_S", "TICK_S", "checkpoint_once", "watch"]

log = structlog.get_logger(__name__)

CHECKPOINT_EVERY_S = 10.0  # each store file's checkpoint, at most this often
TICK_S = 0.5  # how often the thread looks (a changed CHECKPOINT_EVERY_S counts from the next)
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
    last: dict[Path, float] = {}
    while True:
        time.sleep(TICK_S)
        with _lock:
            paths = list(_paths)
        now = time.monotonic()
        last = {path: at for path, at in last.items() if path in _paths}
        for path in paths:
            if now - last.setdefault(path, now) < CHECKPOINT_EVERY_S:
                continue
            last[path] = now
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
