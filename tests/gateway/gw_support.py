"""Helpers and fixtures for the gateway tests: two real brokers, the gateway as a process.

Not a conftest.py: a second conftest module would shadow the root one that tests import
(`from conftest import ...`); the test modules import this by name instead.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import paho.mqtt.client as paho
import pytest
from gw_proxy import Internet
from paho.mqtt.enums import CallbackAPIVersion

from hof.settings import Settings
from hof.stack import Stack

try:  # the shared test helpers are moving out of the root conftest
    from hofsupport import Device, IngestProcess, ServiceProcess, influx_query, wait_until
except ImportError:
    from conftest import (  # type: ignore[no-redef]
        Device,
        IngestProcess,
        ServiceProcess,
        influx_query,
        wait_until,
    )

__all__ = [
    "Certificates",
    "GatewayProcess",
    "Home",
    "Recorder",
    "count_stored",
    "home",
    "influx_query",
    "make_certificates",
    "publish_day",
    "until",
]

DAY = 86_400
STEP = 300  # a reading every 5 minutes, as the contract's battery sensors do


class GatewayProcess(ServiceProcess):
    """`hof gateway` as a child process."""

    service: ClassVar[str] = "gateway"
    defaults: ClassVar[dict[str, str]] = {"HOF_GATEWAY__STATUS_INTERVAL_S": "1"}

    def gauge(self, name: str) -> float:
        return self.metrics().get(name, 0.0)


class Recorder:
    """A subscriber with a persistent session: it sees everything, in order, across restarts."""

    def __init__(self, settings: Settings, topic_filter: str, *, persistent: bool = True) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"rec-{uuid.uuid4().hex[:10]}",
            protocol=paho.MQTTv311,
            clean_session=not persistent,
        )
        assert settings.mqtt.password is not None
        self.client.username_pw_set(
            settings.mqtt.username, settings.mqtt.password.get_secret_value()
        )
        self.client.reconnect_delay_set(0.1, 0.5)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, bytes(m.payload), bool(m.retain))
        )
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, 1)
        self.client.connect(settings.mqtt.host, settings.mqtt.port)
        self.client.loop_start()
        assert subscribed.wait(10), "recorder could not subscribe"

    def on(self, channel: str) -> list[tuple[str, Any]]:
        return [(t, json.loads(p)) for t, p, _r in list(self.messages) if t.endswith(f"/{channel}")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Home:
    """A home broker, a platform stack, the home's internet line between them (a TCP relay
    that can be cut), and a gateway (not yet started)."""

    id: str
    local: Stack
    local_settings: Settings
    platform: Stack
    platform_settings: Settings
    dir: Path
    password: str
    internet: Internet
    made: list[Any] = field(default_factory=list)

    def gateway(self, **env: str) -> GatewayProcess:
        local = self.local_settings.mqtt
        assert local.password is not None
        base = {
            "HOF_GATEWAY__HOME": self.id,
            "HOF_GATEWAY__LOCAL__HOST": local.host,
            "HOF_GATEWAY__LOCAL__PORT": str(local.port),
            "HOF_GATEWAY__LOCAL__USERNAME": local.username or "",
            "HOF_GATEWAY__LOCAL__PASSWORD": local.password.get_secret_value(),
            "HOF_MQTT__HOST": "127.0.0.1",
            "HOF_MQTT__PORT": str(self.internet.port),
            "HOF_MQTT__USERNAME": self.id,
            "HOF_MQTT__PASSWORD": self.password,
        }
        gw = GatewayProcess(self.dir, "gw", **(base | env))
        self.made.append(gw)
        return gw

    def ingest(self) -> IngestProcess:
        worker = IngestProcess(self.platform_settings.state_dir, "ingest-gw")
        self.made.append(worker)
        worker.start()
        return worker

    def device(self, device_id: str) -> Device:
        made = Device(self.local, self.id, device_id)
        self.made.append(made)
        return made

    def recorder(self, topic_filter: str, *, on_platform: bool = True) -> Recorder:
        settings = self.platform_settings if on_platform else self.local_settings
        made = Recorder(settings, topic_filter)
        self.made.append(made)
        return made

    def close(self) -> None:
        for thing in reversed(self.made):
            if isinstance(thing, ServiceProcess):
                if thing.proc is not None:
                    thing.kill()
            else:
                thing.close()


@pytest.fixture
def home(make_stack: Callable[[], tuple[Stack, Settings]], tmp_path: Path) -> Iterator[Home]:
    """Two real brokers (home and platform, the platform with InfluxDB) and this home's
    credential on the platform (username = home id, confined by the ACL to its own topics)."""
    local, local_settings = make_stack()
    platform, platform_settings = make_stack()
    home_id = f"G-{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(16)
    platform.broker.add_user(home_id, password)
    gw_dir = tmp_path / "gateway"
    gw_dir.mkdir()
    internet = Internet((platform.broker.host, platform.broker.port))
    made = Home(
        home_id, local, local_settings, platform, platform_settings, gw_dir, password, internet
    )
    yield made
    made.close()
    internet.close()


def publish_day(
    devices: list[Device],
    start: float,
    *,
    falls: Device | None = None,
    fall_at: tuple[int, ...] = (),
) -> int:
    """A day of readings (temperature + humidity every 5 min) from each device, published as
    fast as the broker takes them, with falls at the given steps; the records sent."""
    sent = 0
    for step in range(DAY // STEP):
        at = start + step * STEP
        for n, dev in enumerate(devices):
            dev.publish(
                "reading",
                [
                    {
                        "bn": f"{dev.device}/",
                        "bt": at,
                        "n": "temperature",
                        "u": "Cel",
                        "v": 18 + n + (step % 10) / 10,
                    },
                    {"n": "humidity", "u": "%RH", "v": 60 + (step % 20)},
                ],
            )
            sent += 2
        if falls is not None and step in fall_at:
            falls.publish(
                "event", [{"bn": f"{falls.device}/", "bt": at + 1, "n": "fall", "vs": "detected"}]
            )
            sent += 1
    return sent


def count_stored(settings: Settings, home_id: str, what: str = "reading") -> int:
    """Records of this home stored in InfluxDB (fields counted, so every record counts once)."""
    fields = "count(temperature), count(humidity)" if what == "reading" else "count(fall)"
    series = influx_query(settings, f"SELECT {fields} FROM {what} WHERE home='{home_id}'")
    if not series:
        return 0
    return sum(int(v or 0) for v in series[0]["values"][0][1:])


@dataclass(frozen=True)
class Certificates:
    """A throw-away CA and a server certificate for 127.0.0.1, made with Debian's openssl."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path) -> Certificates:
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=hof test CA",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=127.0.0.1",
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return Certificates(ca, cert, key)


def until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    return wait_until(predicate, timeout_s)
