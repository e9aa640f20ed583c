"""Which room each device is in, learned from the retained `config` topics of the contract."""

from __future__ import annotations

import asyncio
import time

import structlog

from hof import devicejson
from hof.deadletter import deadletter_message
from hof.errors import ContractError, Reason
from hof.metrics import Metric, Registry
from hof.mqtt import Delivery, Link, LinkDownError
from hof.settings import MqttSettings
from hof.topic import Channel, Topic, is_valid_id, subscription
from hof.waiting import within

__all__ = ["RoomMap", "RoomWatcher", "parse_rooms"]

log = structlog.get_logger(__name__)


def parse_rooms(topic: Topic, payload: bytes) -> str | None:
    """The room a config message places its own device in (None: it names none).

    The config topic is one device's: an entry for another device is ignored (a device must
    not relabel its neighbours), and so is a room that is not an id like the contract's
    (letters, digits, `_ . -`, at most 64): a room becomes a storage tag, and a line break or
    a comma in it would be line protocol of the sender's making. Both are logged. A payload
    that is not a config object raises ContractError with its reason.
    """
    body = devicejson.loads_object(payload, "config")
    rooms = body.get("rooms")
    if rooms is None:
        return None
    if not isinstance(rooms, dict):
        raise ContractError(
            Reason.BAD_FIELD, f"rooms must be an object, got {type(rooms).__name__}"
        )
    others = [device for device in rooms if device != topic.device]
    if others:
        log.warning(
            "config_rooms_of_other_devices_ignored",
            home=topic.home,
            device=topic.device,
            others=[repr(d)[:66] for d in others[:5]],
        )
    room = rooms.get(topic.device)
    if room is None:
        return None
    if not isinstance(room, str) or not is_valid_id(room):
        log.warning(
            "config_room_ignored", home=topic.home, device=topic.device, room=repr(room)[:80]
        )
        return None
    return room


class RoomMap(dict[tuple[str, str], str]):
    """(home, device) -> room, from `{"rooms": {"<device>": "<room>"}}` on that device's config."""

    def learn(self, topic: str, payload: bytes) -> bool:
        """Apply one config message; True if it placed its device. A payload that is not a
        config (or a topic that is not the contract's) raises ContractError."""
        parsed = Topic.parse(topic)
        if parsed.channel is not Channel.CONFIG:
            raise ContractError(Reason.BAD_TOPIC, f"{topic!r:.120} is not a config topic")
        if not payload:  # a cleared retained config: the device has no room now
            self.pop((parsed.home, parsed.device), None)
            return False
        room = parse_rooms(parsed, payload)
        if room is None:
            return False
        self[(parsed.home, parsed.device)] = room
        return True


class RoomWatcher:
    """Keeps a RoomMap current from the retained `config` topics, on a connection of its own.

    `run()` until cancelled; `await snapshot()` returns once the retained configs that were
    waiting at subscription time have been read, so that a service starting up tags its
    first readings with rooms. A config that cannot be read is counted, logged and, with
    `deadletters` (one service of the platform does it: ingest), dead-lettered under `service`;
    whatever it holds, the watcher (and the service) carries on.
    """

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        service: str = "rooms",
        metrics: Registry | None = None,
        deadletters: bool = False,
    ) -> None:
        self.rooms = RoomMap()
        self.service = service
        self.deadletters = deadletters
        registry = metrics if metrics is not None else Registry()
        self.m_configs: Metric = registry.counter(
            f"hof_{service}_configs_total", "Config messages read, by outcome (and refusal reason)"
        )
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
                await self.apply(delivery)
                self.link.ack(delivery)

    async def apply(self, delivery: Delivery) -> None:
        """Learn one config message; refuse (dead-letter, count) one that cannot be read."""
        try:
            placed = self.rooms.learn(delivery.topic, delivery.payload)
        except ContractError as exc:
            await self._refuse(delivery, exc)
            return
        except Exception as exc:  # a bug in reading one message must not stop the service
            log.exception("config_failed", topic=delivery.topic[:200])
            error = ContractError(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:200])
            await self._refuse(delivery, error)
            return
        self.m_configs.inc(outcome="placed" if placed else "no_room")

    async def _refuse(self, delivery: Delivery, error: ContractError) -> None:
        self.m_configs.inc(outcome="refused", reason=error.reason.value)
        log.warning(
            "config_refused",
            topic=delivery.topic[:200],
            reason=error.reason.value,
            detail=error.detail[:200],
        )
        if not self.deadletters:
            return
        target, body = deadletter_message(
            delivery.topic, delivery.payload, error, delivery.received_at, service=self.service
        )
        if target is None:
            return
        try:
            await self.link.publish(target, body, qos=1)
        except LinkDownError as exc:  # logged and counted; the retained config comes back
            log.warning("deadletter_failed", topic=target, error=str(exc))

    async def snapshot(self, settle_s: float = 0.3, limit_s: float = 5.0) -> None:
        try:
            await within(self.link.subscribed.wait(), 10.0)
        except TimeoutError:
            log.warning("rooms_unavailable", detail="starting without room tags")
            return
        deadline = time.monotonic() + limit_s
        seen = -1
        while time.monotonic() < deadline and (seen != len(self.rooms) or self._queue.qsize()):
            seen = len(self.rooms)
            await asyncio.sleep(settle_s)
