"""Helpers for tests that drive the running system: service processes, devices, watchers."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hof.alertstore.api import AlertStore
from hof.alertstore.eventraise import RaiseRequest
from hof.alertstore.records import AlertFilter, AlertView
from hof.alertstore.vocabulary import Category
from hof.metrics import parse_text
from hof.settings import Settings
from hof.stack import Stack

__all__ = [
    "ALL_STREAMS",
    "AlertsProcess",
    "Device",
    "IngestProcess",
    "ServiceProcess",
    "Watcher",
    "alerts_of",
    "influx_query",
    "open_store_in",
    "publish_history",
    "wait_until",
]


ALL_STREAMS = '["environment", "activity", "telecare"]'


class ServiceProcess:
    """`hof SERVICE` as a child process pointed at a stack; start, SIGTERM or SIGKILL it."""

    service: ClassVar[str] = ""
    defaults: ClassVar[dict[str, str]] = {}

    def __init__(self, state_dir: Path, client_id: str, **env: str) -> None:
        self.state_dir = state_dir
        self.client_id = client_id
        self.env = {
            **os.environ,
            "HOF_STATE_DIR": str(state_dir),
            "HOF_ENVIRONMENT": "test",
            "HOF_LOG_FORMAT": "json",
            "HOF_LOG_LEVEL": "DEBUG",
            f"HOF_{self.service.upper()}__CLIENT_ID": client_id,
            # Tests of other things collect every stream from homes with no consent record;
            # tests/rights pass the production default (environment only) back in `env`.
            "HOF_RIGHTS__UNRECORDED": ALL_STREAMS,
            **self.defaults,
            **env,
        }
        self.log_path = state_dir / f"{self.service}-{client_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        registration = self.state_dir / "run" / f"{self.service}-{self.client_id}.json"
        registration.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hof.cli", self.service],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"{self.service} exited:\n{self.log_tail()}"
            if registration.exists() and self.metrics().get(f"hof_{self.service}_ready") == 1.0:
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.service} not ready in {timeout_s} s:\n{self.log_tail()}")

    def metrics(self) -> dict[str, float]:
        """Each metric summed over its labels; {} when it does not answer."""
        registration = self.state_dir / "run" / f"{self.service}-{self.client_id}.json"
        try:
            url = json.loads(registration.read_text())["url"]
            samples = parse_text(httpx.get(url, timeout=2.0).text)
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            return {}
        return {name: sum(values.values()) for name, values in samples.items()}

    def by_label(self, name: str, label: str) -> dict[str, float]:
        registration = self.state_dir / "run" / f"{self.service}-{self.client_id}.json"
        url = json.loads(registration.read_text())["url"]
        out: dict[str, float] = {}
        for labels, value in parse_text(httpx.get(url, timeout=2.0).text).get(name, {}).items():
            out[dict(labels).get(label, "")] = value
        return out

    def stop(self) -> int:
        """SIGTERM: the worker drains what it holds and exits."""
        assert self.proc is not None
        self.proc.terminate()
        code = self.proc.wait(30)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: a crash mid-stream."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class IngestProcess(ServiceProcess):
    service: ClassVar[str] = "ingest"
    defaults: ClassVar[dict[str, str]] = {"HOF_INGEST__FLUSH_INTERVAL_S": "0.1"}


class AlertsProcess(ServiceProcess):
    service: ClassVar[str] = "alerts"
    defaults: ClassVar[dict[str, str]] = {"HOF_ALERTS__TICK_S": "0.5"}


class Device:
    """A third-party device: its own credential, paho, MQTT 3.1.1, publishing on its topics."""

    def __init__(self, stack: Stack, home: str, device: str) -> None:
        self.stack = stack
        self.home = home
        self.device = device
        self._platform: paho.Client | None = None
        password = secrets.token_urlsafe(16)
        stack.broker.add_user(f"{home}/{device}", password)
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{home}-{device}",
            protocol=paho.MQTTv311,
        )
        self.client.username_pw_set(f"{home}/{device}", password)
        deadline = time.monotonic() + 10
        while True:  # the broker re-reads its password file on SIGHUP, a moment later
            self.client.connect(stack.broker.host, stack.broker.port)
            self.client.loop_start()
            if _wait(self.client.is_connected, 2.0):
                break
            self.client.loop_stop()
            if time.monotonic() > deadline:
                raise AssertionError("device could not connect")

    def topic(self, channel: str) -> str:
        return f"hof/v1/{self.home}/{self.device}/{channel}"

    def publish(
        self, channel: str, payload: bytes | str | list[Any], *, qos: int = 1, retain: bool = False
    ) -> None:
        if isinstance(payload, list):
            payload = json.dumps(payload)
        info = self.client.publish(self.topic(channel), payload, qos=qos, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published()

    def configure(self, payload: str | bytes) -> None:
        """Publish this device's retained `config` as the platform does: the broker refuses a
        device's own publish on `config` and `notice` (CONTRACT.md)."""
        if self._platform is None:
            broker = self.stack.broker
            self._platform = paho.Client(
                callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311
            )
            self._platform.username_pw_set(broker.platform_user, broker.users[broker.platform_user])
            self._platform.connect(broker.host, broker.platform_port)
            self._platform.loop_start()
        info = self._platform.publish(self.topic("config"), payload, qos=1, retain=True)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        if self._platform is not None:
            self._platform.disconnect()
            self._platform.loop_stop()


