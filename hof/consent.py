"""Consent per home and data stream: which stream a record belongs to, each home's current
consents as the services hold them, the retained platform-only topic that carries them, and the
watcher that keeps a service's copy current without a restart.

Where consent is recorded (the registry, `hof.registry.consent`) publishes each home's current
consents retained on `hof/consent/{home}`. That topic is outside the contract's `hof/v1/`, so the
broker's ACL lets only the platform's account write (or read) it: no device or gateway can grant
itself consent. Ingest and the rules engine subscribe to it and drop, where data enters, the
records of a stream the home has not consented to (docs/data-protection.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from hof.metrics import Metric, Registry
from hof.mqtt import Delivery, Link
from hof.senml import Record
from hof.settings import MqttSettings
from hof.topic import is_valid_id
from hof.waiting import within

__all__ = [
    "CONSENT_FILTER",
    "ConsentBook",
    "ConsentMessage",
    "ConsentWatcher",
    "Stream",
    "consent_topic",
    "publish_consents",
    "stream_of",
]

log = structlog.get_logger(__name__)

CONSENT_PREFIX = "hof/consent"
CONSENT_FILTER = f"{CONSENT_PREFIX}/+"


class Stream(StrEnum):
    """A data stream a tenant's consent (or another lawful basis) covers."""

    ENVIRONMENT = "environment"  # temperature, humidity, CO2, pressure, light, leaks, smoke
    ACTIVITY = "activity"  # movement: PIR motion, door contacts, check-ins
    TELECARE = "telecare"  # falls, pendant and pull-cord presses


# Names whose stream is not environment. Device health (battery, voltage, rssi, tamper) is
# about the equipment, not the household, and belongs to no stream: it is always kept.
_STREAM_OF_NAME: dict[str, Stream | None] = {
    "motion": Stream.ACTIVITY,
    "contact": Stream.ACTIVITY,
    "checkin": Stream.ACTIVITY,
    "fall": Stream.TELECARE,
    "button": Stream.TELECARE,
    "battery": None,
    "voltage": None,
    "rssi": None,
    "tamper": None,
}


def stream_of(name: str) -> Stream | None:
    """The stream a record of this SenML name belongs to; None for device health.

    Every other name, unknown ones included, is environment: an unknown name is stored only
    where the home's environment stream is, never with less protection than that.
    """
    return _STREAM_OF_NAME.get(name, Stream.ENVIRONMENT)


def consent_topic(home: str) -> str:
    return f"{CONSENT_PREFIX}/{home}"


class ConsentMessage(BaseModel):
    """A home's current consents as published retained on `hof/consent/{home}`."""

    model_config = ConfigDict(extra="ignore")

    home: str
    streams: dict[Stream, bool]
    at: dt.datetime
    erased: bool = False


@dataclass
class ConsentBook:
    """Each home's consented streams; a home with no record has `unrecorded`'s."""

    unrecorded: frozenset[Stream]
    homes: dict[str, frozenset[Stream]] = field(default_factory=dict)

    def allowed(self, home: str) -> frozenset[Stream]:
        return self.homes.get(home, self.unrecorded)

    def allows(self, home: str, stream: Stream | None) -> bool:
        return stream is None or stream in self.homes.get(home, self.unrecorded)

    def split(self, records: Sequence[Record]) -> tuple[list[Record], dict[Stream, int]]:
        """The records consent allows, and how many of each stream were refused."""
        # Inlined lookups: this runs for every record ingest and the rules engine take in.
        homes, default, streams = self.homes, self.unrecorded, _STREAM_OF_NAME
        kept: list[Record] = []
        refused: dict[Stream, int] = {}
        for record in records:
            stream = streams.get(record.name, Stream.ENVIRONMENT)
            if stream is None or stream in homes.get(record.home, default):
                kept.append(record)
            else:
                refused[stream] = refused.get(stream, 0) + 1
        return kept, refused

    def learn(self, topic: str, payload: bytes) -> tuple[str, frozenset[Stream]]:
        """Apply one consent message; returns the home and its streams now. ValueError if the
        message cannot be read (the previous state is kept)."""
        parts = topic.split("/")
        if len(parts) != 3 or "/".join(parts[:2]) != CONSENT_PREFIX or not is_valid_id(parts[2]):
            raise ValueError(f"{topic[:120]!r} is not a consent topic")
        home = parts[2]
        if not payload:  # cleared: back to the default for an unrecorded home
            self.homes.pop(home, None)
            return home, self.unrecorded
        try:
            message = ConsentMessage.model_validate_json(payload[:4096])
        except ValidationError as exc:
            raise ValueError(f"unreadable consent for {home}: {exc.errors()[0]['msg']}") from exc
        if message.home != home:
            raise ValueError(f"consent for {message.home!r} published on {home}'s topic")
        streams = frozenset(s for s, on in message.streams.items() if on and not message.erased)
        # A stream the message does not name keeps the unrecorded default.
        streams |= frozenset(
            s for s in self.unrecorded if s not in message.streams and not message.erased
        )
        self.homes[home] = streams
        return home, streams


