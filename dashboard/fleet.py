"""The device fleet as the devices describe themselves: retained `status` messages (state,
firmware, battery, signal) and the rooms of retained `config`, kept in memory.

Retained messages are the contract's own record of each device's latest state, so a dashboard
that starts (or reconnects) reads the whole fleet at once; one small record per device keeps
memory flat (about 200 bytes each: 40 MB at 200,000 devices).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import structlog

from dashboard.context import Context
from hof.errors import ContractError
from hof.mqtt import Delivery, Link
from hof.rooms import RoomMap
from hof.topic import Channel, Topic, subscription

__all__ = ["DeviceStatus", "Fleet", "watch_forever"]

log = structlog.get_logger(__name__)
LOW_BATTERY = 20.0  # %: the fleet page lists these for a battery round


@dataclass(slots=True)
class DeviceStatus:
    home: str
    device: str
    state: str = "unknown"
    firmware: str | None = None
    battery: float | None = None
    rssi: float | None = None
    reported_at: float | None = None  # the device's own `ts`
    received_at: float = 0.0

    @property
    def telecare(self) -> bool:
        return self.device.startswith("tc-")


@dataclass
class Fleet:
    devices: dict[tuple[str, str], DeviceStatus] = field(default_factory=dict)
    rooms: RoomMap = field(default_factory=RoomMap)
    connected: bool = False

    def learn_status(self, topic: Topic, payload: bytes) -> None:
        key = (topic.home, topic.device)
        if not payload:  # a cleared retained status: the device was removed
            self.devices.pop(key, None)
            return
        try:
            body = json.loads(payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        status = self.devices.get(key) or DeviceStatus(topic.home, topic.device)
        state = body.get("state")
        status.state = state if state in ("online", "offline") else "unknown"
        if isinstance(body.get("fw"), str):
            status.firmware = body["fw"][:40]
        for name in ("battery", "rssi"):
            value = body.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(status, name, float(value))
        if isinstance(body.get("ts"), int | float):
            status.reported_at = float(body["ts"])
        status.received_at = time.time()
        self.devices[key] = status

    def of_home(self, home: str) -> list[DeviceStatus]:
        return sorted(
            (s for (h, _), s in self.devices.items() if h == home), key=lambda s: s.device
        )

    def room_of(self, home: str, device: str) -> str | None:
        return self.rooms.get((home, device))

    def firmware_counts(self, homes: set[str] | None) -> Counter[str]:
        return Counter(
            s.firmware or "unknown"
            for s in self.devices.values()
            if homes is None or s.home in homes
        )


async def watch_forever(ctx: Context) -> None:
    """Follow retained `status` and `config` topics; the link reconnects on its own."""
    fleet: Fleet = ctx.fleet
    queue: asyncio.Queue[Delivery] = asyncio.Queue(10_000)
    link = Link(
        ctx.settings.mqtt,
        name="fleet",
        client_id=f"{ctx.settings.dashboard.client_id}-fleet-{os.getpid()}",
        queue=queue,
        subscriptions=[(subscription(Channel.STATUS), 1), (subscription(Channel.CONFIG), 1)],
    )
    async with asyncio.TaskGroup() as tg:
        tg.create_task(link.run())
        while True:
            delivery = await link.get()
            fleet.connected = True
            try:
                topic = Topic.parse(delivery.topic)
            except ContractError:
                link.ack(delivery)
                continue
            if topic.channel is Channel.STATUS:
                fleet.learn_status(topic, delivery.payload)
            else:
                fleet.rooms.learn(delivery.topic, delivery.payload)
            link.ack(delivery)