class Watcher:
    """A platform-side subscriber that records every message on a topic filter."""

    def __init__(self, settings: Settings, topic_filter: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311
        )
        assert settings.mqtt.password is not None
        self.client.username_pw_set(
            settings.mqtt.username, settings.mqtt.password.get_secret_value()
        )
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, 1)
        self.client.connect(settings.mqtt.host, settings.mqtt.port)
        self.client.loop_start()
        assert subscribed.wait(10), "watcher could not subscribe"

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for _, payload in list(self.messages)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def influx_query(settings: Settings, q: str) -> list[dict[str, Any]]:
    """Run InfluxQL against the test database; the first statement's series."""
    assert settings.influx.password is not None
    response = httpx.post(
        f"{settings.influx.url}/query",
        params={"db": settings.influx.database, "q": q, "epoch": "ms"},
        auth=(settings.influx.username or "", settings.influx.password.get_secret_value()),
        timeout=10,
    )
    response.raise_for_status()
    result = response.json()["results"][0]
    assert "error" not in result, result
    return list(result.get("series", []))


def load_file(name: str, path: Path) -> ModuleType:
    """A script that is not a package's module (a bench), loaded as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def hof_cli(env: dict[str, str], *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """`hof ARGS` as its own process with `env`, its output captured; bounded at 60 s."""
    return subprocess.run(
        [sys.executable, "-m", "hof.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kw,
    )


def wait_until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    """Poll until true (for effects that cross processes); False at the timeout."""
    return _wait(predicate, timeout_s)


def history_packs(
    device: str, start: float, hours: float, temperature: float, humidity: float
) -> list[list[dict[str, Any]]]:
    """`hours` of 5-minute readings from `start`, three hours to a pack."""
    steps = int(hours * 12)
    packs = []
    for first in range(0, steps, 36):
        pack: list[dict[str, Any]] = []
        for i in range(first, min(first + 36, steps)):
            t = start + i * 300
            pack.append({"n": "temperature", "u": "Cel", "v": temperature + (i % 3) / 10, "t": t})
            pack.append({"n": "humidity", "u": "%RH", "v": humidity - (i % 2), "t": t})
        pack[0]["bn"] = f"{device}/"
        packs.append(pack)
    return packs


def publish_history(
    env: Device, start: float, hours: float, temperature: float, humidity: float
) -> None:
    """Publish `hours` of 5-minute readings from `start`, three hours to a pack."""
    for pack in history_packs(env.device, start, hours, temperature, humidity):
        env.publish("reading", pack)


def publish_packs(settings: Settings, packs: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Publish (topic, SenML pack) pairs with the platform's credential, QoS 1, each
    acknowledged by the broker: what a device would send, without provisioning one."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert settings.mqtt.password is not None
    client.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    try:
        for topic, pack in packs:
            info = client.publish(topic, json.dumps(pack), qos=1)
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def fall_request(home: str, t: float, device: str = "wear-1", **kw: Any) -> RaiseRequest:
    """A fall alert as the rules engine raises it (`AlertStore.raise_or_update`'s arguments;
    `dataclasses.asdict` for a single raise)."""
    return RaiseRequest(
        home=home,
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary=f"Fall detected by {device}.",
        evidence={"device": device, "name": "fall", "value": "detected", "time": t},
        **kw,
    )


def open_store_in(settings: Settings, directory: Path) -> AlertStore:
    """The SQLite alert store a test's own rules engine writes (`alerts.sqlite` in
    `directory`, as HOF_ALERTSTORE__URL names it for the worker)."""
    url = f"sqlite:///{directory / 'alerts.sqlite'}"
    return AlertStore.from_settings(
        settings.model_copy(
            update={"alertstore": settings.alertstore.model_copy(update={"url": url})}
        )
    )


def alerts_of(store: AlertStore, home: str, *categories: Category) -> list[AlertView]:
    """A home's alerts of `categories` (falls and help calls when none is named)."""
    where = AlertFilter(homes=[home], categories=categories or (Category.FALL, Category.BUTTON))
    return list(store.list(where, limit=100).items)
