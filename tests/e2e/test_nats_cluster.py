"""The clustered platform tier: three NATS JetStream nodes on loopback, a node lost mid-stream.

Devices publish QoS 1 over the cluster's MQTT listeners; ingest reads durable JetStream consumers
(replicated three times) on the stream where NATS stores those publishes before it acknowledges
them, and the rules engine its persistent MQTT session (also kept in replicated streams). The
node that leads that stream is killed with SIGKILL while readings flow and restarted later:
every reading is stored once, and a fall published while the node is down still becomes an
alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from hofsupport import ALL_STREAMS, AlertsProcess, IngestProcess, influx_query, wait_until
from paho.mqtt.enums import CallbackAPIVersion

from hof.alertstore.api import AlertStore
from hof.alertstore.records import AlertFilter
from hof.alertstore.vocabulary import Category
from hof.errors import ContractError
from hof.settings import NatsSettings, Settings
from hof.source import MQTT_STREAM, JetStreamSource, subject_to_topic, topic_to_subject
from hof.stack import Stack
from hof.stack.nats import NatsCluster, NatsNode

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nodes = NatsCluster(tmp_path / "nats", size=3)
    nodes.start()
    yield nodes
    nodes.stop()


def service_env(cluster: NatsCluster, stack: Stack, node: NatsNode) -> dict[str, str]:
    """A service pointed at the cluster (JetStream on every node, MQTT on `node`) and at the
    session's InfluxDB; nothing read from the Mosquitto stack's endpoints."""
    info = stack.info
    return {
        "HOF_NATS__BROKER": "nats",
        "HOF_NATS__SERVERS": json.dumps(cluster.servers()),
        "HOF_NATS__USERNAME": "platform",
        "HOF_NATS__PASSWORD": cluster.platform_password,
        "HOF_MQTT__HOST": cluster.host,
        "HOF_MQTT__PORT": str(node.mqtt_port),
        "HOF_MQTT__USERNAME": "platform",
        "HOF_MQTT__PASSWORD": cluster.platform_password,
        "HOF_MQTT__PROTOCOL": "3.1.1",
        "HOF_INFLUX__URL": info.influx_url,
        "HOF_INFLUX__DATABASE": info.database,
        "HOF_INFLUX__USERNAME": "hof-admin",
        "HOF_INFLUX__PASSWORD": info.credentials["influx_admin"],
        "HOF_RIGHTS__UNRECORDED": ALL_STREAMS,
    }


async def _platform(cluster: NatsCluster) -> Any:
    """A NATS connection to the cluster as the platform's user."""
    import nats

    return await nats.connect(
        servers=cluster.servers(), user="platform", password=cluster.platform_password
    )


async def _ingest_stream(cluster: NatsCluster) -> tuple[str, str, str]:
    """The stream ingest's consumers read (found by asking the cluster, whichever it is), the
    node leading it, and a line of its and the consumers' state for a failure's message."""
    nc = await _platform(cluster)
    try:
        js = nc.jetstream()
        for stream in await js.streams_info():
            name = stream.config.name
            assert name is not None
            consumers = [c for c in await js.consumers_info(name) if c.name.startswith("ingest")]
            if consumers:
                assert stream.cluster is not None
                state = f"stream {name} {stream.state}; consumers {consumers}"
                return name, str(stream.cluster.leader), state
        raise AssertionError("no stream has ingest's consumer")
    finally:
        await nc.close()


