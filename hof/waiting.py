"""Waiting with a stop in mind: on several things at once (a service's start-up must still hear
SIGTERM), and on one thing for at most so long without losing a cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)

__all__ = ["first_of", "within"]

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """`awaitable`'s result, or TimeoutError after `seconds` (None: no limit): `asyncio.wait_for`
    without Python 3.11's lost cancel.

    On 3.11, `wait_for` runs what it waits on as a task of its own, and when the caller is
    cancelled just as that task finishes (an event set, a message arrived, at a SIGTERM), it
    returns the result and the cancel is spent. A service's loop then goes round again and
    waits for ever: the dashboard's summary loop kept a stopped dashboard alive past the
    graceful shutdown (CI, 3 Dec 2026), and ingest's JetStream fetcher hung a draining worker
    (`hof/source.py`). Here the caller awaits it directly under `asyncio.timeout`, so a
    cancel always lands. `seconds` of 0 or less still lets what is ready now finish.

    Like `wait_for`, it gives the event loop a turn first (unless no time is left), even when
    what it waits on is ready: a loop that waits on an event already set, and goes round
    without another await, would otherwise never let anything else run (the gateway's status
    loop, with the uplink down, froze the gateway so)."""
    started = False
    try:
        async with asyncio.timeout(seconds):
            if seconds is None or seconds > 0:
                await asyncio.sleep(0)
            started = True
            return await awaitable
    finally:
        # Stopped in that first turn: what it was to wait on is let go, as wait_for cancels
        # its task, and no coroutine is left never awaited.
        if not started:
            if isinstance(awaitable, Coroutine):
                awaitable.close()
            elif isinstance(awaitable, asyncio.Future):
                awaitable.cancel()


async def first_of(*waits: asyncio.Event | Awaitable[Any]) -> object:
    """Wait until the first event is set or awaitable finishes; cancel the others.

    Returns the event or awaitable that finished first, so the caller can tell, e.g., whether
    a service became ready or was told to stop while still starting.
    """
    futures: dict[asyncio.Future[Any], asyncio.Event | Awaitable[Any]] = {}
    for wait in waits:
        awaitable: Awaitable[Any] = wait.wait() if isinstance(wait, asyncio.Event) else wait
        futures[asyncio.ensure_future(awaitable)] = wait
    done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    for future in pending:
        future.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    first = next(iter(done))
    if not first.cancelled() and (error := first.exception()) is not None:
        # Not raised: the callers go on as after a stop or a timeout (a start-up rebuild that
        # failed leaves the worker to judge what comes). Not lost either: before, it was
        # asyncio's "Task exception was never retrieved", at garbage collection, if ever.
        log.error("wait_failed", error=f"{type(error).__name__}: {error}", exc_info=error)
    return futures[first]
