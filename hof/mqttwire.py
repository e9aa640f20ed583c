"""A lean MQTT consumer on asyncio: ingest's data link, without paho's per-message work.

paho runs a network thread, builds a properties object and calls a callback per message, and
the hand-over to asyncio costs a lock and a wake-up; that was a third of an ingest worker's CPU
(docs/storage.md, "What ingest costs"). Here an `asyncio.Protocol` splits every complete frame
out of what one read brought (often hundreds of PUBLISHes), queues their messages, and the
PUBACKs of a stored batch leave in one write. It speaks what ingest uses of MQTT 5 and 3.1.1
and nothing more:

- CONNECT with a persistent session (clean start false, Session Expiry, Receive Maximum),
  username and password, the HMAC-tagged client id (`hof.mqtt.session_client_id`), TLS when
  the settings say so;
- SUBSCRIBE with QoS 1 and Retain As Published (MQTT 5), shared filters as they come;
- PUBLISH received at QoS 0 or 1, acknowledged only when the caller calls `ack` (after the
  store), and only on the connection it came on: after a reconnect the broker redelivers;
- PUBLISH sent at QoS 0 or 1 (dead letters), PINGREQ for keepalive, DISCONNECT;
- a reconnect loop with jittered backoff.

QoS 2 (never granted: we subscribe at QoS 1), topic aliases (we allow none) and AUTH are
protocol errors that drop the connection. What the broker sends beyond Receive Maximum
waits here, with reading paused, so TCP holds the rest at the broker: nothing is dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog

from hof.mqtt import LinkDownError, session_client_id
from hof.settings import MqttSettings
from hof.waiting import within

__all__ = [
    "ProtocolError",
    "Publish",
    "Subscription",
    "WireDelivery",
    "WireSource",
    "connect_packet",
    "decode_publish",
    "encode_length",
    "publish_packet",
    "split_frames",
    "subscribe_packet",
]

log = structlog.get_logger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x82, 0x90, 0xC0, 0xD0, 0xE0
_PUBACK = struct.Struct(">BBH")
_PINGREQ = b"\xc0\x00"
_DISCONNECT = b"\xe0\x00"
MAX_REMAINING = 268_435_455  # four bytes of remaining length: MQTT's largest frame


class ProtocolError(Exception):
    """The broker sent something this client does not speak: the connection is dropped."""


@dataclass(frozen=True, slots=True)
class Subscription:
    filter: str
    qos: int = 1
    retain_as_published: bool = False


class WireDelivery(msgspec.Struct, frozen=True, gc=False):
    """A message received; `WireSource.ack` it once stored. `connection` numbers the link's
    connections: an acknowledgement is only ever sent on the one the message came on."""

    topic: str
    payload: bytes
    retain: bool
    received_at: float
    qos: int
    packet_id: int
    connection: int


@dataclass(frozen=True, slots=True)
class Publish:
    """One PUBLISH frame, decoded."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int


# -- frames -------------------------------------------------------------------------------------


