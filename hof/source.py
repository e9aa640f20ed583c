"""Where a service's stream comes from: an MQTT session (Mosquitto) or a JetStream consumer (NATS).

Both give the same face (`Source`): `run` keeps the link up until cancelled, `get` hands over the
next message, `ack` tells the broker it is stored, `publish` sends one (dead letters). A service
has one code path above it; `open_source` picks the implementation from the settings.

On NATS, MQTT topics are NATS subjects with `/` turned into `.`: NATS 2.9 refuses an MQTT topic
with a `.` in a level (it closes the client's connection), so on that broker home and device
ids must not hold one, although the contract allows it (docs/scaling.md). `subject_to_topic`
is then unambiguous; `topic_to_subject` refuses such an id rather than map it.

On NATS, ingest reads the stream where NATS's MQTT listener stores every QoS 1 publish
(`$MQTT_msgs`) before it acknowledges it to the device: an acknowledged reading is replicated
before the device forgets it, whichever node is lost (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import structlog
from paho.mqtt.subscribeoptions import SubscribeOptions

from hof.errors import ContractError, Reason
from hof.mqtt import LinkDownError
from hof.mqttwire import Subscription, WireSource
from hof.settings import NatsSettings, Settings

__all__ = [
    "MQTT_STREAM",
    "JetStreamDelivery",
    "JetStreamSource",
    "Message",
    "Source",
    "ensure_mqtt_stream",
    "open_source",
    "subject_to_topic",
    "topic_to_subject",
]

log = structlog.get_logger(__name__)

# NATS 2.9's own stream of MQTT QoS 1 publishes (server/mqtt.go: mqttStreamName): each is stored
# there under `$MQTT.msgs.<subject>`, with a JetStream request that must succeed before the
# PUBACK goes out. NATS makes it with interest retention (a message kept until every consumer
# whose filter matches it has acknowledged it, one that no consumer matches not kept at all);
# we make it first, with limits retention (`ensure_mqtt_stream`).
MQTT_STREAM = "$MQTT_msgs"
MQTT_SUBJECT_PREFIX = "$MQTT.msgs."


async def ensure_mqtt_stream(
    js: Any, *, replicas: int, max_age_s: float
) -> Literal["made", "limits", "interest"]:
    """Create NATS's MQTT stream before its MQTT layer does (the account's first MQTT client),
    with limits retention: every message kept `max_age_s`, whoever has acknowledged it.

    NATS 2.9 would make it with interest retention, where each replica deletes a message once
    the consumers it knows of have acknowledged it; across a leader's loss that lost stored,
    acknowledged readings before ingest's consumer read them (docs/scaling.md). Its MQTT layer
    uses the stream it finds. Says whether it made it, or found it with limits retention, or
    with interest retention (made by NATS first: a warning, 2.9 cannot change retention)."""
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(MQTT_STREAM)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=MQTT_STREAM,
                subjects=[f"{MQTT_SUBJECT_PREFIX}>"],
                storage=StorageType.FILE,
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                max_age=max_age_s,
                num_replicas=replicas,
            )
        )
        log.info("jetstream_stream_created", stream=MQTT_STREAM, replicas=replicas)
        return "made"
    if info.config.retention == RetentionPolicy.LIMITS:
        return "limits"
    log.warning(
        "jetstream_stream_interest_retention",
        stream=MQTT_STREAM,
        why="made by NATS's MQTT layer before us; a stream leader's loss can lose readings",
    )
    return "interest"


class Message(Protocol):
    """What a consumer reads of a message, whichever broker it came from."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def retain(self) -> bool: ...
    @property
    def received_at(self) -> float: ...


class Source(Protocol):
    """A stream of messages acknowledged one by one once they are safely handled."""

    connected: asyncio.Event
    subscribed: asyncio.Event
    waits: int

    async def run(self) -> None: ...
    async def get(self) -> Any: ...
    def get_nowait(self) -> Any: ...
    def ack(self, delivery: Any) -> None: ...
    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None: ...


def topic_to_subject(topic: str) -> str:
    """The NATS subject of an MQTT topic; ContractError when a level holds a `.`."""
    levels = topic.split("/")
    if any("." in level for level in levels):
        raise ContractError(
            Reason.BAD_TOPIC, f"{topic!r} has a '.' in a level, which NATS 2.9 refuses"
        )
    return ".".join(levels)


