"""Fixtures and helpers that run the firmware on the real MicroPython Unix port against a real
broker. Not a conftest.py: the test modules import it by name (`from fw_support import *`),
so it cannot shadow the root conftest that other tests import."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.firmware_traces import RATE_HZ, generate
from hof.provision import provision
from hof.senml import Record, parse_pack
from hof.settings import Settings
from hof.topic import Topic

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
MICROPYTHON = str(Path(sys.executable).parent / "micropython")


class Firmware:
    """One node: `micropython firmware/main.py` with its config, world script and state dir."""

    def __init__(self, workdir: Path, config_path: Path, sim: dict[str, Any]) -> None:
        self.workdir = workdir
        self.config_path = config_path
        self.config = json.loads(config_path.read_text())
        self.sim_path = workdir / "sim.json"
        self.sim_path.write_text(json.dumps(sim))
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def home(self) -> str:
        return str(self.config["home"])

    @property
    def device(self) -> str:
        return str(self.config["device"])

    def topic(self, channel: str) -> str:
        return f"hof/v1/{self.home}/{self.device}/{channel}"

    def start(self) -> Firmware:
        env = {
            **os.environ,
            "HOF_FW_CONFIG": str(self.config_path),
            "HOF_FW_SIM": str(self.sim_path),
            "HOF_FW_STATE": str(self.workdir),
        }
        self.proc = subprocess.Popen(
            [MICROPYTHON, str(FIRMWARE / "main.py")],
            env=env,
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout_s: float = 20.0, count: int = 1) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [ln for ln in list(self.lines) if ln.startswith(prefix)]
            if len(found) >= count:
                return found
            assert self.proc is not None
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {count}x {prefix!r} in the firmware's output:\n{self.output()}")

    def output(self) -> str:
        return "\n".join(self.lines[-60:])

    def exited(self, timeout_s: float) -> int:
        """Its exit status once it ends, with everything it printed read (the reader thread
        may still hold the last lines when the process is gone); TimeoutExpired if it runs on."""
        assert self.proc is not None
        code = self.proc.wait(timeout_s)
        if self._reader is not None:
            self._reader.join(5)
        return code

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


@pytest.fixture
def firmware(settings: Settings, tmp_path: Path, home_id: str) -> Iterator[Callable[..., Firmware]]:
    """`firmware(kind, sim, **config)`: a provisioned node (not yet started) of this home."""
    made: list[Firmware] = []

    def make(
        kind: str = "env",
        sim: dict[str, Any] | None = None,
        *,
        settings_: Settings | None = None,
        interval_s: float = 1,
        power: str = "mains",
        **extra: Any,
    ) -> Firmware:
        workdir = tmp_path / f"node{len(made)}"
        workdir.mkdir()
        made_cfg = provision(
            settings_ or settings,
            home=home_id,
            kind=kind,
            out=workdir / "config.json",
            interval_s=interval_s,
            power=power,
        )
        cfg = json.loads(made_cfg.config_path.read_text())
        cfg.update(extra)
        made_cfg.config_path.write_text(json.dumps(cfg))
        node = Firmware(workdir, made_cfg.config_path, sim or {})
        made.append(node)
        return node

    yield make
    for node in made:
        node.stop(kill=True)


class Subscriber:
    """The platform's view: paho with the platform credential; a persistent session if named,
    so nothing published while it reconnects after a broker restart is missed."""

    def __init__(self, settings: Settings, topic_filter: str, client_id: str = "") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not client_id,
            protocol=paho.MQTTv311,
        )
        assert settings.mqtt.password is not None
        self.client.username_pw_set(
            settings.mqtt.username, settings.mqtt.password.get_secret_value()
        )
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, bytes(m.payload), bool(m.retain))
        )
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, 1)
        self.client.reconnect_delay_set(1, 2)
        self.client.connect(settings.mqtt.host, settings.mqtt.port)
        self.client.loop_start()
        assert subscribed.wait(10), "subscriber could not subscribe"

    def on(self, suffix: str) -> list[tuple[str, bytes, bool]]:
        return [m for m in list(self.messages) if m[0].endswith(suffix)]

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(settings: Settings) -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(
        topic_filter: str, settings_: Settings | None = None, client_id: str = ""
    ) -> Subscriber:
        made.append(Subscriber(settings_ or settings, topic_filter, client_id))
        return made[-1]

    yield make
    for s in made:
        s.close()


def until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _detector() -> Any:
    spec = importlib.util.spec_from_file_location("fw_fall", FIRMWARE / "fall.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FallDetector()


def fall_trace(workdir: Path, kind: str = "forward", seed: int = 7) -> float:
    """Write the trace; return when (seconds into it) the firmware's detector fires."""
    data = generate(kind, seed)
    (workdir / "trace.bin").write_bytes(data.tobytes())
    det = _detector()
    for i, (x, y, z) in enumerate(data.tolist()):
        if det.update(x, y, z):
            return float(i + 1) / RATE_HZ
    raise AssertionError("the trace has no fall the detector sees")


def events(sub: Subscriber) -> list[Record]:
    """The SenML records on `event` the subscriber has seen, checked against the contract."""
    records: list[Record] = []
    for topic, payload, _ in sub.on("/event"):
        records += parse_pack(Topic.parse(topic), payload, received_at=time.time())
    return records