Changed = Callable[[str, frozenset[Stream], frozenset[Stream]], None]


class ConsentWatcher:
    """Keeps a ConsentBook current from the retained consent topics, on a connection of its own.

    `run()` until cancelled; `await snapshot()` returns once the retained consents waiting at
    subscription time have been read, so a service starting up drops nothing it may keep and
    keeps nothing it must drop. `on_change(home, before, after)` is called for each change.
    """

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        unrecorded: Iterable[Stream],
        service: str,
        metrics: Registry | None = None,
        on_change: Changed | None = None,
    ) -> None:
        self.book = ConsentBook(frozenset(unrecorded))
        self.on_change = on_change
        registry = metrics if metrics is not None else Registry()
        self.m_messages: Metric = registry.counter(
            f"hof_{service}_consent_messages_total", "Consent messages read, by outcome"
        )
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(10_000)
        self.link = Link(
            settings,
            name="consent",
            client_id=client_id,
            queue=self._queue,
            subscriptions=[(CONSENT_FILTER, 1)],
        )

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.link.run())
            while True:
                delivery = await self.link.get()
                self.apply(delivery.topic, delivery.payload)
                self.link.ack(delivery)

    def apply(self, topic: str, payload: bytes) -> None:
        home = topic.rsplit("/", 1)[-1]
        before = self.book.allowed(home)
        try:
            home, after = self.book.learn(topic, payload)
        except ValueError as exc:
            self.m_messages.inc(outcome="refused")
            log.warning("consent_refused", topic=topic[:200], detail=str(exc)[:200])
            return
        self.m_messages.inc(outcome="applied")
        if after != before:
            log.info("consent_changed", home=home, before=sorted(before), after=sorted(after))
            if self.on_change is not None:
                self.on_change(home, before, after)

    async def snapshot(self, settle_s: float = 0.3, limit_s: float = 5.0) -> None:
        try:
            await within(self.link.subscribed.wait(), 10.0)
        except TimeoutError:
            log.warning("consent_unavailable", detail="starting with the unrecorded default")
            return
        deadline = time.monotonic() + limit_s
        seen = -1
        while time.monotonic() < deadline and (seen != len(self.book.homes) or self._queue.qsize()):
            seen = len(self.book.homes)
            await asyncio.sleep(settle_s)


def consent_payload(
    home: str, streams: dict[Stream, bool], at: dt.datetime, *, erased: bool = False
) -> bytes:
    body = {
        "home": home,
        "streams": {s.value: on for s, on in streams.items()},
        "at": at.isoformat(),
        "erased": erased,
    }
    return json.dumps(body, separators=(",", ":")).encode()


async def publish_consents(
    settings: MqttSettings, messages: Sequence[tuple[str, bytes]], *, timeout_s: float = 10.0
) -> None:
    """Publish (topic, payload) pairs retained at QoS 1, each acknowledged by the broker;
    raises TimeoutError or LinkDownError when it cannot."""
    if not messages:
        return
    link = Link(
        settings,
        name="consent-publisher",
        client_id=f"hof-consent-{secrets.token_hex(4)}",
        manual_ack=False,
    )
    task = asyncio.create_task(link.run())
    try:
        await within(link.connected.wait(), timeout_s)
        for topic, payload in messages:
            await link.publish(topic, payload, qos=1, retain=True)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
