"""The rules engine's urgent path: events and statuses before readings, and the notifier told
of a raised alert at once.

Both MQTT sessions feed one asyncio loop. In a burst of readings that loop is never idle, and
a fall's store write (in a thread) had to win the GIL back from it statement by statement,
so falls raised one after another took 130 ms each (docs/notify.md, Latency). Here readings
wait whenever an urgent message is queued or being judged: the fall's thread has the process
to itself, and a reading waits at most one urgent message's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

import structlog

from hof.alertstore.raised import RaisedAlert, raised_topic
from hof.alertstore.records import RaiseResult
from hof.mqtt import Delivery, Link, LinkDownError

__all__ = ["SWITCH_INTERVAL_S", "Priority", "favour_latency", "tell_raised"]

log = structlog.get_logger(__name__)

# CPython's default (5 ms) is what a thread waiting for the GIL may wait each time it wants it
# back; a store write takes it back after every SQLite call, while paho's readings thread
# decodes a burst. 1 ms costs a little throughput in switches, and cuts that wait five times.
SWITCH_INTERVAL_S = 0.001
YIELDS = 3  # times a reading lets a queued urgent message be taken before it goes anyway


def favour_latency() -> None:
    """Shorten the GIL's switch interval for this process (never lengthen it)."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))


class Priority:
    """Strict priority of the urgent queue over the readings' consumer, on one loop."""

    def __init__(self, urgent: asyncio.Queue[Delivery]) -> None:
        self._urgent = urgent
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        return self._busy > 0 or not self._urgent.empty()

    @contextlib.asynccontextmanager
    async def turn(self, *, urgent: bool) -> AsyncIterator[None]:
        """Hold the urgent path busy while an urgent message is judged; or, for a reading,
        wait until none is queued or being judged."""
        if not urgent:
            for _ in range(YIELDS):
                await self._idle.wait()
                if self._urgent.empty():
                    break
                # Queued but not yet taken: let the urgent consumer take it (it marks itself
                # busy before its first await), then wait for it.
                await asyncio.sleep(0)
            yield
            return
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()


async def tell_raised(link: Link, result: RaiseResult) -> bool:
    """Publish "alert raised" for a newly opened or reopened alert; an update says nothing.

    QoS 0 and never awaited on a PUBACK: the store already holds the alert, and a notifier
    that misses this finds it at its next poll. True when published."""
    if result.action == "updated":
        return False
    alert = result.alert
    if not link.connected.is_set():  # start-up's reconcile: the notifier reads the store then
        return False
    body = RaisedAlert(id=alert.id, home=alert.home, category=alert.category, action=result.action)
    try:
        await link.publish(raised_topic(alert.id), body.model_dump_json().encode(), qos=0)
    except LinkDownError as exc:
        log.warning("alert_raised_not_told", alert=alert.id, error=str(exc))
        return False
    return True
