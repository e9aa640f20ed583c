"""The broker against a device that misbehaves with its own credential: no session takeover, no
downlink topics, and a broker that runs as nobody important with owner-only files."""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from hofsupport import Device, IngestProcess, Watcher, influx_query, wait_until
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hof.settings import Settings
from hof.stack import Stack

pytestmark = pytest.mark.e2e

MakeStack = Callable[[], tuple[Stack, Settings]]


class Intruder:
    """A device's credential on an MQTT 5 persistent session with a client id of its choosing,
    reconnecting at once whenever it is pushed off (as a determined attacker would)."""

    def __init__(self, host: str, port: int, username: str, password: str, client_id: str):
        self.received: list[str] = []
        self.connacks: list[str] = []
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
        )
        self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_message = lambda c, u, m: self.received.append(m.topic)
        self.client.on_connect = lambda c, u, f, rc, p: self.connacks.append(str(rc))
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect_async(host, port, clean_start=False, properties=props)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def intruders() -> Iterator[Callable[..., Intruder]]:
    made: list[Intruder] = []

    def make(*args: Any) -> Intruder:
        made.append(Intruder(*args))
        return made[-1]

    yield make
    for intruder in made:
        intruder.close()


def stored_rooms(settings: Settings, home: str) -> list[tuple[str, str | None]]:
    """(device, room) of every reading stored for this home."""
    rows: list[tuple[str, str | None]] = []
    for series in influx_query(settings, f"SELECT * FROM reading WHERE home='{home}'"):
        columns = series["columns"]
        for values in series["values"]:
            row = dict(zip(columns, values, strict=True))
            rows.append((row["device"], row.get("room")))
    return rows


def test_a_device_cannot_take_over_the_ingest_workers_session(
    make_stack: MakeStack, intruders: Callable[..., Intruder]
) -> None:
    """Issue 11, 3: a device that connects with the ingest worker's client id (clean_start
    False) must not resume its session and take the readings queued for it."""
    stack, settings = make_stack()
    worker = IngestProcess(settings.state_dir, "hof-ingest-1")  # the default client id
    worker.start()
    try:
        home = "TAKE-1"
        sensor = Device(stack, home, "env-1")
        password = secrets.token_urlsafe(16)
        stack.broker.add_user(f"{home}/env-2", password)
        # On every listener the broker has: services' and devices'.
        for port in sorted({settings.mqtt.port, stack.broker.port}):
            intruders(stack.broker.host, port, f"{home}/env-2", password, "hof-ingest-1")
        time.sleep(1.0)  # the intruders have connected, or been refused, by now
        start = time.time() - 3600
        for i in range(25):
            sensor.publish(
                "reading",
                [{"bn": "env-1/", "bt": start + 60 * i, "n": "temperature", "u": "Cel", "v": 19}],
            )
            time.sleep(0.04)
        sensor.close()

        def count() -> int:
            series = influx_query(
                settings, f"SELECT count(temperature) FROM reading WHERE home='{home}'"
            )
            return int(series[0]["values"][0][1]) if series else 0

        assert wait_until(lambda: count() == 25, 20), f"{count()} of 25 readings stored"
        # The worker's own session id is its name and a tag of the platform credential.
        log = stack.broker.process.log_path.read_text()
        assert re.search(r" as hof-ingest-1-[0-9a-f]{16} \(p5, c0", log), log[-2000:]
        assert " as hof-ingest-1 " not in log
    finally:
        worker.stop()