def subject_to_topic(subject: str) -> str:
    """The MQTT topic of a NATS subject (no level of ours holds a `.` on NATS)."""
    return subject.replace(".", "/")


@dataclass(frozen=True, slots=True)
class JetStreamDelivery:
    """A message fetched from a JetStream consumer; `JetStreamSource.ack` it once stored."""

    topic: str
    payload: bytes
    received_at: float
    msg: Any = field(repr=False, compare=False)  # nats.aio.msg.Msg
    retain: bool = False  # JetStream has no retained messages; MQTT's are in their own stream
    qos: int = 1


class JetStreamSource:
    """Durable pull consumers on NATS's stream of MQTT QoS 1 publishes, explicitly acknowledged.

    One consumer per channel (`{durable}-{channel}`, filtered to `$MQTT.msgs.hof.v1.*.*.{channel}`:
    NATS 2.9 gives a consumer one filter), shared by every worker of the service, so they split
    the stream. The stream is NATS's (`MQTT_STREAM`), made with limits retention when missing
    (`ensure_mqtt_stream`; the cluster's start makes it before any MQTT client connects). The
    consumers are created when missing and start from the oldest message the stream holds, so
    what devices published before they existed is stored too (up to `nats.stream_max_age_s`
    back). Each consumer has at most `nats.max_ack_pending` messages out
    unacknowledged (the server stops delivering past it) and at most `queue.maxsize` are held
    here: fetching asks for no more than there is room for.
    """

    def __init__(
        self,
        settings: NatsSettings,
        *,
        durable: str,
        channels: Sequence[str],
        queue: asyncio.Queue[JetStreamDelivery],
    ) -> None:
        self.settings = settings
        self.durable = durable
        self.filters = {f"{durable}-{c}": f"{MQTT_SUBJECT_PREFIX}hof.v1.*.*.{c}" for c in channels}
        self.queue = queue
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.waits = 0
        self._nc: Any = None
        self._backoff = 0.2
        self._acks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Connect (nats-py fails over between the cluster's nodes), bind the consumer, fetch;
        any failure: back off with jitter and bind again. Returns only by cancel."""
        import nats

        s = self.settings

        async def disconnected() -> None:
            self.connected.clear()
            log.warning("nats_disconnected")

        async def reconnected() -> None:
            self.connected.set()
            log.info("nats_reconnected", server=str(self._nc.connected_url.netloc))

        async def error(exc: Exception) -> None:
            log.warning("nats_error", error=str(exc))

        password = s.password.get_secret_value() if s.password else None
        self._backoff = 0.2
        while self._nc is None:  # nats-py reconnects by itself only once it has connected
            try:
                self._nc = await nats.connect(
                    servers=s.servers,
                    user=s.username,
                    password=password,
                    name=self.durable,
                    connect_timeout=s.timeout_s,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    disconnected_cb=disconnected,
                    reconnected_cb=reconnected,
                    error_cb=error,
                )
            except Exception as exc:  # no node answers yet
                log.warning("nats_connect_failed", error=repr(exc), retry_s=self._backoff)
                await self._pause()
        self.connected.set()
        log.info("nats_connected", server=str(self._nc.connected_url.netloc))
        try:
            while True:
                try:
                    await self._consume()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the cluster electing a leader, a node gone: retry
                    self.subscribed.clear()
                    log.warning("jetstream_retry", error=repr(exc), retry_s=self._backoff)
                    await self._pause()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._nc.close())

    async def _pause(self) -> None:
        await asyncio.sleep(self._backoff * random.uniform(0.5, 1.5))
        self._backoff = min(self._backoff * 2, 5.0)

    async def _consume(self) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        s = self.settings
        js = self._nc.jetstream(timeout=s.timeout_s)
        await ensure_mqtt_stream(js, replicas=s.replicas, max_age_s=s.stream_max_age_s)
        subs = []
        try:
            for name, subject in self.filters.items():
                config = ConsumerConfig(
                    durable_name=name,
                    filter_subject=subject,
                    # What the stream still holds when the consumer is first made (up to
                    # `nats.stream_max_age_s` back) is stored too.
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=s.ack_wait_s,
                    max_ack_pending=s.max_ack_pending,
                    # Replicas unset: the stream's, however many copies it was made with.
                )
                # Idempotent for the same config: every worker of the service shares it.
                await js.add_consumer(MQTT_STREAM, config)
                subs.append(await js.pull_subscribe_bind(durable=name, stream=MQTT_STREAM))
            self.subscribed.set()
            self._backoff = 0.2
            log.info("jetstream_consuming", stream=MQTT_STREAM, consumers=list(self.filters))
            async with asyncio.TaskGroup() as tg:
                for sub in subs:
                    tg.create_task(self._fetch(sub, share=len(subs)))
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _fetch(self, sub: Any, *, share: int) -> None:
        """Fetch from one consumer into the queue, asking for at most its `share` of the room."""
        from nats.errors import TimeoutError as NatsTimeout

        me = asyncio.current_task()
        while True:
            # nats-py waits for a message with asyncio.wait_for, which on Python 3.11 returns
            # the message and drops a cancel that lands as it arrives: the task would fetch on,
            # cancelled in name only, and a draining worker never exit.
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
            room = self.queue.maxsize - self.queue.qsize()
            if room <= 0:
                self.waits += 1
                await asyncio.sleep(0.01)
                continue
            try:
                msgs = await sub.fetch(min(max(1, room // share), 500), timeout=1.0)
            except (NatsTimeout, TimeoutError):
                continue
            if me is not None and me.cancelling():
                # The cancel was spent inside the fetch. Putting these would wait for room that
                # a draining worker never makes; unacknowledged, JetStream redelivers them.
                raise asyncio.CancelledError
            now = time.time()
            for msg in msgs:
                topic = subject_to_topic(msg.subject.removeprefix(MQTT_SUBJECT_PREFIX))
                # Never more than the room asked for, but another consumer's fetch may have
                # landed meanwhile: wait for room rather than drop.
                await self.queue.put(JetStreamDelivery(topic, msg.data, now, msg))

    async def get(self) -> JetStreamDelivery:
        return await self.queue.get()

    def get_nowait(self) -> JetStreamDelivery:
        return self.queue.get_nowait()

    def ack(self, delivery: JetStreamDelivery) -> None:
        """Acknowledge a stored message (sent without waiting: a lost ack is a redelivery,
        which storage makes harmless)."""
        task = asyncio.get_running_loop().create_task(self._ack(delivery))
        self._acks.add(task)
        task.add_done_callback(self._acks.discard)

    async def _ack(self, delivery: JetStreamDelivery) -> None:
        try:
            await delivery.msg.ack()
        except Exception as exc:  # redelivered after ack_wait; stored once all the same
            log.warning("jetstream_ack_failed", topic=delivery.topic, error=repr(exc))

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish on the subject of `topic` (MQTT subscribers receive it); flushed for QoS 1."""
        if self._nc is None or not self.connected.is_set():
            raise LinkDownError("nats: not connected")
        try:
            await self._nc.publish(topic_to_subject(topic), payload)
            if qos:
                await self._nc.flush(timeout=self.settings.timeout_s)
        except ContractError:
            raise
        except Exception as exc:
            raise LinkDownError(f"nats: publish to {topic} failed: {exc!r}") from exc


def open_source(
    settings: Settings,
    *,
    name: str,
    client_id: str,
    durable: str,
    channels: Sequence[str],
    subscriptions: Sequence[tuple[str, int | SubscribeOptions]],
    queue: asyncio.Queue[Any],
    session_expiry_s: int,
    receive_maximum: int,
) -> Source:
    """The service's stream on the broker the settings name (`nats.broker`), into `queue`."""
    if settings.nats.broker == "nats":
        return JetStreamSource(settings.nats, durable=durable, channels=channels, queue=queue)
    # Our own lean consumer (hof.mqttwire), not paho's `Link`: a third of ingest's CPU went
    # to paho's per-message work.
    return WireSource(
        settings.mqtt,
        name=name,
        client_id=client_id,
        queue=queue,
        subscriptions=[
            Subscription(f, o, False)
            if isinstance(o, int)
            else Subscription(f, o.QoS, bool(o.retainAsPublished))
            for f, o in subscriptions
        ],
        clean_start=False,
        session_expiry_s=session_expiry_s,
        receive_maximum=receive_maximum,
    )
