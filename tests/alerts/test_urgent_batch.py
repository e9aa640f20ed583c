"""The rules engine judges a burst of events together: one store transaction for what was
queued, a "raised" message for each new alert once it is stored, and a worker that dies in the
middle of a batch loses none (nothing was acknowledged, so the broker redelivers them all).

The falls are published while the worker is away, so that its persistent session hands them
over at once when it comes back: a burst, as the peers harness makes (docs/notify.md, Latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hofsupport import Watcher, publish_packs
from sqlalchemy import event

from alerts.service import AlertsWorker
from hof.alertstore.api import AlertStore
from hof.alertstore.engine import WRITE
from hof.alertstore.errors import StoreUnavailable
from hof.alertstore.raised import raised_filter
from hof.alertstore.records import AlertFilter, AlertView
from hof.alertstore.vocabulary import Category
from hof.settings import Settings

FALLS = 20


@pytest.fixture
def homes() -> list[str]:
    run = uuid.uuid4().hex[:10]
    return [f"T-{run}-{i:02d}" for i in range(FALLS)]


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    """A worker of its own (its own persistent sessions), without the history replay."""
    alerts = settings.alerts.model_copy(
        update={"client_id": f"alerts-batch-{uuid.uuid4().hex[:8]}", "history_hours": 0.0}
    )
    return settings.model_copy(update={"alerts": alerts})


@pytest.fixture
def raised(settings: Settings) -> Iterator[Watcher]:
    watching = Watcher(settings, raised_filter())
    yield watching
    watching.close()


@contextlib.asynccontextmanager
async def running(worker: AlertsWorker) -> AsyncIterator[asyncio.Task[None]]:
    """The worker, running until the block ends; then stopped (cancelled if it hangs)."""
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.ready.wait(), 30)
        yield task
    finally:
        worker.stop.set()
        if not task.done():
            await asyncio.wait_for(task, 15)


async def crash(task: asyncio.Task[None]) -> None:
    """End a worker at once, acknowledging nothing more (what SIGKILL does to its session)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def publish_falls(settings: Settings, homes: list[str]) -> None:
    """One fall a home, QoS 1, each acknowledged by the broker."""
    t = round(time.time(), 3)
    publish_packs(
        settings,
        [
            (
                f"hof/v1/{home}/wear-1/event",
                [{"bn": "wear-1/", "bt": t + i / 1000, "n": "fall", "vs": "detected"}],
            )
            for i, home in enumerate(homes)
        ],
    )


def falls_of(store: AlertStore, homes: list[str]) -> list[AlertView]:
    where = AlertFilter(homes=homes, categories=(Category.FALL,))
    return list(store.list(where, limit=100).items)


def told(raised: Watcher, homes: list[str]) -> list[str]:
    return sorted(m["home"] for m in raised.json() if m["home"] in homes)


async def eventually(predicate: Any, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.1)
    return bool(await asyncio.to_thread(predicate))


async def away_while_falls_come(worker_settings: Settings, homes: list[str]) -> None:
    """Make the worker's persistent sessions, go away, and let the falls queue for it."""
    async with running(AlertsWorker(worker_settings)):
        pass
    await asyncio.to_thread(publish_falls, worker_settings, homes)


def count_write_transactions(store: AlertStore) -> list[int]:
    writes = [0]

    @event.listens_for(store.engine, "begin")
    def _begin(connection: Any) -> None:
        if connection.get_execution_options().get(WRITE, False):
            writes[0] += 1

    return writes


async def test_a_burst_of_falls_is_stored_together_and_each_is_told(
    worker_settings: Settings, homes: list[str], raised: Watcher
) -> None:
    await away_while_falls_come(worker_settings, homes)
    worker = AlertsWorker(worker_settings)
    writes = count_write_transactions(worker.store)
    async with running(worker):
        assert await eventually(lambda: len(falls_of(worker.store, homes)) == FALLS)
        assert await eventually(lambda: told(raised, homes) == sorted(homes))
    stored = falls_of(worker.store, homes)
    assert sorted(a.home for a in stored) == sorted(homes)  # one each
    # One write transaction a batch: the first fall may be taken alone, the rest together
    # (or in a few pieces, as paho hands them over on a loaded machine). One at a time, it
    # was a write transaction a fall.
    assert writes[0] <= FALLS // 4, writes[0]
    worker.store.close()


@pytest.mark.parametrize("dies", ["before_commit", "after_commit"])
async def test_a_worker_that_dies_mid_batch_loses_and_repeats_nothing(
    worker_settings: Settings, homes: list[str], raised: Watcher, dies: str
) -> None:
    await away_while_falls_come(worker_settings, homes)
    dying = AlertsWorker(worker_settings)
    reached, release = threading.Event(), threading.Event()
    real = dying.store.raise_events

    def raise_events(*args: Any, **kwargs: Any) -> Any:
        if dies == "after_commit":
            real(*args, **kwargs)  # stored; the process dies before it acknowledges
        reached.set()
        release.wait(20)
        raise StoreUnavailable("the database went away")

    dying.store.raise_events = raise_events  # type: ignore[method-assign]
    try:
        async with running(dying) as task:
            assert await asyncio.to_thread(reached.wait, 20)
            await crash(task)
    finally:
        release.set()
    assert told(raised, homes) == []  # nothing told: no batch was through

    again = AlertsWorker(worker_settings)
    async with running(again):
        assert await eventually(lambda: len(falls_of(again.store, homes)) == FALLS)
        if dies == "before_commit":  # the redelivered falls are new to the store: told now
            assert await eventually(lambda: told(raised, homes) == sorted(homes))
        else:  # stored before the crash: the redelivery is known, and raises nothing twice
            await asyncio.sleep(1.0)
    assert sorted(a.home for a in falls_of(again.store, homes)) == sorted(homes)
    again.store.close()