def test_a_device_cannot_publish_config_or_notice(
    stack: Stack,
    settings: Settings,
    ingest_process: IngestProcess,
    device: Callable[[str], Device],
    watcher: Callable[[str], Watcher],
    home_id: str,
) -> None:
    """Issue 11, 4: config and notice go from the platform to a device, never the other way.
    A device's retained config naming another device's room reaches nobody and changes no
    room; a gateway's credential cannot either; a device still receives its own."""
    seen = watcher(f"hof/v1/{home_id}/+/+")
    platform = seen.client
    platform.publish(
        f"hof/v1/{home_id}/env-1/config",
        json.dumps({"rooms": {"env-1": "bedroom"}}),
        qos=1,
        retain=True,
    ).wait_for_publish(5)

    env1, env2 = device("env-1"), device("env-2")
    heard: list[str] = []
    subscribed = threading.Event()
    env1.client.on_message = lambda c, u, m: heard.append(m.topic)
    env1.client.on_subscribe = lambda *a: subscribed.set()
    env1.client.subscribe([(env1.topic("config"), 1), (env1.topic("notice"), 1)])
    assert subscribed.wait(5)

    forged = json.dumps({"rooms": {"env-1": "kitchen"}})
    for channel in ("config", "notice"):
        # MQTT 3.1.1 cannot refuse a publish, so Mosquitto acknowledges it and drops it.
        env2.client.publish(env2.topic(channel), forged, qos=1, retain=True).wait_for_publish(5)
    gateway_password = secrets.token_urlsafe(16)
    stack.broker.add_user(home_id, gateway_password)
    gateway = Intruder(
        stack.broker.host, stack.broker.port, home_id, gateway_password, f"{home_id}-gw"
    )
    try:
        assert wait_until(lambda: "Success" in gateway.connacks, 10), gateway.connacks
        gateway.client.publish(
            f"hof/v1/{home_id}/env-1/config", forged, qos=1, retain=True
        ).wait_for_publish(5)
    finally:
        gateway.close()
    platform.publish(
        f"hof/v1/{home_id}/env-1/notice", b'{"alert":"A-1","state":"acknowledged"}', qos=1
    ).wait_for_publish(5)

    env1.publish("reading", [{"bn": "env-1/", "n": "temperature", "u": "Cel", "v": 20.5}])
    assert wait_until(lambda: len(stored_rooms(settings, home_id)) == 1, 15)
    assert stored_rooms(settings, home_id) == [("env-1", "bedroom")]
    downlink = [t for t, _ in seen.messages if t.endswith(("/config", "/notice"))]
    assert downlink == [f"hof/v1/{home_id}/env-1/config", f"hof/v1/{home_id}/env-1/notice"]
    # The device hears the platform on its own config (retained) and notice.
    assert wait_until(lambda: len(heard) == 2, 5)
    assert sorted(heard) == [env1.topic("config"), env1.topic("notice")]
    # And nothing forged stays retained for a device that subscribes later.
    later = watcher(f"hof/v1/{home_id}/+/config")
    time.sleep(0.5)
    assert [json.loads(p) for _, p in later.messages] == [{"rooms": {"env-1": "bedroom"}}]


def _uids(pid: int) -> tuple[int, ...]:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("Uid:"))
    return tuple(int(v) for v in line.split()[1:])


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs the tests run as root")
def test_started_as_root_the_parts_run_unprivileged_with_owner_only_files(
    make_stack: MakeStack,
) -> None:
    """Issue 11, 9: the local broker (and InfluxDB) ran as root; their files must be the
    owner's only, even after they have written their own (persistence, data, logs)."""
    stack, settings = make_stack()
    for name, pid in stack.info.pids.items():
        assert 0 not in _uids(pid), f"{name} runs as root: {_uids(pid)}"
    sensor = Device(stack, "PERM-1", "env-1")
    sensor.publish("status", b'{"state":"online"}', retain=True)
    sensor.close()
    stack.broker.stop()  # writes the persistence file
    stack.broker.start()
    top = settings.state_dir.resolve() / "stack"
    loose = [
        f"{path.relative_to(top)} {oct(path.stat().st_mode & 0o777)}"
        for path in [top, *top.rglob("*")]
        if not path.is_symlink() and path.stat().st_mode & 0o077
    ]
    assert loose == []
    assert (top / "mosquitto" / "data" / "mosquitto.db").exists()
