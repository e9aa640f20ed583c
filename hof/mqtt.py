"""One MQTT link: paho 2.x with manual acknowledgements, an asyncio face, one reconnect loop.

Why not aiomqtt here: it acknowledges a message as soon as paho receives it and drops messages
when its queue is full. The platform acknowledges only once a message is stored, and lets the
broker hold what it cannot take yet: MQTT 5 Receive Maximum asks the broker to send no more
than that many unacknowledged messages, and because Mosquitto 2.0.11 was seen to exceed it
while acknowledgements flow, the paho thread also waits for room in the queue before handing a
message over (TCP back-pressure then holds the rest at the broker). Nothing is ever dropped.
Each connection is a fresh paho client: an acknowledgement can only ever go to the connection
the message came on, and after a reconnect the broker redelivers whatever was not acknowledged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import random
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from hof.errors import HofError
from hof.settings import MqttSettings
from hof.waiting import within

__all__ = ["Delivery", "Link", "LinkDownError", "Will", "session_client_id"]

log = structlog.get_logger(__name__)


def session_client_id(name: str, password: str | None) -> str:
    """The MQTT client id of the session called `name`: the name and a tag derived from the
    credential (HMAC-SHA256 keyed with its password).

    The same service finds the same persistent session on every start, and nobody without the
    credential can name it: a guessable id (`hof-ingest-1`) let any client that may choose its
    id resume the ingest worker's session and take the messages queued for it.
    """
    if not password:
        return name
    tag = hmac.new(password.encode(), name.encode(), hashlib.sha256).hexdigest()[:16]
    return f"{name}-{tag}"


class LinkDownError(HofError):
    """The MQTT link is not connected, or a publish was not acknowledged in time."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message received on a link; `Link.ack` it once it is safely stored."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    received_at: float
    connection: paho.Client = field(repr=False, compare=False)


