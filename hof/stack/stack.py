"""`hof stack up/down`: both real parts together, their credentials, and the endpoints file."""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hof.errors import StackError
from hof.settings import Settings, endpoints_path
from hof.stack.influxdb import InfluxDB
from hof.stack.mosquitto import Mosquitto
from hof.stack.process import pid_runs

__all__ = ["Stack", "StackInfo", "stop_recorded"]

PLATFORM_USER = "platform"
SIMULATOR_USER = "simulator"
INFLUX_ADMIN = "hof-admin"


@dataclass(frozen=True, slots=True)
class StackInfo:
    """Where the running stack listens and which credentials it made; written owner-only."""

    mqtt_host: str
    mqtt_port: int  # the platform listener: services and the simulator
    mqtt_device_port: int  # the devices' listener: devices and gateways, client id = username
    influx_url: str
    database: str
    credentials: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)

    def settings(self) -> dict[str, Any]:
        """The part of the settings model that points a process at this stack."""
        return {
            "mqtt": {
                "host": self.mqtt_host,
                "port": self.mqtt_port,
                "username": PLATFORM_USER,
                "password": self.credentials["mqtt_platform"],
            },
            "influx": {
                "url": self.influx_url,
                "database": self.database,
                "username": INFLUX_ADMIN,
                "password": self.credentials["influx_admin"],
            },
            "simulator": {
                "mqtt_username": SIMULATOR_USER,
                "mqtt_password": self.credentials["mqtt_simulator"],
            },
            "devices": {"host": self.mqtt_host, "port": self.mqtt_device_port},
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({**asdict(self), "settings": self.settings()}, out, indent=2)
        tmp.replace(path)


def _load_credentials(path: Path) -> dict[str, str]:
    """This state directory's own random credentials, made on first use (no default password)."""
    names = ("mqtt_platform", "mqtt_simulator", "influx_admin")
    try:
        existing: dict[str, str] = json.loads(path.read_text())
    except FileNotFoundError:
        existing = {}
    except (OSError, ValueError) as exc:
        raise StackError(f"cannot read {path}: {exc}") from exc
    if all(name in existing for name in names):
        return existing
    made = {name: existing.get(name) or secrets.token_urlsafe(24) for name in names}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(made, out, indent=2)
    return made


class Stack:
    """Mosquitto and InfluxDB under one state directory, started and stopped together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.state_dir.resolve() / "stack"
        creds = _load_credentials(self.dir / "credentials.json")
        self.credentials = creds
        self.broker = Mosquitto(
            self.dir / "mosquitto",
            port=settings.stack.mosquitto_port,
            platform_port=settings.stack.mosquitto_platform_port,
            binary=settings.stack.mosquitto_bin,
            passwd_binary=settings.stack.mosquitto_passwd_bin,
            users={PLATFORM_USER: creds["mqtt_platform"], SIMULATOR_USER: creds["mqtt_simulator"]},
            platform_user=PLATFORM_USER,
            simulator_user=SIMULATOR_USER,
        )
        self.influx = InfluxDB(
            self.dir / "influxdb",
            port=settings.stack.influx_port,
            binary=settings.stack.influxd_bin,
            username=INFLUX_ADMIN,
            password=creds["influx_admin"],
            database=settings.influx.database,
        )

    @property
    def info(self) -> StackInfo:
        return StackInfo(
            mqtt_host=self.broker.host,
            mqtt_port=self.broker.platform_port,
            mqtt_device_port=self.broker.port,
            influx_url=self.influx.url,
            database=self.influx.database,
            credentials=self.credentials,
            pids={
                name: pid
                for name, pid in (
                    ("mosquitto", self.broker.process.pid),
                    ("influxdb", self.influx.process.pid),
                )
                if pid is not None
            },
            markers={
                "mosquitto": str(self.broker.config_path),
                "influxdb": str(self.influx.config_path),
            },
        )

    def up(self) -> StackInfo:
        """Start both parts and wait until each answers; on failure stop what was started."""
        timeout = self.settings.stack.start_timeout_s
        self.dir.chmod(0o700)  # credentials, endpoints, both parts' state: the owner's only
        try:
            self.broker.render()
            self.broker.start(timeout)
            self.influx.render()
            self.influx.start(timeout)
        except BaseException:
            self.down()
            raise
        info = self.info
        info.write(endpoints_path(self.settings.state_dir))
        return info

    def down(self) -> None:
        self.influx.stop()
        self.broker.stop()
        endpoints_path(self.settings.state_dir).unlink(missing_ok=True)

    def failed_part(self) -> str | None:
        """The name of a part that has died on its own, if any."""
        for name, proc in (("mosquitto", self.broker.process), ("influxdb", self.influx.process)):
            if not proc.running():
                return name
        return None


def stop_recorded(state_dir: Path, timeout_s: float = 15.0) -> list[str]:
    """Stop the processes a detached `hof stack up` recorded, and only those."""
    path = endpoints_path(state_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    stopped: list[str] = []
    for name, pid in data.get("pids", {}).items():
        marker = data.get("markers", {}).get(name, "")
        if not marker or not pid_runs(pid, marker):
            continue  # gone already, or the pid now belongs to someone else
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_runs(pid, marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_runs(pid, marker):
            os.kill(pid, signal.SIGKILL)
        stopped.append(name)
    path.unlink(missing_ok=True)
    return stopped
