"""A worker's first start: what is published while it rebuilds from InfluxDB is judged after
the rebuild, not lost. A first start has no session at the broker, so before the worker
subscribed after the rebuild, and what came between the rebuild's query and the
subscription reached it never (a week's history in `hof demo`: minutes of every home's
readings)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from alerts.service import AlertsWorker
from hof.settings import Settings


def _publish(settings: Settings, topic: str, pack: list[dict[str, Any]]) -> None:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert settings.mqtt.password is not None
    client.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    try:
        info = client.publish(topic, json.dumps(pack), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


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
        await asyncio.to_thread(_publish, worker.settings, f"hof/v1/{home}/env-1/reading", pack)
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