class Link:
    """A named MQTT connection that keeps itself connected until cancelled."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        name: str,
        client_id: str,
        queue: asyncio.Queue[Delivery] | None = None,
        subscriptions: Sequence[tuple[str, int | SubscribeOptions]] = (),
        clean_start: bool = True,
        session_expiry_s: int = 0,
        receive_maximum: int | None = None,
        manual_ack: bool = True,
        will: Will | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.session_name = client_id
        self.queue = queue
        self.subscriptions = [
            (f, o if isinstance(o, SubscribeOptions) else SubscribeOptions(qos=o))
            for f, o in subscriptions
        ]
        self.clean_start = clean_start
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.manual_ack = manual_ack
        self.will = will
        self.v5 = settings.protocol == "5"
        self.username = username if username is not None else settings.username
        if password is None and settings.password is not None:
            password = settings.password.get_secret_value()
        self.password = password
        self.client_id = session_client_id(client_id, password)
        # Room in `queue`, counted where paho's thread can wait for it.
        self._room = threading.Semaphore(queue.maxsize if queue is not None else 0)
        # Messages from paho's thread on their way to `queue`, handed over by one loop callback
        # a burst: each `call_soon_threadsafe` writes a byte to asyncio's self-pipe, and one
        # a message filled it in a burst of a thousand (losing a SIGTERM's byte with it).
        self._arriving: collections.deque[Delivery] = collections.deque()
        self._arriving_lock = threading.Lock()
        self._handover_due = False
        self._closing = False
        self.waits = 0  # times paho's thread waited for room: the consumer is the bottleneck
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.connections = 0
        self._client: paho.Client | None = None
        self._loop = asyncio.get_running_loop()

    # -- the paho thread's callbacks: hand everything to the event loop --------------------

    def _new_client(self) -> tuple[paho.Client, asyncio.Future[ReasonCode], asyncio.Future[str]]:
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
            # MQTT 3.1.1 (NATS's listener): a persistent session is clean_session=False.
            clean_session=None if self.v5 else self.clean_start,
            manual_ack=self.manual_ack,
            reconnect_on_failure=False,
        )
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.settings.tls:
            context = ssl.create_default_context(
                cafile=str(self.settings.ca_file) if self.settings.ca_file else None
            )
            client.tls_set_context(context)
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        client.max_inflight_messages_set(100)
        connack: asyncio.Future[ReasonCode] = self._loop.create_future()
        lost: asyncio.Future[str] = self._loop.create_future()

        def settle(future: asyncio.Future[Any], value: Any) -> None:
            if not future.done():
                future.set_result(value)

        def on_connect(c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
            if not rc.is_failure and self.subscriptions:
                if self.v5:
                    c.subscribe(self.subscriptions)
                else:  # subscription options are MQTT 5's: 3.1.1 has the QoS alone
                    c.subscribe([(f, o.QoS) for f, o in self.subscriptions])
            self._loop.call_soon_threadsafe(settle, connack, rc)

        def on_disconnect(c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
            self._loop.call_soon_threadsafe(settle, lost, str(rc))

        def on_subscribe(
            c: paho.Client, _u: Any, _m: int, codes: list[ReasonCode], _p: Any
        ) -> None:
            refused = [str(code) for code in codes if code.is_failure]
            self._loop.call_soon_threadsafe(self._subscribed, refused)

        def on_message(c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
            if self.queue is None:
                return
            if not self._room.acquire(blocking=False):
                self.waits += 1
                while not self._room.acquire(timeout=0.5):
                    if self._closing or c is not self._client:
                        return  # not acknowledged: the broker redelivers it
            delivery = Delivery(
                msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), msg.mid, time.time(), c
            )
            self._arriving.append(delivery)
            with self._arriving_lock:
                if self._handover_due:
                    return  # the callback already asked for will take this one too
                self._handover_due = True
            self._loop.call_soon_threadsafe(self._hand_over)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        return client, connack, lost

    def _hand_over(self) -> None:
        """On the loop: move what paho's thread received into the queue, in order. Cleared
        before draining, so a message appended meanwhile is drained now or asks again."""
        with self._arriving_lock:
            self._handover_due = False
        assert self.queue is not None
        while self._arriving:
            self.queue.put_nowait(self._arriving.popleft())  # room was taken in paho's thread

    def _subscribed(self, refused: list[str]) -> None:
        if refused:
            log.error("mqtt_subscribe_refused", link=self.name, reasons=refused)
        self.subscribed.set()

    # -- the public face -----------------------------------------------------------------

    async def get(self) -> Delivery:
        """The next message received (use this, not the queue, so its room is given back)."""
        assert self.queue is not None
        delivery = await self.queue.get()
        self._room.release()
        return delivery

    def get_nowait(self) -> Delivery:
        """The next message if one is waiting; asyncio.QueueEmpty otherwise."""
        assert self.queue is not None
        delivery = self.queue.get_nowait()
        self._room.release()
        return delivery

    def ack(self, delivery: Delivery) -> None:
        """Acknowledge a stored message, if the connection it came on is still the live one."""
        if delivery.qos and self.manual_ack and delivery.connection is self._client:
            delivery.connection.ack(delivery.mid, delivery.qos)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and, for QoS 1, wait for the broker's PUBACK; LinkDownError otherwise."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise LinkDownError(f"{self.name}: not connected")
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise LinkDownError(f"{self.name}: publish refused: {paho.error_string(info.rc)}")
        if qos == 0:
            return
        timeout = self.settings.timeout_s
        try:
            await within(asyncio.to_thread(info.wait_for_publish, timeout), timeout + 1)
        except (TimeoutError, RuntimeError, ValueError) as exc:
            raise LinkDownError(f"{self.name}: no PUBACK for {topic}: {exc}") from exc
        if not info.is_published():
            raise LinkDownError(f"{self.name}: no PUBACK for {topic} within {timeout:g} s")

    async def run(self) -> None:
        """Connect, stay connected, reconnect with backoff and jitter; returns only by cancel."""
        backoff = 0.5
        while True:
            client, connack, lost = self._new_client()
            try:
                await self._connect(client, connack)
                backoff = 0.5
                reason = await lost
                log.warning("mqtt_disconnected", link=self.name, reason=reason)
            except (OSError, TimeoutError, LinkDownError) as exc:
                log.warning("mqtt_connect_failed", link=self.name, error=str(exc), retry_s=backoff)
            finally:
                self.connected.clear()
                self.subscribed.clear()
                self._client = None
                await self._close(client)
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            # Capped low: while a platform service is away after a broker restart, its shared
            # subscription does not exist (Mosquitto 2.0.11 does not restore it), so every
            # second of reconnect delay is a second in which messages have nowhere to go.
            backoff = min(backoff * 2, 5.0)

    async def _connect(self, client: paho.Client, connack: asyncio.Future[ReasonCode]) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self.session_expiry_s:
            props.SessionExpiryInterval = self.session_expiry_s
        if self.receive_maximum:
            props.ReceiveMaximum = self.receive_maximum
        timeout = self.settings.timeout_s
        v5_only: dict[str, Any] = (
            {"clean_start": self.clean_start, "properties": props} if self.v5 else {}
        )
        await within(
            asyncio.to_thread(
                client.connect,
                self.settings.host,
                self.settings.port,
                self.settings.keepalive_s,
                **v5_only,
            ),
            timeout,
        )
        self._client = client
        client.loop_start()
        rc = await within(connack, timeout)
        if rc.is_failure:
            raise LinkDownError(f"{self.name}: broker refused the connection: {rc}")
        self.connections += 1
        self._closing = False
        self.connected.set()
        log.info(
            "mqtt_connected",
            link=self.name,
            broker=f"{self.settings.host}:{self.settings.port}",
            client_id=self.session_name,  # the name only: the id is as good as a secret
        )

    async def _close(self, client: paho.Client) -> None:
        self._closing = True
        with contextlib.suppress(Exception):
            client.disconnect()
        await asyncio.shield(asyncio.to_thread(client.loop_stop))
