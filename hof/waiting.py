"""Waiting on several things at once: a service's start-up must still hear SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

__all__ = ["first_of"]


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