class Publisher:
    """Devices of one home publishing one-record packs at a steady rate over MQTT 3.1.1, with
    a persistent session (a reconnect resends what was not acknowledged)."""

    def __init__(self, cluster: NatsCluster, node: NatsNode, home: str) -> None:
        self.home = home
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"pub-{home}",
            protocol=paho.MQTTv311,
            clean_session=False,
        )
        self.client.username_pw_set("devices", cluster.devices_password)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(0.2, 1.0)
        # PUBACKs by message id: a publish made while the link is down is queued and sent on
        # reconnect, but its MQTTMessageInfo reports the failed first try, so it is not used.
        self.acked: set[int] = set()
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.connect(cluster.host, node.mqtt_port)
        self.client.loop_start()
        self.infos: list[paho.MQTTMessageInfo] = []
        self.sent = 0
        self.stop = threading.Event()
        self.t0 = 1_763_841_600.0

    def pack(self, channel: str, records: list[dict[str, Any]]) -> None:
        topic = f"hof/v1/{self.home}/{records[0]['bn'].rstrip('/')}/{channel}"
        self.infos.append(self.client.publish(topic, json.dumps(records), qos=1))

    def run(self, rate_hz: float, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stop.is_set():
            device = f"env-{self.sent % 4}"
            record = {"bn": f"{device}/", "bt": self.t0 + 60 * self.sent, "n": "temperature"}
            self.pack("reading", [{**record, "u": "Cel", "v": 15 + (self.sent % 50) / 10}])
            self.sent += 1
            time.sleep(1 / rate_hz)

    def all_acknowledged(self, timeout_s: float) -> bool:
        assert len(self.infos) < 65_000  # message ids are unique below MQTT's 65535
        return wait_until(lambda: all(i.mid in self.acked for i in self.infos), timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stored(settings: Settings, home: str) -> int:
    series = influx_query(settings, f"SELECT count(temperature) FROM reading WHERE home='{home}'")
    return int(series[0]["values"][0][1]) if series else 0


def missing(settings: Settings, publisher: Publisher) -> list[int]:
    """The numbers of the published readings not in InfluxDB (for a failure's message)."""
    series = influx_query(
        settings, f"SELECT temperature FROM reading WHERE home='{publisher.home}'"
    )
    times = {round(row[0] / 1000) for s in series for row in s["values"]}
    return [i for i in range(publisher.sent) if round(publisher.t0 + 60 * i) not in times]


def test_ids_with_a_dot_are_refused_on_nats_not_mangled() -> None:
    assert topic_to_subject("hof/v1/LCC-1/env-1/reading") == "hof.v1.LCC-1.env-1.reading"
    assert subject_to_topic("hof.v1.LCC-1.env-1.reading") == "hof/v1/LCC-1/env-1/reading"
    with pytest.raises(ContractError, match=r"NATS 2\.9 refuses"):
        topic_to_subject("hof/v1/LCC.1/env-1/reading")


def test_the_node_leading_ingests_stream_killed_mid_stream_loses_no_reading_and_no_fall(
    cluster: NatsCluster, stack: Stack, settings: Settings, home_id: str, tmp_path: Path
) -> None:
    state = tmp_path / "services"
    state.mkdir()
    # Ingest first: its durable consumers must exist before devices publish (docs/scaling.md).
    first = cluster.nodes[0]
    ingest = IngestProcess(state, "ingest-nats", **service_env(cluster, stack, first))
    ingest.start(45)
    # The node leading the stream ingest reads: while it elects a new leader, what devices
    # publish must be refused (and resent), never acknowledged and lost.
    _, stream_leader, _ = asyncio.run(_ingest_stream(cluster))
    victim = next(n for n in cluster.nodes if n.name == stream_leader)
    # Devices and the rules engine on a node that survives (their one MQTT address; in
    # production a TCP load balancer in front of the listeners moves them, docs/scaling.md).
    survivor = next(n for n in cluster.nodes if n is not victim)
    alerts = AlertsProcess(state, "alerts-nats", **service_env(cluster, stack, survivor))
    alerts.start(45)
    publisher = Publisher(cluster, survivor, home_id)
    try:
        feeder = threading.Thread(target=publisher.run, args=(100.0, 12.0))
        feeder.start()
        time.sleep(3.0)
        cluster.kill(victim)  # SIGKILL, with readings in flight
        time.sleep(1.0)
        fall_time = round(time.time(), 3)
        publisher.pack("event", [{"bn": "tc-1/", "bt": fall_time, "n": "fall", "vs": "detected"}])
        time.sleep(3.0)
        cluster.start_node(victim)
        feeder.join(20)
        assert publisher.all_acknowledged(30), "the cluster did not acknowledge every publish"
        published = publisher.sent
        assert published > 800

        assert wait_until(lambda: stored(settings, home_id) >= published, 40), (
            f"{stored(settings, home_id)} of {published} stored, missing "
            f"{missing(settings, publisher)}; {asyncio.run(_ingest_stream(cluster))[2]}"
        )
        time.sleep(1.0)  # a late duplicate would show as a count above `published`
        assert stored(settings, home_id) == published

        store = AlertStore.from_settings(Settings(environment="test", state_dir=state))
        try:
            where = AlertFilter(homes=[home_id], categories=(Category.FALL,))
            assert wait_until(lambda: bool(store.list(where, limit=10).items), 20), (
                alerts.log_tail()
            )
            (alert,) = store.list(where, limit=10).items
            assert alert.evidence["time"] == fall_time
        finally:
            store.close()
    finally:
        publisher.stop.set()
        publisher.close()
        for worker in (ingest, alerts):
            if worker.proc is not None:
                worker.stop()


def test_ingest_started_before_any_node_answers_waits_for_the_cluster(
    stack: Stack, settings: Settings, home_id: str, tmp_path: Path
) -> None:
    """Machines boot in any order: a worker up before the cluster retries until it is there."""
    state = tmp_path / "services"
    state.mkdir()
    cluster = NatsCluster(tmp_path / "nats", size=3)  # ports chosen, no node started yet
    ingest = IngestProcess(state, "ingest-early", **service_env(cluster, stack, cluster.nodes[0]))
    started: list[BaseException | None] = []

    def start() -> None:
        try:
            ingest.start(60)
            started.append(None)
        except BaseException as exc:
            started.append(exc)

    starter = threading.Thread(target=start)
    publisher: Publisher | None = None
    try:
        starter.start()
        time.sleep(3.0)
        assert ingest.proc is not None
        assert ingest.proc.poll() is None, ingest.log_tail()
        cluster.start()
        starter.join(70)
        assert started == [None], ingest.log_tail()
        publisher = Publisher(cluster, cluster.nodes[1], home_id)
        publisher.run(rate_hz=50.0, seconds=1.0)
        assert publisher.all_acknowledged(10)
        assert wait_until(lambda: stored(settings, home_id) == publisher.sent, 20)
    finally:
        if publisher is not None:
            publisher.close()
        starter.join(70)
        if ingest.proc is not None:
            ingest.stop()
        cluster.stop()


async def _retention(cluster: NatsCluster) -> str:
    from nats.js.api import RetentionPolicy

    nc = await _platform(cluster)
    try:
        info = await nc.jetstream().stream_info(MQTT_STREAM)
        return RetentionPolicy(info.config.retention).value  # nats-py leaves it a str
    finally:
        await nc.close()


def _nats_stream_command(cluster: NatsCluster, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOF_STATE_DIR": str(cwd),
        "HOF_NATS__SERVERS": json.dumps(cluster.servers()),
        "HOF_NATS__USERNAME": "platform",
        "HOF_NATS__PASSWORD": cluster.platform_password,
    }
    return subprocess.run(
        [sys.executable, "-m", "hof.cli", "stack", "nats-stream"],
        env=env,
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("first", ["platform", "device"])
def test_the_stream_of_devices_publishes_keeps_limits_retention_when_the_platform_makes_it(
    first: str, tmp_path: Path
) -> None:
    """NATS makes `$MQTT_msgs` with interest retention when the first MQTT client connects; made
    first by the platform (`hof stack nats-stream`, or the cluster's start), it keeps limits
    retention once devices connect, and the command says when it came too late."""
    nodes = NatsCluster(tmp_path / "nats", size=3)
    nodes.write_configs()  # nodes started by hand: nothing makes the stream but NATS or the CLI
    try:
        for node in nodes.nodes:
            nodes.start_node(node, wait=False)
        for node in nodes.nodes:
            assert node.process is not None
            node.process.wait_ready(functools.partial(nodes.healthy, node), 30)
        if first == "device":
            # The first CONNECT makes NATS's MQTT streams; it may take longer than a probe waits.
            assert wait_until(lambda: nodes.accepts_devices(nodes.nodes[1]), 30)
            late = _nats_stream_command(nodes, tmp_path)
            assert late.returncode == 1, late.stdout + late.stderr
            assert "interest retention" in late.stdout
            assert asyncio.run(_retention(nodes)) == "interest"
            return
        made = _nats_stream_command(nodes, tmp_path)
        assert made.returncode == 0, made.stdout + made.stderr
        assert "made, with limits retention" in made.stdout
        # NATS's MQTT layer takes the stream it finds.
        assert wait_until(lambda: nodes.accepts_devices(nodes.nodes[1]), 30)
        again = _nats_stream_command(nodes, tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "there already, with limits retention" in again.stdout
        assert asyncio.run(_retention(nodes)) == "limits"
    finally:
        nodes.stop()


async def _cancel_while_messages_flow(cluster: NatsCluster, rounds: int) -> list[float]:
    """Seconds each cancel of a source took to finish, with messages arriving all the while and
    a queue that fills up (as a draining ingest worker's inbox does)."""
    from pydantic import SecretStr

    settings = NatsSettings(
        broker="nats",
        servers=cluster.servers(),
        username="platform",
        password=SecretStr(cluster.platform_password),
    )
    nc = await _platform(cluster)
    js = nc.jetstream()
    flowing = True

    async def publish() -> None:
        i = 0
        while flowing:
            channel = "event" if i % 5 == 0 else "reading"
            await js.publish(f"$MQTT.msgs.hof.v1.CANCEL-1.env-{i % 3}.{channel}", b"[]")
            i += 1

    publisher = asyncio.create_task(publish())
    took: list[float] = []
    try:
        for round_ in range(rounds):
            queue: asyncio.Queue[Any] = asyncio.Queue(50)
            source = JetStreamSource(
                settings, durable="ingest", channels=["reading", "event"], queue=queue
            )
            task = asyncio.create_task(source.run())
            await asyncio.wait_for(source.subscribed.wait(), 30)
            until = time.monotonic() + 0.5 + 0.3 * round_
            while time.monotonic() < until:
                with contextlib.suppress(TimeoutError):
                    source.ack(await asyncio.wait_for(queue.get(), 0.5))
            started = time.monotonic()
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=10)
            took.append(time.monotonic() - started if done else float("inf"))
            if not done:
                break  # a task that ignores its cancel cannot be cleaned up either
    finally:
        flowing = False
        await publisher
        await nc.close()
    return took


def test_a_source_cancelled_while_messages_flow_stops(cluster: NatsCluster) -> None:
    """A draining ingest worker cancels its source while messages still arrive: each cancel
    must end the source (Python 3.11's wait_for inside nats-py can drop one; a worker hung)."""
    took = asyncio.run(_cancel_while_messages_flow(cluster, rounds=6))
    assert all(seconds < 5 for seconds in took), took
