"""The alert store for asyncio services: each call runs in a worker thread, off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from hof.alertstore.api import AlertStore

__all__ = ["AsyncAlertStore"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class AsyncAlertStore:
    """Wraps an `AlertStore`; `await aio.call(store.acknowledge, 7, by="sam")`, fully typed.

    At most `max_concurrency` calls run at once, so a burst of findings cannot take every
    thread of the default executor (and every database connection) from the rest of the service.
    """

    def __init__(self, store: AlertStore, *, max_concurrency: int = 4) -> None:
        self.store = store
        self._slots = asyncio.Semaphore(max_concurrency)

    async def call(self, method: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        async with self._slots:
            return await asyncio.to_thread(method, *args, **kwargs)
