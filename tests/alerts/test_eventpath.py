"""The rules engine's urgent path: readings wait while an event or status is queued or judged."""

from __future__ import annotations

import asyncio
import sys

from alerts.eventpath import SWITCH_INTERVAL_S, Priority, favour_latency
from hof.mqtt import Delivery


def _delivery(topic: str) -> Delivery:
    return Delivery(topic, b"[]", 1, False, 1, 0.0, None)  # type: ignore[arg-type]


async def test_readings_wait_for_an_urgent_message_being_judged() -> None:
    urgent: asyncio.Queue[Delivery] = asyncio.Queue()
    priority = Priority(urgent)
    order: list[str] = []
    release = asyncio.Event()

    async def fall() -> None:
        async with priority.turn(urgent=True):
            order.append("fall starts")
            await release.wait()  # its store write, in a thread
            order.append("fall stored")

    async def reading() -> None:
        async with priority.turn(urgent=False):
            order.append("reading")

    judging = asyncio.create_task(fall())
    await asyncio.sleep(0)
    assert priority.busy
    readings = [asyncio.create_task(reading()) for _ in range(3)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert order == ["fall starts"]  # no reading judged meanwhile
    release.set()
    await asyncio.wait_for(asyncio.gather(judging, *readings), 5)
    assert order == ["fall starts", "fall stored", "reading", "reading", "reading"]
    assert not priority.busy


async def test_a_queued_urgent_message_is_taken_before_the_next_reading() -> None:
    urgent: asyncio.Queue[Delivery] = asyncio.Queue()
    priority = Priority(urgent)
    order: list[str] = []
    release = asyncio.Event()

    async def events_consumer() -> None:
        delivery = await urgent.get()
        async with priority.turn(urgent=True):
            order.append(delivery.topic)
            await release.wait()

    consumer = asyncio.create_task(events_consumer())
    await asyncio.sleep(0)  # waiting on an empty queue
    urgent.put_nowait(_delivery("hof/v1/H/p/event"))  # arrives; the consumer is not run yet

    async def reading() -> None:
        async with priority.turn(urgent=False):
            order.append("reading")

    judged = asyncio.create_task(reading())
    for _ in range(10):
        await asyncio.sleep(0)
    assert order == ["hof/v1/H/p/event"]
    release.set()
    await asyncio.wait_for(asyncio.gather(consumer, judged), 5)
    assert order == ["hof/v1/H/p/event", "reading"]


async def test_with_nothing_urgent_a_reading_goes_at_once() -> None:
    priority = Priority(asyncio.Queue())
    async with priority.turn(urgent=False):
        pass
    assert not priority.busy


def test_the_switch_interval_is_shortened_never_lengthened() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        favour_latency()
        assert sys.getswitchinterval() <= SWITCH_INTERVAL_S * 1.01
        sys.setswitchinterval(0.0001)
        favour_latency()
        assert sys.getswitchinterval() < SWITCH_INTERVAL_S
    finally:
        sys.setswitchinterval(before)
