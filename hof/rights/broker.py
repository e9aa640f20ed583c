"""What the broker itself holds about a home: the retained `status` and `config` messages of its
devices (and its consent). An erasure clears them: an empty retained message deletes one."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

from hof.mqtt import Delivery, Link
from hof.settings import MqttSettings
from hof.topic import PREFIX
from hof.waiting import within

__all__ = ["clear_retained"]


async def clear_retained(
    settings: MqttSettings, home: str, *, settle_s: float = 0.5, limit_s: float = 10.0
) -> list[str]:
    """Delete every retained message under `hof/v1/{home}/`; the topics cleared.

    The broker sends the retained messages of a new subscription at once; they are collected
    until none has come for `settle_s` (at most `limit_s`), then each is replaced by an empty
    retained message, which the broker takes as deleting it.
    """
    queue: asyncio.Queue[Delivery] = asyncio.Queue(100_000)
    link = Link(
        settings,
        name="erasure",
        client_id=f"hof-erasure-{secrets.token_hex(4)}",
        queue=queue,
        subscriptions=[(f"{PREFIX}/{home}/#", 1)],
        manual_ack=False,
    )
    task = asyncio.create_task(link.run())
    topics: set[str] = set()
    try:
        await within(link.subscribed.wait(), settings.timeout_s)
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                delivery = await within(queue.get(), settle_s)
            except TimeoutError:
                break
            if delivery.retain and delivery.payload:
                topics.add(delivery.topic)
        for topic in sorted(topics):
            await link.publish(topic, b"", qos=1, retain=True)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return sorted(topics)
