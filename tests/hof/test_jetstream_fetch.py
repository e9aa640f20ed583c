"""JetStreamSource's fetcher against a cancel that nats-py swallows.

The e2e test (tests/e2e/test_nats_cluster.py) drives the race with a real cluster, where it
is hit only now and then; here the subscription stands in for nats-py's so that the swallowed
cancel lands every time, at the point the cluster run hung."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from hof.settings import NatsSettings
from hof.source import JetStreamDelivery, JetStreamSource


@dataclass
class _Msg:
    subject: str
    data: bytes = b"[]"


class _SwallowingSub:
    """A pull subscription whose fetch returns its messages when a cancel lands, as nats-py's
    `asyncio.wait_for` does on Python 3.11 when the message arrives together with the cancel;
    and returns more than it was asked for, as two consumers' fetches in flight at once do
    between them."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()

    async def fetch(self, batch: int, timeout: float) -> list[_Msg]:  # noqa: ASYNC109 (nats-py's)
        self.waiting.set()
        # Swallowed: the task's cancel is spent, its cancelling() count stays 1.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        return [_Msg("$MQTT.msgs.hof.v1.H1.env-1.reading") for _ in range(batch + 3)]


async def _cancel_during_fetch() -> bool:
    queue: asyncio.Queue[JetStreamDelivery] = asyncio.Queue(4)
    source = JetStreamSource(
        NatsSettings(broker="nats"), durable="ingest", channels=["reading"], queue=queue
    )
    sub = _SwallowingSub()
    fetcher = asyncio.create_task(source._fetch(sub, share=1))
    await asyncio.wait_for(sub.waiting.wait(), 5)
    fetcher.cancel()
    done, _ = await asyncio.wait({fetcher}, timeout=2)
    if not done:
        fetcher.cancel()  # let the loop close; the test has its answer
        await asyncio.wait({fetcher}, timeout=2)
    return bool(done)


def test_a_cancel_swallowed_by_the_fetch_still_stops_the_fetcher() -> None:
    """The fetched messages do not fit the queue and nobody reads it any more (the worker is
    draining): the fetcher must stop, not wait for room for good (a worker on NATS hung in CI,
    stop 33). The messages it drops were never acknowledged: JetStream redelivers them."""
    assert asyncio.run(_cancel_during_fetch())


def test_a_fetcher_puts_what_it_fetched_when_not_cancelled() -> None:
    async def run() -> list[str]:
        queue: asyncio.Queue[JetStreamDelivery] = asyncio.Queue(100)
        source = JetStreamSource(
            NatsSettings(broker="nats"), durable="ingest", channels=["reading"], queue=queue
        )

        class Once:
            calls = 0

            async def fetch(self, batch: int, timeout: float) -> list[Any]:  # noqa: ASYNC109 (nats-py's)
                self.calls += 1
                if self.calls > 1:
                    await asyncio.sleep(60)
                return [_Msg("$MQTT.msgs.hof.v1.H1.env-1.reading")] * 2

        fetcher = asyncio.create_task(source._fetch(Once(), share=1))
        got = [(await asyncio.wait_for(queue.get(), 5)).topic for _ in range(2)]
        fetcher.cancel()
        await asyncio.wait({fetcher}, timeout=2)
        return got

    assert asyncio.run(run()) == ["hof/v1/H1/env-1/reading"] * 2
