"""The notifier's store writes that may wait a moment, gathered into one transaction.

A level's attempt rows, its job's finish and the acknowledgement tokens its people need are
written in batches: whatever was queued while the last batch was being written goes in the
next one, and a write no send waits for (an attempt row, a finish) lingers a moment for others
to join it. In a burst of falls they were a write transaction each (about four a fall), and on
SQLite every one holds the file's write lock, which the rules engine needs to raise the next
alert. None of them is on the way to the first POST (the round that claims a job writes on its
own), and the queue's order is kept, so a job's attempt rows are in the store no later than
its finish. A write that fails fails alone: its batch is made again one write at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hof.alertstore import notifications as n
from hof.waiting import within

__all__ = ["WriteQueue"]

log = structlog.get_logger(__name__)

T = TypeVar("T")
Write = Callable[[Session], Any]
# (ok, value or the exception) for each write of a batch, in order
Outcomes = list[tuple[bool, Any]]
MAX_BATCH = 500
LINGER_S = 0.05  # how long a write nobody waits on may wait for company


class WriteQueue:
    """Writes queued from the loop, made in batches by `run()` in a thread (`in_thread`)."""

    def __init__(
        self,
        engine: Engine,
        in_thread: Callable[[Callable[[list[Write]], Outcomes], list[Write]], Awaitable[Outcomes]],
    ) -> None:
        self.engine = engine
        self._in_thread = in_thread
        self._queued: list[tuple[Write, asyncio.Future[Any]]] = []
        self._more = asyncio.Event()
        self._urgent = asyncio.Event()
        self._closing = False
        self.batches = 0  # transactions written (for tests and logs)

    async def write(self, fn: Callable[[Session], T], *, urgent: bool = False) -> T:
        """Queue `fn(session)` for a batch and wait for its result: the next batch when
        `urgent` (a send waits for it), else within `LINGER_S`. A caller cancelled meanwhile
        leaves its write queued: it is made all the same."""
        if self._closing:
            raise RuntimeError("the write queue is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append((fn, future))
        self._more.set()
        if urgent:
            self._urgent.set()
        return await future

    async def run(self) -> None:
        """Write batches until `close()`; what is queued then is written before this returns."""
        while True:
            await self._more.wait()
            if self._queued and not (self._urgent.is_set() or self._closing):
                with contextlib.suppress(TimeoutError):
                    await within(self._urgent.wait(), LINGER_S)
            if self._queued:
                self._urgent.clear()
                await self._flush()
            elif self._closing:
                return
            else:
                self._more.clear()

    def close(self) -> None:
        """Take no more writes; `run()` returns once the queued ones are written."""
        self._closing = True
        self._more.set()
        self._urgent.set()

    async def _flush(self) -> None:
        batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
        try:
            outcomes = await self._in_thread(self._write_all, [fn for fn, _ in batch])
        except Exception as exc:  # the transaction itself failed (the store unreachable)
            log.exception("notify_write_batch_failed", writes=len(batch))
            outcomes = [(False, exc)] * len(batch)
        self.batches += 1
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue  # its caller was cancelled; the write was made
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _write_all(self, writes: list[Write]) -> Outcomes:
        try:
            with n.transaction(self.engine) as session:
                return [(True, fn(session)) for fn in writes]
        except Exception:
            if len(writes) == 1:
                raise
        # One failed and took the batch with it: each again in its own transaction, so that
        # only that one fails (a savepoint each would cost every batch for a rare failure).
        outcomes: Outcomes = []
        for fn in writes:
            try:
                with n.transaction(self.engine) as session:
                    outcomes.append((True, fn(session)))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes
