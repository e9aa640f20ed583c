"""The device fleet as the devices describe themselves: retained `status` messages (state,
firmware, battery, signal) and the rooms of retained `config`, kept in memory.

Retained messages are the contract's own record of each device's latest state, so a dashboard
that starts (or reconnects) reads the whole fleet at once; one small record per device keeps
memory flat (about 200 bytes each: 40 MB at 200,000 devices), indexed by home so that a home
page finds its devices without walking the fleet.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import structlog

from dashboard.context import Context
from hof.devicestatus import parse_status
from hof.errors import ContractError
from hof.mqtt import Delivery, Link
from hof.rooms import RoomMap
from hof.topic import Channel, Topic, subscription

__all__ = ["LOW_BATTERY", "MAX_DEVICES", "DeviceStatus", "Fleet", "learn", "watch_forever"]

log = structlog.get_logger(__name__)
LOW_BATTERY = 20.0  # %: the fleet page lists these for a battery round
MAX_DEVICES = 1_000_000  # five times the 50,000-home estate's devices; more is a misbehaving client


@dataclass(slots=True)
class DeviceStatus:
    home: str
    device: str
    state: str = "unknown"
    firmware: str | None = None
    battery: float | None = None
    rssi: float | None = None  # dBm, as the status object reports it
    reported_at: float | None = None  # the device's own `ts`
    received_at: float = 0.0

    @property
    def telecare(self) -> bool:
        return self.device.startswith("tc-")


@dataclass
class Fleet:
    by_home: dict[str, dict[str, DeviceStatus]] = field(default_factory=dict)
    rooms: RoomMap = field(default_factory=RoomMap)
    link: Link | None = None
    count: int = 0
    refused: int = 0  # statuses not kept because the fleet was at MAX_DEVICES
    unreadable: int = 0  # statuses and configs that are not the contract's (logged, skipped)

    @property
    def connected(self) -> bool:
        return self.link is not None and self.link.connected.is_set()

    def learn_status(self, topic: Topic, payload: bytes) -> None:
        home = self.by_home.get(topic.home)
        if not payload:  # a cleared retained status: the device was removed
            if home is not None and home.pop(topic.device, None) is not None:
                self.count -= 1
                if not home:
                    del self.by_home[topic.home]
            return
        report = parse_status(payload)  # ContractError: the caller counts and skips it
        status = home.get(topic.device) if home is not None else None
        if status is None:
            if self.count >= MAX_DEVICES:
                self.refused += 1
                if self.refused % 10_000 == 1:
                    log.warning("fleet_full", devices=self.count, refused=self.refused)
                return
            status = DeviceStatus(topic.home, topic.device)
            self.by_home.setdefault(topic.home, {})[topic.device] = status
            self.count += 1
        status.state = report.state
        if report.firmware is not None:
            status.firmware = report.firmware
        if report.battery is not None:
            status.battery = report.battery
        if report.rssi is not None:
            status.rssi = report.rssi
        if report.ts is not None:
            status.reported_at = report.ts
        status.received_at = time.time()

    def of_home(self, home: str) -> list[DeviceStatus]:
        return sorted(self.by_home.get(home, {}).values(), key=lambda s: s.device)

    def get(self, home: str, device: str) -> DeviceStatus | None:
        return self.by_home.get(home, {}).get(device)

    def all(self) -> Iterator[DeviceStatus]:
        for devices in list(self.by_home.values()):
            yield from list(devices.values())

    def room_of(self, home: str, device: str) -> str | None:
        return self.rooms.get((home, device))


async def watch_forever(ctx: Context) -> None:
    """Follow retained `status` and `config` topics, read-only with the platform's credential.

    The link reconnects with backoff and jitter on its own (`hof.mqtt.Link.run`); at each
    reconnection the broker sends the retained messages again, which rewrite the same records.
    """
    fleet: Fleet = ctx.fleet
    queue: asyncio.Queue[Delivery] = asyncio.Queue(10_000)
    link = fleet.link = Link(
        ctx.settings.mqtt,
        name="fleet",
        client_id=f"{ctx.settings.dashboard.client_id}-fleet-{os.getpid()}",
        queue=queue,
        subscriptions=[(subscription(Channel.STATUS), 1), (subscription(Channel.CONFIG), 1)],
    )
    known = ctx.metrics.gauge("hof_dashboard_fleet_devices", "Devices with a retained status")
    refused = ctx.metrics.gauge("hof_dashboard_fleet_refused", "Statuses refused: fleet full")
    unreadable = ctx.metrics.counter(
        "hof_dashboard_fleet_unreadable_total", "Statuses and configs not read, by reason"
    )
    async with asyncio.TaskGroup() as tg:
        tg.create_task(link.run())
        while True:
            delivery = await link.get()
            try:
                learn(fleet, delivery)
            except ContractError as exc:  # ingest dead-letters configs; statuses are logged
                fleet.unreadable += 1
                unreadable.inc(reason=exc.reason.value)
                log.warning(
                    "fleet_message_refused",
                    topic=delivery.topic[:200],
                    reason=exc.reason.value,
                    detail=exc.detail[:200],
                )
            except Exception:  # one message must never stop the watcher (issue 11)
                fleet.unreadable += 1
                unreadable.inc(reason="internal_error")
                log.exception("fleet_message_failed", topic=delivery.topic[:200])
            known.set(fleet.count)
            refused.set(fleet.refused)
            link.ack(delivery)


def learn(fleet: Fleet, delivery: Delivery) -> None:
    """Apply one retained `status` or `config`; ContractError for one that cannot be read."""
    topic = Topic.parse(delivery.topic)
    if topic.channel is Channel.STATUS:
        fleet.learn_status(topic, delivery.payload)
    elif topic.channel is Channel.CONFIG:
        fleet.rooms.learn(delivery.topic, delivery.payload)
