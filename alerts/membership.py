"""Who is in a rules-engine pool: a retained heartbeat per worker, cleared by its last will.

Each worker publishes `hof/alerts/members/{pool}/{member}` retained every `heartbeat_s`, on a
connection whose last will is an empty retained message on the same topic: the broker clears
it the moment the connection drops (a SIGKILL closes the socket, so that is at once), and a
member that hangs with its connection open is dropped once silent for `timeout_s`. Every
worker subscribes to the pool's topics, so all of them converge on the same member list, from
which alerts/partition.py gives each home one owner. The topics are outside the contract's
`hof/v1/`, where only the platform's account may read or write (deploy/mosquitto/acl.in).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

import structlog

from hof.mqtt import Delivery, Link, LinkDownError, Will
from hof.settings import MqttSettings
from hof.topic import is_valid_id
from hof.waiting import within

__all__ = ["MEMBERS_PREFIX", "Membership", "member_topic"]

log = structlog.get_logger(__name__)

MEMBERS_PREFIX = "hof/alerts/members"

Changed = Callable[[frozenset[str], frozenset[str]], None]


def member_topic(pool: str, member: str) -> str:
    return f"{MEMBERS_PREFIX}/{pool}/{member}"


class Membership:
    """This worker's heartbeat, and the pool's live members as it sees them.

    `run()` until cancelled; `await snapshot()` returns once the retained heartbeats waiting at
    subscription time are read and this worker's own is published; `on_change(before, after)`
    is called on the event loop whenever the member list changes.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        pool: str,
        member: str,
        heartbeat_s: float,
        timeout_s: float,
        on_change: Changed | None = None,
    ) -> None:
        for what, value in (("pool", pool), ("member", member)):
            if not is_valid_id(value):
                raise ValueError(f"{what} {value!r} cannot be a topic level")
        self.pool = pool
        self.me = member
        self.heartbeat_s = heartbeat_s
        self.timeout_s = timeout_s
        self.on_change = on_change
        self.topic = member_topic(pool, member)
        self._heard: dict[str, float] = {}  # member -> monotonic time of its last heartbeat
        self.members: frozenset[str] = frozenset({member})
        self.beaten = asyncio.Event()  # our own heartbeat is out
        self._leaving = False
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(10_000)
        self.link = Link(
            settings,
            name="members",
            client_id=f"{member}-members",
            queue=self._queue,
            subscriptions=[(f"{MEMBERS_PREFIX}/{pool}/+", 1)],
            manual_ack=False,
            will=Will(self.topic, b"", qos=1, retain=True),
        )

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.link.run())
            tg.create_task(self._beat())
            tg.create_task(self._expire())
            while True:
                delivery = await self.link.get()
                self.heard(delivery.topic, delivery.payload)

    async def snapshot(self, settle_s: float = 0.5, limit_s: float = 10.0) -> None:
        """Wait until subscribed, our own heartbeat is out and the retained ones have come."""
        deadline = time.monotonic() + limit_s
        try:
            await within(self.link.subscribed.wait(), limit_s)
        except TimeoutError:
            log.warning("alerts_members_unavailable", detail="starting alone")
            return
        with contextlib.suppress(TimeoutError):
            await within(self.beaten.wait(), max(0.0, deadline - time.monotonic()))
        await asyncio.sleep(settle_s)

    def heard(self, topic: str, payload: bytes) -> None:
        member = topic.rsplit("/", 1)[-1]
        if member == self.me:
            return
        if not payload:  # its last will, or it left: gone now
            self._heard.pop(member, None)
        else:
            try:
                at = float(json.loads(payload)["at"])
            except (ValueError, KeyError, TypeError):
                log.warning("alerts_member_unreadable", topic=topic[:200])
                return
            # A retained heartbeat left by a member that died without its will (a broker
            # restart loses wills) is as old as its `at` says: counted only if still fresh.
            age = max(0.0, time.time() - at)
            if age >= self.timeout_s:
                return
            self._heard[member] = time.monotonic() - age
        self._update()

    def _update(self) -> None:
        now = time.monotonic()
        alive = {m for m, t in self._heard.items() if now - t < self.timeout_s}
        for gone in set(self._heard) - alive:
            del self._heard[gone]
        members = frozenset(alive | {self.me})
        if members != self.members:
            before, self.members = self.members, members
            log.info("alerts_members_changed", before=sorted(before), after=sorted(members))
            if self.on_change is not None:
                self.on_change(before, members)

    async def _beat(self) -> None:
        while True:
            await self.link.connected.wait()
            if self._leaving:
                return  # a beat after the goodbye would keep us listed until the timeout
            body = json.dumps({"member": self.me, "pool": self.pool, "at": time.time()}).encode()
            try:
                await self.link.publish(self.topic, body, qos=1, retain=True)
                self.beaten.set()
            except LinkDownError as exc:
                log.warning("alerts_heartbeat_failed", error=str(exc))
            await asyncio.sleep(self.heartbeat_s)

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(min(self.heartbeat_s, self.timeout_s) / 2)
            self._update()

    async def leave(self) -> None:
        """On a clean stop: clear our heartbeat so the others take our homes at once."""
        self._leaving = True
        with contextlib.suppress(LinkDownError, TimeoutError):
            await within(self.link.publish(self.topic, b"", qos=1, retain=True), 3.0)
