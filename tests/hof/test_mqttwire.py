"""The lean MQTT consumer: frames byte for byte, split and joined reads, and a real Mosquitto."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from hof.mqttwire import (
    ProtocolError,
    Publish,
    Subscription,
    WireDelivery,
    WireSource,
    _Connection,
    connect_packet,
    decode_publish,
    encode_length,
    puback_packet,
    publish_packet,
    split_frames,
    subscribe_packet,
)
from hof.settings import MqttSettings, Settings
from hof.stack import Stack
from hof.stack.mosquitto import TlsListener

# -- frames, byte for byte --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "wire"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_takes_one_to_four_bytes(n: int, wire: bytes) -> None:
    assert encode_length(n) == wire
    frame = b"\xd0" + wire + bytes(min(n, 20_000))
    frames, used = split_frames(frame)
    if n <= 20_000:
        assert frames == [(0xD0, 1 + len(wire), 1 + len(wire) + n)]
        assert used == len(frame)
    else:  # the body has not all arrived yet: nothing is split off
        assert (frames, used) == ([], 0)


def test_a_remaining_length_of_five_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_length(268_435_456)
    with pytest.raises(ProtocolError):
        split_frames(b"\x30\xff\xff\xff\xff\x01")


def test_connect_is_a_persistent_mqtt5_session_with_credentials() -> None:
    packet = connect_packet(
        "ingest-1a2b",
        v5=True,
        keepalive_s=30,
        clean_start=False,
        username="svc",
        password="pw",
        session_expiry_s=604_800,
        receive_maximum=2000,
    )
    body = (
        b"\x00\x04MQTT\x05\xc0\x00\x1e"  # level 5; username and password; clean start off
        b"\x08\x11\x00\x09\x3a\x80\x21\x07\xd0"  # Session Expiry 604,800 s, Receive Maximum
        b"\x00\x0bingest-1a2b\x00\x03svc\x00\x02pw"
    )
    assert packet == b"\x10" + bytes([len(body)]) + body


def test_connect_in_mqtt311_has_clean_session_and_no_properties() -> None:
    packet = connect_packet(
        "c", v5=False, keepalive_s=60, clean_start=True, username=None, password=None
    )
    assert packet == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01c"


def test_subscribe_asks_qos1_and_retain_as_published_in_mqtt5_only() -> None:
    subs = [Subscription("$share/g/hof/v1/+/+/reading", 1, True)]
    v5 = subscribe_packet(1, subs, v5=True)
    assert v5 == b"\x82\x21\x00\x01\x00\x00\x1b$share/g/hof/v1/+/+/reading\x09"
    v311 = subscribe_packet(1, subs, v5=False)
    assert v311 == b"\x82\x20\x00\x01\x00\x1b$share/g/hof/v1/+/+/reading\x01"


def test_puback_is_four_bytes() -> None:
    assert puback_packet(0x1234) == b"\x40\x02\x12\x34"


def test_publish_with_properties_decodes_in_mqtt5() -> None:
    # QoS 1, retain, DUP; Message Expiry (4 bytes) and a user property before the payload
    props = b"\x02\x00\x00\x00\x3c" + b"\x26\x00\x01k\x00\x01v"
    body = b"\x00\x03a/b\x00\x07" + bytes([len(props)]) + props + b"{}"
    frame = b"\x3b" + encode_length(len(body)) + body
    ((first, start, end),) = split_frames(frame)[0]
    assert decode_publish(first, frame, start, end, True) == Publish("a/b", b"{}", 1, True, True, 7)


def test_publish_at_qos0_has_no_packet_id() -> None:
    frame = publish_packet("a/b", b"xy", qos=0, retain=False, packet_id=0, v5=False)
    assert frame == b"\x30\x07\x00\x03a/bxy"
    ((first, start, end),) = split_frames(frame)[0]
    assert decode_publish(first, frame, start, end, False) == Publish(
        "a/b", b"xy", 0, False, False, 0
    )


@pytest.mark.parametrize(
    "frame",
    [
        b"\x32\x05\x00\x00\x00\x01\x00",  # an empty topic
        b"\x32\x04\x00\x09a/",  # a topic longer than the frame
        b"\x32\x08\x00\x01a\x00\x01\x03\x23\x00",  # a topic alias
        b"\x36\x06\x00\x01a\x00\x01\x00",  # QoS 3
    ],
)
def test_malformed_publishes_are_protocol_errors(frame: bytes) -> None:
    ((first, start, end),) = split_frames(frame)[0]
    with pytest.raises(ProtocolError):
        decode_publish(first, frame, start, end, True)


# -- one connection's bytes, fed as TCP may cut them -------------------------------------------


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.paused = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.aborted

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True


def _wired(v5: bool, maxsize: int = 0) -> tuple[WireSource, _Connection, _Transport]:
    settings = MqttSettings(protocol="5" if v5 else "3.1.1")
    queue: asyncio.Queue[WireDelivery] = asyncio.Queue(maxsize)
    source = WireSource(settings, name="t", client_id="t", queue=queue, subscriptions=[])
    conn = _Connection(source, 1)
    transport = _Transport()
    conn.connection_made(transport)
    source._conn = conn
    return source, conn, transport


def _drain(source: WireSource) -> list[WireDelivery]:
    out = []
    while not source.queue.empty():
        out.append(source.get_nowait())
    return out


publishes = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=40).filter(lambda t: "\x00" not in t),
        st.binary(max_size=300),
        st.sampled_from([0, 1]),
        st.booleans(),
        st.integers(1, 65535),
        st.sampled_from([b"", b"\x02\x00\x00\x00\x3c", b"\x01\x01"]),
    ),
    min_size=1,
    max_size=20,
)


def _publish_frame(
    topic: str, payload: bytes, qos: int, retain: bool, pid: int, props: bytes, v5: bool
) -> bytes:
    body = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    body += pid.to_bytes(2, "big") if qos else b""
    body += (encode_length(len(props)) + props if v5 else b"") + payload
    return bytes([0x30 | qos << 1 | int(retain)]) + encode_length(len(body)) + body


@hsettings(max_examples=150, deadline=None)
@given(messages=publishes, cuts=st.lists(st.integers(0, 10_000), max_size=8), v5=st.booleans())
def test_any_cut_of_the_stream_gives_every_publish_once_in_order(
    messages: list[tuple[str, bytes, int, bool, int, bytes]], cuts: list[int], v5: bool
) -> None:
    async def check() -> None:
        source, conn, _ = _wired(v5)
        stream = b"".join(
            _publish_frame(t, p, q, r, i, props if v5 else b"", v5)
            for t, p, q, r, i, props in messages
        )
        stream += b"\xd0\x00"  # a PINGRESP among them is read and dropped
        points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
        for a, b in itertools.pairwise(points):
            conn.data_received(stream[a:b])
        got = [(d.topic, d.payload, d.qos, d.retain, d.packet_id) for d in _drain(source)]
        want = [(t, p, q, r, i if q else 0) for t, p, q, r, i, _ in messages]
        assert got == want
        assert conn.rest == b""

    asyncio.run(check())


@hsettings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), v5=st.booleans())
def test_garbage_never_escapes_as_anything_but_a_dropped_connection(data: bytes, v5: bool) -> None:
    async def check() -> None:
        source, conn, transport = _wired(v5)
        conn.data_received(data)  # must not raise, whatever it is
        for d in _drain(source):
            assert isinstance(d.topic, str)
            assert d.topic
        assert conn.lost.done() == transport.aborted

    asyncio.run(check())


async def test_a_large_frame_in_many_reads_is_joined_once_it_is_whole() -> None:
    source, conn, _ = _wired(True)
    payload = bytes(range(256)) * 1200  # 300 KiB: a remaining length of three bytes
    frame = _publish_frame("a/b", payload, 1, False, 7, b"", True)
    fed = 0
    while len(frame) - fed > 1000:
        conn.data_received(frame[fed : fed + 1000])
        fed += 1000
        assert source.queue.empty()
    assert conn.needed == len(frame)  # known from the fixed header: nothing parsed till then
    conn.data_received(frame[fed:])
    (delivery,) = _drain(source)
    assert delivery.payload == payload


async def test_the_pubacks_of_a_stored_batch_leave_in_one_write() -> None:
    source, conn, transport = _wired(True)
    stream = b"".join(_publish_frame("a/b", b"x", 1, False, i, b"", True) for i in range(1, 301))
    conn.data_received(stream)  # several hundred frames from one read
    batch = _drain(source)
    assert len(batch) == 300
    for d in batch:
        source.ack(d)
    await asyncio.sleep(0)
    assert transport.writes == [b"".join(puback_packet(i) for i in range(1, 301))]


async def test_a_message_from_an_earlier_connection_is_not_acknowledged() -> None:
    source, conn, transport = _wired(True)
    conn.data_received(_publish_frame("a/b", b"x", 1, False, 9, b"", True))
    (delivery,) = _drain(source)
    source._conn = _Connection(source, 2)  # reconnected: the broker will redeliver it
    source.ack(delivery)
    await asyncio.sleep(0)
    assert transport.writes == []


async def test_a_full_queue_pauses_reading_and_loses_nothing() -> None:
    source, conn, transport = _wired(True, maxsize=5)
    conn.data_received(
        b"".join(_publish_frame("a", b"%d" % i, 1, False, i + 1, b"", True) for i in range(12))
    )
    assert transport.paused
    assert source.waits == 1
    got = [(await source.get()).payload for _ in range(12)]
    assert got == [b"%d" % i for i in range(12)]
    assert not transport.paused


async def test_a_publish_reads_on_for_its_puback_while_the_queue_is_full() -> None:
    source, conn, transport = _wired(True, maxsize=2)
    source.connected.set()
    conn.data_received(
        b"".join(_publish_frame("a", b"x", 1, False, i, b"", True) for i in (1, 2, 3))
    )
    assert transport.paused  # the consumer is behind: the broker is held off
    publishing = asyncio.create_task(source.publish("hof/v1/h/d/deadletter", b"dead"))
    await asyncio.sleep(0)
    assert not transport.paused  # its PUBACK must be read
    conn.data_received(_publish_frame("a", b"x", 1, False, 4, b"", True) + b"\x40\x02\x00\x01")
    await asyncio.wait_for(publishing, 1)
    assert [d.packet_id for d in [source.get_nowait() for _ in range(4)]] == [1, 2, 3, 4]


async def test_keepalive_pings_an_idle_link_and_drops_a_silent_one() -> None:
    source, conn, transport = _wired(True)
    source.keepalive_s = 1  # MqttSettings allows 5 s at least: the loop itself is under test
    stay = asyncio.create_task(source._stay(conn))
    await asyncio.sleep(0.8)
    assert b"\xc0\x00" in transport.writes  # PINGREQ once nothing was sent for half of it
    conn.data_received(b"\xd0\x00")  # PINGRESP: the link is alive
    await asyncio.sleep(0.5)
    assert not stay.done()
    reason = await asyncio.wait_for(stay, 3)  # then silence: dropped after 1.5 keepalives
    assert "nothing from the broker" in reason
    assert transport.aborted


# -- against Mosquitto -------------------------------------------------------------------------


def _burst(settings: Settings, topic: str, count: int, *, retain: bool = False) -> None:
    """`count` messages (0, 1, ...) at QoS 1 from the simulator's account; with `retain` and
    a count of 0, the topic's retained message cleared."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    assert settings.simulator.mqtt_password is not None
    client.username_pw_set(
        settings.simulator.mqtt_username, settings.simulator.mqtt_password.get_secret_value()
    )
    client.max_queued_messages_set(0)
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    payloads = [json.dumps(i).encode() for i in range(count)] or [b""]
    infos = [client.publish(topic, p, qos=1, retain=retain) for p in payloads]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def _source(
    settings: Settings, queue: asyncio.Queue[Any], filt: str, name: str, **kw: Any
) -> WireSource:
    return WireSource(
        settings.mqtt,
        name="t",
        client_id=name,
        queue=queue,
        subscriptions=[Subscription(filt, 1, True)],
        **kw,
    )


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_a_slow_consumer_bounds_memory_and_loses_nothing(
    settings: Settings, home_id: str, protocol: str
) -> None:
    s = settings.model_copy(
        update={"mqtt": settings.mqtt.model_copy(update={"protocol": protocol})}
    )
    queue: asyncio.Queue[WireDelivery] = asyncio.Queue(5)
    source = _source(s, queue, f"hof/v1/{home_id}/+/reading", f"wire-{home_id}", receive_maximum=50)
    task = asyncio.create_task(source.run())
    await asyncio.wait_for(source.subscribed.wait(), 10)
    burst = asyncio.create_task(asyncio.to_thread(_burst, s, f"hof/v1/{home_id}/d/reading", 300))
    got: list[int] = []
    deepest = 0
    while len(got) < 300:
        deepest = max(deepest, queue.qsize())
        delivery = await asyncio.wait_for(source.get(), 10)
        got.append(json.loads(delivery.payload))
        source.ack(delivery)
        if len(got) % 50 == 0:
            await asyncio.sleep(0.05)
    await burst
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert deepest <= 5
    assert sorted(got) == list(range(300))


