"""The MQTT link against a real broker: bounded, acknowledged only on request, nothing lost."""

from __future__ import annotations

import asyncio
import json

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hof.mqtt import Delivery, Link
from hof.settings import Settings


def _burst(settings: Settings, topic: str, count: int) -> None:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    assert settings.simulator.mqtt_password is not None
    client.username_pw_set(
        settings.simulator.mqtt_username, settings.simulator.mqtt_password.get_secret_value()
    )
    client.max_queued_messages_set(0)
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    infos = [client.publish(topic, json.dumps(i), qos=1) for i in range(count)]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


async def test_a_slow_consumer_bounds_memory_and_loses_nothing(
    settings: Settings, home_id: str
) -> None:
    queue: asyncio.Queue[Delivery] = asyncio.Queue(5)
    link = Link(
        settings.mqtt,
        name="t",
        client_id=f"link-{home_id}",
        queue=queue,
        subscriptions=[(f"hof/v1/{home_id}/+/reading", 1)],
        receive_maximum=50,
    )
    task = asyncio.create_task(link.run())
    await asyncio.wait_for(link.subscribed.wait(), 10)
    burst = asyncio.create_task(
        asyncio.to_thread(_burst, settings, f"hof/v1/{home_id}/d/reading", 300)
    )
    got: list[int] = []
    deepest = 0
    while len(got) < 300:
        deepest = max(deepest, queue.qsize())
        delivery = await asyncio.wait_for(link.get(), 10)
        got.append(json.loads(delivery.payload))
        link.ack(delivery)
        if len(got) % 50 == 0:
            await asyncio.sleep(0.05)  # a slow consumer
    await burst
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert deepest <= 5
    assert sorted(got) == list(range(300))


async def test_unacknowledged_messages_come_back_after_a_reconnect(
    settings: Settings, home_id: str
) -> None:
    """A consumer that dies before acknowledging gets the messages again (persistent session)."""
    topic = f"hof/v1/{home_id}/d/reading"

    def link(queue: asyncio.Queue[Delivery]) -> Link:
        return Link(
            settings.mqtt,
            name="t",
            client_id=f"again-{home_id}",
            queue=queue,
            subscriptions=[(topic, 1)],
            clean_start=False,
            session_expiry_s=60,
        )

    first_q: asyncio.Queue[Delivery] = asyncio.Queue(100)
    first = link(first_q)
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(first.subscribed.wait(), 10)
    await asyncio.to_thread(_burst, settings, topic, 10)
    seen = [json.loads((await asyncio.wait_for(first.get(), 10)).payload) for _ in range(10)]
    task.cancel()  # never acknowledged
    await asyncio.gather(task, return_exceptions=True)
    second_q: asyncio.Queue[Delivery] = asyncio.Queue(100)
    second = link(second_q)
    task = asyncio.create_task(second.run())
    again = [json.loads((await asyncio.wait_for(second.get(), 10)).payload) for _ in range(10)]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sorted(seen) == sorted(again) == list(range(10))
