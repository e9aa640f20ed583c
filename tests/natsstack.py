"""A private NATS cluster and InfluxDB for a test, with the face of `hof.stack.Stack`'s parts."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hof.errors import StackError
from hof.settings import Settings, endpoints_path
from hof.source import MQTT_STREAM
from hof.stack.influxdb import InfluxDB
from hof.stack.nats import NatsCluster

__all__ = ["ClusterBroker", "NatsStack"]


@dataclass
class ClusterBroker:
    """The whole cluster as one broker: `stop`, `kill` and `start` act on every node."""

    cluster: NatsCluster

    def stop(self) -> None:
        self.cluster.stop()

    def kill(self) -> None:
        for node in self.cluster.nodes:
            self.cluster.kill(node)

    def start(self) -> None:
        # Back once the stream of devices' publishes has a leader: before that a QoS 1 publish
        # is refused (the node closes the device's connection and the device must resend), which
        # a test publishing right after the restart should not have to ride out.
        self.cluster.restart(streams=(MQTT_STREAM,))


class NatsStack:
    """Three NATS nodes and an InfluxDB under `state_dir`; its endpoints file points `hof`
    processes started there (IngestProcess) at them, as `hof stack up` does for Mosquitto."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.cluster = NatsCluster(state_dir / "nats", size=3)
        self.broker = ClusterBroker(self.cluster)
        self.influx = InfluxDB(
            state_dir / "influxdb",
            username="hof-admin",
            password=secrets.token_urlsafe(18),
            database="hof",
        )

    def up(self) -> Settings:
        self.influx.start()
        for attempt in range(3):
            try:
                self.cluster.start()
                break
            except StackError as exc:
                # The ports were free when chosen; another test worker's process may take one
                # before the node binds it. New ports, and try again.
                if "address already in use" not in str(exc) or attempt == 2:
                    raise
                self.cluster.stop()
                self.cluster = NatsCluster(self.dir / f"nats-{attempt + 1}", size=3)
                self.broker = ClusterBroker(self.cluster)
        node = self.cluster.nodes[0]
        pointers: dict[str, Any] = {
            "nats": {
                "broker": "nats",
                "servers": self.cluster.servers(),
                "username": "platform",
                "password": self.cluster.platform_password,
                # What a killed worker held, or whose acknowledgement a restart lost, comes back
                # after ack_wait: 5 s rather than the default 30 s, which each such test would
                # otherwise sit out. A batch is written well within it; one written twice
                # overwrites itself (the tests count distinct points).
                "ack_wait_s": 5.0,
            },
            # Ingest's watchers, and the publishers of the tests, on the first node's listener.
            "mqtt": {
                "host": self.cluster.host,
                "port": node.mqtt_port,
                "username": "platform",
                "password": self.cluster.platform_password,
                "protocol": "3.1.1",
            },
            "simulator": {
                "mqtt_username": "devices",
                "mqtt_password": self.cluster.devices_password,
            },
            "influx": {
                "url": self.influx.url,
                "database": "hof",
                "username": "hof-admin",
                "password": self.influx.password,
            },
        }
        path = endpoints_path(self.dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"settings": pointers}, out)
        return Settings(
            environment="test",
            state_dir=self.dir,
            rights={"unrecorded": ["environment", "activity", "telecare"]},
            **pointers,
        )

    def down(self) -> None:
        self.cluster.stop()
        self.influx.stop()
