"""Hearing of a raised responder alert from the store itself, not only from MQTT.

The rules engine publishes "raised" on MQTT once its commit is done (hof/alertstore/raised.py),
and the notifier claims that alert's first level at once. In a burst of readings that message
waits its turn in a saturated broker: 23-75 ms (p50) from judged to heard in the harness's
bursts (docs/notify.md). On SQLite the commit itself is a write to the store's log file, which
the kernel can tell this process about as it happens: inotify on the store's directory, then
one indexed read of the alerts past the last one seen. MQTT stays the way for PostgreSQL and
a reopened alert, and both ways lead to the same claim, which makes a job once whoever asks.

Idle, it costs nothing (the thread sleeps in the kernel); each commit by anyone costs one read
of a primary key range. Not on Linux, or not on SQLite: `StoreWatch.run` returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from hof.alertstore.models import Alert
from hof.alertstore.vocabulary import Category, State
from hof.waiting import within

__all__ = ["StoreWatch", "sqlite_file"]

log = structlog.get_logger(__name__)

_IN_MODIFY = 0x00000002
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then `len` bytes of name
_BATCH = 500  # new alerts read at a time
_TOP = sa.select(sa.func.max(Alert.id))
# After a write to the log that showed no new alert, read again after these pauses (s), in case
# the commit was not yet visible; a commit of anything else (the notifier's own claims, say)
# costs these few reads of one index.
_AGAIN_S = (0.005, 0.02, 0.1, 0.5)


def sqlite_file(engine: Engine) -> Path | None:
    """The SQLite file behind `engine`, or None (another database, or in memory)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


class _Inotify:
    """A non-blocking inotify descriptor watching one directory for modified files."""

    def __init__(self, directory: Path) -> None:
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name, use_errno=True)
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(fd, os.fsencode(directory), _IN_MODIFY) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch {directory}")
        self.fd = fd

    def names(self) -> set[str]:
        """The names of the files modified since the last call (the queue drained)."""
        out: set[str] = set()
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            at = 0
            while at + _EVENT.size <= len(data):
                _wd, _mask, _cookie, size = _EVENT.unpack_from(data, at)
                raw = data[at + _EVENT.size : at + _EVENT.size + size]
                out.add(raw.rstrip(b"\0").decode(errors="replace"))
                at += _EVENT.size + size

    def close(self) -> None:
        os.close(self.fd)


class StoreWatch:
    """Calls `on_raised(id)` for each new open alert of `kinds` committed to the SQLite store
    behind `engine`, within a millisecond or two of its commit (and of its own start: alerts
    already there when it starts are the history round's)."""

    def __init__(
        self, engine: Engine, kinds: Sequence[Category], on_raised: Callable[[int], None]
    ) -> None:
        self.engine = engine
        self.kinds = list(kinds)
        self.on_raised = on_raised
        self.path = sqlite_file(engine)
        self._last = 0
        # Set once watching: alerts committed from then on are heard; earlier ones are the
        # history round's.
        self.watching = asyncio.Event()
        self._new = (
            sa.select(Alert.id)
            .where(
                Alert.id > sa.bindparam("last"),
                Alert.category.in_(self.kinds),
                Alert.state == State.OPEN,
            )
            .order_by(Alert.id)
            .limit(_BATCH)
        )

    def _top(self) -> int:
        """The highest alert id committed so far."""
        with self.engine.connect() as conn:
            return int(conn.execute(_TOP).scalar() or 0)

    def _read(self) -> tuple[list[int], bool]:
        """The new open alerts of our kinds past the last seen, and whether any alert (of any
        kind) was committed since; moves the mark past every alert committed so far (reads on
        the primary key)."""
        with self.engine.connect() as conn:
            top = int(conn.execute(_TOP).scalar() or 0)
            if top <= self._last:
                return [], False
            ids = [int(i) for i in conn.execute(self._new, {"last": self._last}).scalars()]
        # An alert committed between the two reads is in `ids` past `top`: the mark never
        # falls behind what was returned, so nothing is heard twice.
        if len(ids) == _BATCH:
            self._last = ids[-1]
        else:
            self._last = max(top, ids[-1]) if ids else top
        return ids, True

    async def run(self) -> None:
        if self.path is None:
            return
        try:
            watch = _Inotify(self.path.parent)
        except (OSError, AttributeError) as exc:  # not Linux, or no inotify here
            log.warning("notify_store_watch_unavailable", error=str(exc))
            return
        loop = asyncio.get_running_loop()
        wal = self.path.name + "-wal"
        changed = asyncio.Event()

        def readable() -> None:
            if wal in watch.names():
                changed.set()

        try:
            self._last = await asyncio.to_thread(self._top)
            loop.add_reader(watch.fd, readable)
            self.watching.set()
            log.info("notify_store_watch", file=str(self.path))
            again = 0  # the re-reads done since a write to the log showed no new alert
            while True:
                told = True  # by a write to the log, not by a pause running out
                if again:
                    try:
                        await within(changed.wait(), _AGAIN_S[again - 1])
                    except TimeoutError:
                        told = False
                else:
                    await changed.wait()
                changed.clear()  # a commit from here on makes another read
                try:
                    ids, new = await asyncio.to_thread(self._read)
                except Exception as exc:  # the store locked or gone: the round still runs
                    log.warning("notify_store_watch_failed", error=str(exc))
                    await asyncio.sleep(0.5)
                    changed.set()
                    continue
                if ids:
                    log.debug("notify_store_heard", alerts=ids)
                for alert_id in ids:
                    self.on_raised(alert_id)
                if len(ids) == _BATCH:
                    changed.set()  # more past this batch
                # A commit is visible once the writer has updated the log's index, after its
                # last write to the log (the event), in a page of shared memory that makes no
                # event. A read that slips in between sees nothing new, and no event would
                # come again: read again a few times, a little later each time.
                if new:
                    again = 0
                elif told:
                    again = 1
                else:
                    again = again + 1 if again < len(_AGAIN_S) else 0
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(watch.fd)
            watch.close()