async def test_unacknowledged_messages_come_back_and_acknowledged_ones_do_not(
    settings: Settings, home_id: str
) -> None:
    topic = f"hof/v1/{home_id}/d/reading"

    async def session(take: int, ack: int) -> list[int]:
        queue: asyncio.Queue[WireDelivery] = asyncio.Queue(100)
        source = _source(settings, queue, topic, f"again-{home_id}", session_expiry_s=60)
        task = asyncio.create_task(source.run())
        await asyncio.wait_for(source.subscribed.wait(), 10)
        if take == 0:
            await asyncio.to_thread(_burst, settings, topic, 20)
            take = 20
        got = []
        for _ in range(take):
            delivery = await asyncio.wait_for(source.get(), 10)
            got.append(json.loads(delivery.payload))
            if len(got) <= ack:
                source.ack(delivery)
        await asyncio.sleep(0.2)  # the PUBACKs out before the link goes
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return got

    assert await session(0, 5) == list(range(20))  # stores 5, dies holding 15
    assert sorted(await session(15, 15)) == list(range(5, 20))


async def test_retained_flag_and_dead_letter_publish(settings: Settings, home_id: str) -> None:
    topic = f"hof/v1/{home_id}/d/reading"
    queue: asyncio.Queue[WireDelivery] = asyncio.Queue(100)
    source = _source(settings, queue, f"hof/v1/{home_id}/#", f"pub-{home_id}")
    task = asyncio.create_task(source.run())
    await asyncio.wait_for(source.subscribed.wait(), 10)
    await asyncio.to_thread(_burst, settings, topic, 1, retain=True)
    first = await asyncio.wait_for(source.get(), 10)
    assert first.retain  # Retain As Published: a live retained message keeps its flag
    await source.publish(f"hof/v1/{home_id}/d/deadletter", b"dead", qos=1)
    second = await asyncio.wait_for(source.get(), 10)
    assert (second.topic, second.payload) == (f"hof/v1/{home_id}/d/deadletter", b"dead")
    await asyncio.to_thread(_burst, settings, topic, 0, retain=True)  # cleared
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, the certificate its own CA."""
    cert, key = directory / "server.crt", directory / "server.key"
    args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key)]
    args += ["-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(["openssl", *args], check=True, capture_output=True)
    return cert, key


async def test_over_tls_with_a_gateways_credential(
    make_stack: Callable[[], tuple[Stack, Settings]], tmp_path: Path
) -> None:
    """The devices' TLS listener: certificate verified against the configured CA, then the
    same session as on the plain listener (subscribe, publish at QoS 1, receive)."""
    cert, key = _self_signed(tmp_path)
    stack, settings = make_stack()
    broker = stack.broker
    broker.stop()
    broker.tls = TlsListener(certfile=cert, keyfile=key, cafile=cert)
    broker.render()
    broker.start()
    assert broker.tls_port is not None
    password = secrets.token_urlsafe(16)
    broker.add_user("tls-home", password)
    mqtt = settings.mqtt.model_copy(
        update={
            "port": broker.tls_port,
            "tls": True,
            "ca_file": cert,
            "username": "tls-home",
            "password": SecretStr(password),
        }
    )
    queue: asyncio.Queue[WireDelivery] = asyncio.Queue(10)
    source = WireSource(
        mqtt,
        name="t",
        client_id="tls-home",
        queue=queue,
        subscriptions=[Subscription("hof/v1/tls-home/#", 1, True)],
    )
    task = asyncio.create_task(source.run())
    try:
        await asyncio.wait_for(source.subscribed.wait(), 30)  # after the broker's SIGHUP
        await source.publish("hof/v1/tls-home/env-1/reading", b"[]", qos=1)
        delivery = await asyncio.wait_for(source.get(), 10)
        assert (delivery.topic, delivery.payload) == ("hof/v1/tls-home/env-1/reading", b"[]")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
