"""Which room each device is in, learned from the retained `config` topics of the contract."""

from __future__ import annotations

import asyncio
import json
import time

import structlog

from hof.errors import ContractError
from hof.mqtt import Delivery, Link
from hof.settings import MqttSettings
from hof.topic import Channel, Topic, is_valid_id, subscription

__all__ = ["RoomMap", "RoomWatcher"]

log = structlog.get_logger(__name__)


class RoomMap(dict[tuple[str, str], str]):
    """(home, device) -> room, from `{"rooms": {"<device>": "<room>"}}` on any config topic."""

    def learn(self, topic: str, payload: bytes) -> int:
        """Apply one config message; returns how many devices it placed. Bad configs are skipped."""
        try:
            home = Topic.parse(topic).home
            rooms = json.loads(payload).get("rooms", {}) if payload else {}
        except (ContractError, ValueError, AttributeError) as exc:
            log.warning("config_ignored", topic=topic, error=str(exc)[:200])
            return 0
        if not isinstance(rooms, dict):
            return 0
        placed = 0
        for device, room in rooms.items():
            if isinstance(device, str) and is_valid_id(device) and isinstance(room, str) and room:
                self[(home, device)] = room[:64]
                placed += 1
        return placed


class RoomWatcher:
    """Keeps a RoomMap current from the retained `config` topics, on a connection of its own.

    `run()` until cancelled; `await snapshot()` returns once the retained configs that were
    waiting at subscription time have been read, so that a service starting up tags its
    first readings with rooms.
    """

    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        self.rooms = RoomMap()
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(10_000)
        self.link = Link(
            settings,
            name="config",
            client_id=client_id,
            queue=self._queue,
            subscriptions=[(subscription(Channel.CONFIG), 1)],
        )

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.link.run())
            while True:
                delivery = await self.link.get()
                self.rooms.learn(delivery.topic, delivery.payload)
                self.link.ack(delivery)

    async def snapshot(self, settle_s: float = 0.3, limit_s: float = 5.0) -> None:
        try:
            await asyncio.wait_for(self.link.subscribed.wait(), 10.0)
        except TimeoutError:
            log.warning("rooms_unavailable", detail="starting without room tags")
            return
        deadline = time.monotonic() + limit_s
        seen = -1
        while time.monotonic() < deadline and (seen != len(self.rooms) or self._queue.qsize()):
            seen = len(self.rooms)
            await asyncio.sleep(settle_s)