def encode_length(n: int) -> bytes:
    """MQTT's Variable Byte Integer: 7 bits a byte, low first, 1 to 4 bytes."""
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"{n} does not fit a remaining length")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _varint(buf: bytes | bytearray, pos: int, end: int) -> tuple[int, int] | None:
    """(value, position after it), None if `end` comes first; ProtocolError past 4 bytes."""
    value = shift = 0
    for i in range(pos, min(pos + 4, end)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    if end >= pos + 4:
        raise ProtocolError("a variable byte integer longer than 4 bytes")
    return None


def split_frames(buf: bytes | bytearray) -> tuple[list[tuple[int, int, int]], int]:
    """Every complete frame at the start of `buf` as (first byte, body start, body end), and
    where the incomplete rest begins (what to keep for the next read)."""
    frames: list[tuple[int, int, int]] = []
    pos, size = 0, len(buf)
    while size - pos >= 2:
        length = buf[pos + 1]
        if length < 0x80:
            start = pos + 2
        else:
            found = _varint(buf, pos + 1, size)
            if found is None:
                break
            length, start = found
        end = start + length
        if end > size:
            break
        frames.append((buf[pos], start, end))
        pos = end
    return frames, pos


def _frame_size(start: bytes) -> int:
    """The length of the frame that `start` begins, or one more byte than it holds when its
    fixed header is not all there (so that the next read is looked at)."""
    found = _varint(start, 1, len(start)) if len(start) >= 2 else None
    return len(start) + 1 if found is None else found[1] + found[0]


def _string(buf: bytes | bytearray, pos: int, end: int) -> tuple[str, int]:
    if pos + 2 > end:
        raise ProtocolError("a string runs past its frame")
    stop = pos + 2 + (buf[pos] << 8 | buf[pos + 1])
    if stop > end:
        raise ProtocolError("a string runs past its frame")
    try:
        return buf[pos + 2 : stop].decode(), stop
    except UnicodeDecodeError as exc:
        raise ProtocolError("a string is not UTF-8") from exc


def decode_publish(first: int, buf: bytes | bytearray, start: int, end: int, v5: bool) -> Publish:
    """A PUBLISH frame's topic, payload, QoS, retain and DUP flags and packet id (0 at QoS 0)."""
    qos = (first >> 1) & 3
    if qos == 3:
        raise ProtocolError("PUBLISH with QoS 3")
    topic, pos = _string(buf, start, end)
    packet_id = 0
    if qos:
        if pos + 2 > end:
            raise ProtocolError("PUBLISH without its packet id")
        packet_id = buf[pos] << 8 | buf[pos + 1]
        pos += 2
    if v5:
        found = _varint(buf, pos, end)
        if found is None:
            raise ProtocolError("PUBLISH properties run past the frame")
        length, pos = found
        if pos + length > end:
            raise ProtocolError("PUBLISH properties run past the frame")
        if b"\x23" in buf[pos : pos + length] and _has_topic_alias(buf, pos, pos + length):
            raise ProtocolError("a topic alias, which this client never allows")
        pos += length
    if not topic:
        raise ProtocolError("PUBLISH with an empty topic")
    return Publish(topic, bytes(buf[pos:end]), qos, bool(first & 1), bool(first & 8), packet_id)


# Property identifiers by the size of their value (MQTT 5, 2.2.2.2): what walking them needs.
_BYTE_PROPS = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
_TWO_BYTE_PROPS = frozenset({0x13, 0x21, 0x22, 0x23})
_FOUR_BYTE_PROPS = frozenset({0x02, 0x11, 0x18, 0x27})
_STRING_PROPS = frozenset({0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F})


def properties(buf: bytes | bytearray, pos: int, end: int) -> dict[int, int]:
    """The integer properties in buf[pos:end] by identifier (strings and pairs are skipped)."""
    out: dict[int, int] = {}
    while pos < end:
        ident = buf[pos]
        pos += 1
        if ident in _BYTE_PROPS:
            size = 1
        elif ident in _TWO_BYTE_PROPS:
            size = 2
        elif ident in _FOUR_BYTE_PROPS:
            size = 4
        elif ident == 0x0B:
            found = _varint(buf, pos, end)
            if found is None:
                raise ProtocolError("a property runs past its frame")
            out[ident], pos = found
            continue
        elif ident in _STRING_PROPS:
            pos = _string_end(buf, pos, end)
            continue
        elif ident == 0x26:  # user property: a pair of strings
            pos = _string_end(buf, _string_end(buf, pos, end), end)
            continue
        else:
            raise ProtocolError(f"unknown property 0x{ident:02x}")
        if pos + size > end:
            raise ProtocolError("a property runs past its frame")
        out[ident] = int.from_bytes(buf[pos : pos + size], "big")
        pos += size
    return out


def _string_end(buf: bytes | bytearray, pos: int, end: int) -> int:
    if pos + 2 > end or (stop := pos + 2 + (buf[pos] << 8 | buf[pos + 1])) > end:
        raise ProtocolError("a property runs past its frame")
    return stop


def _has_topic_alias(buf: bytes | bytearray, pos: int, end: int) -> bool:
    return 0x23 in properties(buf, pos, end)


def _frame(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_length(len(body)) + body


def _utf8(text: str) -> bytes:
    data = text.encode()
    if len(data) > 0xFFFF:
        raise ValueError("a string longer than 65,535 bytes")
    return len(data).to_bytes(2, "big") + data


def connect_packet(
    client_id: str,
    *,
    v5: bool,
    keepalive_s: int,
    clean_start: bool,
    username: str | None,
    password: str | None,
    session_expiry_s: int = 0,
    receive_maximum: int | None = None,
) -> bytes:
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0)
    flags |= 0x40 if password is not None else 0
    body = b"\x00\x04MQTT" + bytes([5 if v5 else 4, flags]) + keepalive_s.to_bytes(2, "big")
    if v5:
        props = b""
        if session_expiry_s:
            props += b"\x11" + session_expiry_s.to_bytes(4, "big")
        if receive_maximum:
            props += b"\x21" + receive_maximum.to_bytes(2, "big")
        body += encode_length(len(props)) + props
    body += _utf8(client_id)
    if username is not None:
        body += _utf8(username)
    if password is not None:
        body += _utf8(password)
    return _frame(CONNECT, body)


def subscribe_packet(packet_id: int, subscriptions: Sequence[Subscription], *, v5: bool) -> bytes:
    body = packet_id.to_bytes(2, "big") + (b"\x00" if v5 else b"")
    for s in subscriptions:
        options = s.qos | (0x08 if v5 and s.retain_as_published else 0)
        body += _utf8(s.filter) + bytes([options])
    return _frame(SUBSCRIBE, body)


def publish_packet(
    topic: str, payload: bytes, *, qos: int, retain: bool, packet_id: int, v5: bool
) -> bytes:
    body = _utf8(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    body += (b"\x00" if v5 else b"") + payload
    return _frame(PUBLISH | qos << 1 | int(retain), body)


def puback_packet(packet_id: int) -> bytes:
    """PUBACK, success: MQTT 5 lets the reason code and properties go when they are nil."""
    return _PUBACK.pack(PUBACK, 2, packet_id)


# -- the connection -----------------------------------------------------------------------------


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: frames in, frames out; the source does the rest."""

    def __init__(self, source: WireSource, number: int) -> None:
        self.source = source
        self.number = number
        self.transport: asyncio.Transport | None = None
        self.rest = b""  # the start of a frame that has not all arrived
        self.parts: list[bytes] = []  # it, and what has arrived since
        self.pending = 0  # their length
        self.needed = 0  # the frame's length, once its fixed header has arrived
        self.connack: asyncio.Future[tuple[int, dict[int, int]]] = source.loop.create_future()
        self.suback: asyncio.Future[list[int]] = source.loop.create_future()
        for future in (self.connack, self.suback):  # a failure nobody awaited is no error
            future.add_done_callback(_retrieve)
        self.lost: asyncio.Future[str] = source.loop.create_future()
        self.pubacks: dict[int, asyncio.Future[int]] = {}
        self.acks = bytearray()
        self.flush_due = False
        self.paused = False
        self.last_sent = self.last_received = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        reason = repr(exc) if exc is not None else "closed by the broker"
        if not self.lost.done():
            self.lost.set_result(reason)
        futures: list[asyncio.Future[Any]] = [self.connack, self.suback, *self.pubacks.values()]
        for future in futures:
            if not future.done():
                future.set_exception(LinkDownError(reason))

    def write(self, data: bytes | bytearray) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.last_sent = time.monotonic()

    def close(self, reason: str) -> None:
        if not self.lost.done():
            self.lost.set_result(reason)
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        if self.rest:
            # A frame split over reads: its pieces are kept as they come and joined once it
            # is whole (joining at every read would copy a large frame once a read).
            self.parts.append(data)
            self.pending += len(data)
            if self.pending < self.needed:
                return
            buf = b"".join(self.parts)
        else:
            buf = data
        try:
            frames, used = split_frames(buf)
            self.rest = buf[used:]
            self.parts = [self.rest]
            self.pending = len(self.rest)
            self.needed = _frame_size(self.rest)
            self._handle(buf, frames)
        except ProtocolError as exc:
            log.error("mqtt_protocol_error", link=self.source.name, error=str(exc))
            self.close(f"protocol error: {exc}")

    def _handle(self, buf: bytes, frames: list[tuple[int, int, int]]) -> None:
        source = self.source
        v5 = source.v5
        arrived: list[WireDelivery] = []
        now = time.time()
        number = self.number
        for first, start, end in frames:
            kind = first & 0xF0
            if kind == PUBLISH:
                if end - start < 2:
                    raise ProtocolError("PUBLISH without its topic")
                # The common case inline: QoS 1, no properties.
                tlen = buf[start] << 8 | buf[start + 1]
                pos = start + 2 + tlen
                if first & 0x06 == 0x02 and pos + 2 + v5 <= end and (not v5 or buf[pos + 2] == 0):
                    try:
                        topic = buf[start + 2 : pos].decode()
                    except UnicodeDecodeError as exc:
                        raise ProtocolError("a topic is not UTF-8") from exc
                    if not topic:
                        raise ProtocolError("PUBLISH with an empty topic")
                    packet_id = buf[pos] << 8 | buf[pos + 1]
                    payload = buf[pos + 2 + v5 : end]
                    arrived.append(
                        WireDelivery(topic, payload, bool(first & 1), now, 1, packet_id, number)
                    )
                    continue
                p = decode_publish(first, buf, start, end, v5)
                if p.qos == 2:
                    raise ProtocolError("PUBLISH at QoS 2, never subscribed for")
                arrived.append(
                    WireDelivery(p.topic, p.payload, p.retain, now, p.qos, p.packet_id, number)
                )
            elif kind == PUBACK:
                if end - start < 2:
                    raise ProtocolError("PUBACK without its packet id")
                pid = buf[start] << 8 | buf[start + 1]
                code = buf[start + 2] if end - start > 2 else 0
                future = self.pubacks.pop(pid, None)
                if future is not None and not future.done():
                    future.set_result(code)
            elif kind == PINGRESP:
                pass
            elif kind == CONNACK:
                self._connack(buf, start, end, v5)
            elif kind == SUBACK:
                pos = start + 2
                if v5:
                    found = _varint(buf, pos, end)
                    if found is None or found[0] + found[1] > end:
                        raise ProtocolError("SUBACK properties run past the frame")
                    pos = found[0] + found[1]
                if not self.suback.done():
                    self.suback.set_result(list(buf[pos:end]))
            elif kind == DISCONNECT:
                code = buf[start] if end > start else 0
                self.close(f"DISCONNECT from the broker (reason 0x{code:02x})")
                return
            else:
                raise ProtocolError(f"unexpected packet type 0x{first:02x}")
        if arrived:
            source.arrived(self, arrived)

    def _connack(self, buf: bytes, start: int, end: int, v5: bool) -> None:
        if end - start < 2:
            raise ProtocolError("CONNACK too short")
        props: dict[int, int] = {}
        if v5 and end - start > 2:
            found = _varint(buf, start + 2, end)
            if found is None or found[0] + found[1] > end:
                raise ProtocolError("CONNACK properties run past the frame")
            props = properties(buf, found[1], found[1] + found[0])
        if not self.connack.done():
            self.connack.set_result((buf[start + 1], props))

    def ack(self, packet_id: int) -> None:
        self.acks += _PUBACK.pack(PUBACK, 2, packet_id)
        if not self.flush_due:
            self.flush_due = True
            self.source.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Every PUBACK asked for since the last flush, in one write."""
        self.flush_due = False
        if self.acks:
            acks, self.acks = self.acks, bytearray()
            self.write(acks)


class WireSource:
    """A persistent MQTT session's messages, acknowledged once stored: the `hof.source.Source`
    face on `WireDelivery`s, over one connection at a time that keeps itself up until cancelled.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        name: str,
        client_id: str,
        queue: asyncio.Queue[WireDelivery],
        subscriptions: Sequence[Subscription],
        clean_start: bool = False,
        session_expiry_s: int = 0,
        receive_maximum: int | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.session_name = client_id
        self.queue = queue
        self.subscriptions = list(subscriptions)
        self.clean_start = clean_start
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.v5 = settings.protocol == "5"
        self.username = settings.username
        self.password = settings.password.get_secret_value() if settings.password else None
        self.client_id = session_client_id(client_id, self.password)
        self.loop = asyncio.get_running_loop()
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.waits = 0  # times reading was paused for want of room: the consumer is behind
        self.connections = 0
        self.keepalive_s = settings.keepalive_s
        self._conn: _Connection | None = None
        # Messages that found the queue full, in order, waiting for room (reading paused).
        self._held: collections.deque[WireDelivery] = collections.deque()
        self._next_id = 0

    # -- from the connection ------------------------------------------------------------------

    def arrived(self, conn: _Connection, messages: list[WireDelivery]) -> None:
        queue, held = self.queue, self._held
        room = queue.maxsize - queue.qsize() if queue.maxsize > 0 else len(messages)
        if held or room < len(messages):
            held.extend(messages)
            self._refill()
            if held and not conn.paused and conn.transport is not None:
                conn.paused = True
                conn.transport.pause_reading()
                self.waits += 1
            return
        put = queue.put_nowait
        for message in messages:
            put(message)

    def _refill(self) -> None:
        queue, held = self.queue, self._held
        while held and not queue.full():
            queue.put_nowait(held.popleft())
        conn = self._conn
        if not held and conn is not None and conn.paused and conn.transport is not None:
            conn.paused = False
            conn.last_received = time.monotonic()
            conn.transport.resume_reading()

    # -- the Source face ----------------------------------------------------------------------

    async def get(self) -> WireDelivery:
        delivery = await self.queue.get()
        if self._held:
            self._refill()
        return delivery

    def get_nowait(self) -> WireDelivery:
        delivery = self.queue.get_nowait()
        if self._held:
            self._refill()
        return delivery

    def ack(self, delivery: WireDelivery) -> None:
        """Acknowledge a stored message on the connection it came on (if still up); the
        PUBACKs asked for in one pass of the event loop leave in one write."""
        conn = self._conn
        if delivery.qos and conn is not None and delivery.connection == conn.number:
            conn.ack(delivery.packet_id)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and, at QoS 1, wait for the broker's PUBACK; LinkDownError otherwise."""
        conn = self._conn
        if conn is None or conn.transport is None or not self.connected.is_set():
            raise LinkDownError(f"{self.name}: not connected")
        packet_id = 0
        future: asyncio.Future[int] | None = None
        if qos:
            packet_id = self._packet_id(conn)
            future = self.loop.create_future()
            conn.pubacks[packet_id] = future
        try:
            frame = publish_packet(
                topic, payload, qos=qos, retain=retain, packet_id=packet_id, v5=self.v5
            )
        except ValueError as exc:
            conn.pubacks.pop(packet_id, None)
            raise LinkDownError(f"{self.name}: cannot publish to {topic[:80]}: {exc}") from exc
        conn.write(frame)
        if future is None:
            return
        if conn.paused and conn.transport is not None:
            # Its PUBACK is behind what reading was paused for: read on (what comes waits in
            # `_held`), or the writer publishing a dead letter would wait for it for ever.
            conn.paused = False
            conn.transport.resume_reading()
        try:
            code = await within(future, self.settings.timeout_s)
        except TimeoutError as exc:
            conn.pubacks.pop(packet_id, None)
            raise LinkDownError(f"{self.name}: no PUBACK for {topic}") from exc
        if code >= 0x80:
            log.warning("mqtt_publish_refused", link=self.name, topic=topic, reason=code)

    def _packet_id(self, conn: _Connection) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in conn.pubacks:
                return self._next_id
        raise LinkDownError(f"{self.name}: 65,535 publishes awaiting PUBACK")

    # -- the connection's life ----------------------------------------------------------------

    async def run(self) -> None:
        """Connect, stay connected, reconnect with backoff and jitter; returns only by cancel."""
        backoff = 0.5
        while True:
            self.connections += 1
            conn = _Connection(self, self.connections)
            try:
                await self._connect(conn)
                backoff = 0.5
                reason = await self._stay(conn)
                log.warning("mqtt_disconnected", link=self.name, reason=reason)
            except (OSError, TimeoutError, LinkDownError, ProtocolError) as exc:
                log.warning("mqtt_connect_failed", link=self.name, error=str(exc), retry_s=backoff)
            finally:
                self.connected.clear()
                self.subscribed.clear()
                self._conn = None
                await self._close(conn)
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            # Capped low, as `hof.mqtt.Link`'s: while ingest is away after a broker restart its
            # shared subscription does not exist (Mosquitto 2.0.11 does not restore it).
            backoff = min(backoff * 2, 5.0)

    async def _connect(self, conn: _Connection) -> None:
        s = self.settings
        context: ssl.SSLContext | None = None
        if s.tls:
            context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        factory: Callable[[], asyncio.Protocol] = lambda: conn  # noqa: E731
        await within(
            self.loop.create_connection(
                factory, s.host, s.port, ssl=context, server_hostname=s.host if context else None
            ),
            s.timeout_s,
        )
        conn.write(
            connect_packet(
                self.client_id,
                v5=self.v5,
                keepalive_s=s.keepalive_s,
                clean_start=self.clean_start,
                username=self.username,
                password=self.password,
                session_expiry_s=self.session_expiry_s,
                receive_maximum=self.receive_maximum,
            )
        )
        code, props = await within(conn.connack, s.timeout_s)
        if code != 0:
            raise LinkDownError(f"{self.name}: broker refused the connection: reason 0x{code:02x}")
        self.keepalive_s = props.get(0x13, s.keepalive_s)  # Server Keep Alive overrides ours
        self._conn = conn
        self.connected.set()
        log.info(
            "mqtt_connected",
            link=self.name,
            broker=f"{s.host}:{s.port}",
            client_id=self.session_name,  # the name only: the id is as good as a secret
        )
        if self.subscriptions:
            conn.write(subscribe_packet(1, self.subscriptions, v5=self.v5))
            codes = await within(conn.suback, s.timeout_s)
            refused = [f"0x{c:02x}" for c in codes if c >= 0x80]
            if refused:
                log.error("mqtt_subscribe_refused", link=self.name, reasons=refused)
        self.subscribed.set()

    async def _stay(self, conn: _Connection) -> str:
        """Ping while the link is up; the reason it went down."""
        keepalive = self.keepalive_s
        if not keepalive:
            return await conn.lost
        tick = keepalive / 4
        while True:
            with contextlib.suppress(TimeoutError):
                return await within(asyncio.shield(conn.lost), tick)
            now = time.monotonic()
            if now - conn.last_sent >= keepalive / 2:
                conn.write(_PINGREQ)
            if not conn.paused and now - conn.last_received > keepalive * 1.5:
                conn.close(f"nothing from the broker in {keepalive * 1.5:g} s")

    async def _close(self, conn: _Connection) -> None:
        transport = conn.transport
        if transport is None:
            return
        conn.flush()
        with contextlib.suppress(Exception):
            transport.write(_DISCONNECT)
        transport.close()
        with contextlib.suppress(Exception):
            await within(asyncio.shield(conn.lost), 1.0)
        if conn.transport is not None:
            conn.transport.abort()
