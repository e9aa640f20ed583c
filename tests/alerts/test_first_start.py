"""A worker's first start: what is published while it rebuilds from InfluxDB is judged after
the rebuild, not lost. A first start has no session at the broker, so before the worker
subscribed after the rebuild, and what came between the rebuild's query and the
subscription reached it never (a week's history in `hof demo`: minutes of every home's
readings)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from hofsupport import publish_packs

from alerts.service import AlertsWorker
from hof.settings import Settings


async def test_a_reading_published_during_the_first_rebuild_is_judged(
    settings: Settings,
) -> None:
    alerts = settings.alerts.model_copy(
        update={"client_id": f"alerts-first-{uuid.uuid4().hex[:8]}", "history_hours": 1.0}
    )
    worker = AlertsWorker(settings.model_copy(update={"alerts": alerts}))
    home = f"F-{uuid.uuid4().hex[:10]}"
    sent = round(time.time(), 3)
    rebuild = worker._rebuild

    async def rebuild_while_a_reading_comes(keep: Callable[[str], bool], why: str) -> int:
        rooms = await rebuild(keep=keep, why=why)
        # A reading published after the rebuild's query, before the worker is ready; given
        # a moment to reach a subscriber, as on a busy broker.
        pack = [{"bn": "env-1/", "bt": sent, "n": "temperature", "u": "Cel", "v": 19.5}]
        topic = f"hof/v1/{home}/env-1/reading"
        await asyncio.to_thread(publish_packs, worker.settings, [(topic, pack)])
        await asyncio.sleep(0.5)
        return rooms

    worker._rebuild = rebuild_while_a_reading_comes  # type: ignore[method-assign]
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.ready.wait(), 30)
        for _ in range(100):  # 10 s at most
            if (home, "env-1") in worker.devices:
                break
            await asyncio.sleep(0.1)
        assert (home, "env-1") in worker.devices, "the reading was never judged"
        assert worker.devices[(home, "env-1")].last_seen >= sent - 5
    finally:
        worker.stop.set()
        await asyncio.wait_for(task, 15)
        worker.store.close()
