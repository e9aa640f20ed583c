"""Faults: a worker killed mid-stream, a broker restart with a deep queue, InfluxDB going away.

Each test runs its own stack, so that stopping a part harms no other test, once on Mosquitto and
once on a 3-node NATS JetStream cluster (where "the broker" is every node: docs/scaling.md).
The answer to every fault is a retry, and nothing is lost or stored twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from hofsupport import IngestProcess, influx_query, wait_until
from natsstack import NatsStack
from paho.mqtt.enums import CallbackAPIVersion

from hof.settings import Settings
from hof.stack import Stack

pytestmark = pytest.mark.e2e

MakeStack = Callable[[], tuple[Stack | NatsStack, Settings]]


@pytest.fixture(params=["mosquitto", "nats"])
def make_stack(
    request: pytest.FixtureRequest, make_stack: MakeStack, tmp_path: Path
) -> Iterator[MakeStack]:
    """conftest's private Mosquitto stack, or a private NATS cluster with its InfluxDB."""
    if request.param == "mosquitto":
        yield make_stack
        return
    made: list[NatsStack] = []

    def make() -> tuple[Stack | NatsStack, Settings]:
        private = NatsStack(tmp_path / f"nats{len(made)}")
        made.append(private)
        return private, private.up()

    yield make
    for private in made:
        private.down()


def publish_many(settings: Settings, home: str, count: int, start: float) -> None:
    """`count` one-record packs, each at its own minute, as fast as the broker takes them."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert settings.simulator.mqtt_password is not None
    client.username_pw_set(
        settings.simulator.mqtt_username, settings.simulator.mqtt_password.get_secret_value()
    )
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(settings.mqtt.host, settings.mqtt.port)
    client.loop_start()
    infos = []
    for i in range(count):
        pack = [
            {
                "bn": "env-1/",
                "bt": start + 60 * i,
                "n": "temperature",
                "u": "Cel",
                "v": 15 + (i % 100) / 10,
            }
        ]
        infos.append(client.publish(f"hof/v1/{home}/env-1/reading", json.dumps(pack), qos=1))
    for info in infos:
        info.wait_for_publish(30)
        assert info.is_published()
    client.disconnect()
    client.loop_stop()


def stored(settings: Settings, home: str) -> int:
    series = influx_query(settings, f"SELECT count(temperature) FROM reading WHERE home='{home}'")
    return int(series[0]["values"][0][1]) if series else 0


def test_worker_killed_mid_stream_loses_nothing(make_stack: MakeStack) -> None:
    private, settings = make_stack()
    worker = IngestProcess(settings.state_dir, "w1", HOF_INGEST__BATCH_MAX_POINTS="200")
    worker.start()
    # NATS's MQTT listener takes QoS 1 publishes far more slowly than Mosquitto (about 100 a
    # second: 20,000 took 4 minutes, 4,000 took 40 s): 1,500 there still outlast the 500 stored
    # before the kill by several seconds, and `killed_at < n` below fails if they ever do not.
    n = 20_000 if isinstance(private, Stack) else 1_500
    publisher = threading.Thread(
        target=publish_many, args=(settings, "KILL-1", n, time.time() - 60 * n - 60)
    )
    publisher.start()
    assert wait_until(lambda: worker.metrics().get("hof_ingest_points_written_total", 0) > 500, 60)
    worker.kill()  # while the publisher is still sending: the stream is mid-flight
    killed_at = stored(settings, "KILL-1")
    publisher.join()
    assert 0 < killed_at < n
    worker.start()
    assert wait_until(lambda: stored(settings, "KILL-1") == n, 90), stored(settings, "KILL-1")
    time.sleep(1.0)
    assert stored(settings, "KILL-1") == n
    assert worker.stop() == 0


def test_broker_restart_keeps_a_deep_queue_for_a_stopped_worker(make_stack: MakeStack) -> None:
    """More than Mosquitto's default 1,000 queued messages, across a broker restart."""
    stack, settings = make_stack()
    worker = IngestProcess(settings.state_dir, "w2")
    worker.start()  # creates the persistent session and its shared subscription
    assert worker.stop() == 0
    n = 5000
    publish_many(settings, "QUEUE-1", n, time.time() - 60 * n - 60)
    stack.broker.stop()  # graceful: Mosquitto writes its persistence file
    stack.broker.start()
    worker.start()
    assert wait_until(lambda: stored(settings, "QUEUE-1") == n, 60), stored(settings, "QUEUE-1")
    assert worker.stop() == 0


def test_influxdb_outage_is_retried_until_stored(make_stack: MakeStack) -> None:
    stack, settings = make_stack()
    worker = IngestProcess(settings.state_dir, "w3")
    worker.start()
    stack.influx.stop()
    n = 300
    publish_many(settings, "DB-1", n, time.time() - 60 * n - 60)
    assert wait_until(lambda: worker.metrics().get("hof_ingest_write_failures_total", 0) >= 2)
    assert worker.metrics().get("hof_ingest_points_written_total", 0) == 0
    stack.influx.start()
    assert wait_until(lambda: stored(settings, "DB-1") == n, 60)
    assert worker.stop() == 0


def test_broker_outage_while_running_reconnects(make_stack: MakeStack) -> None:
    stack, settings = make_stack()
    worker = IngestProcess(settings.state_dir, "w4")
    worker.start()
    publish_many(settings, "BRK-1", 100, time.time() - 20000)
    assert wait_until(lambda: stored(settings, "BRK-1") == 100)
    stack.broker.kill()
    assert wait_until(lambda: worker.metrics().get("hof_ingest_connected") == 0.0, 40)
    stack.broker.start()
    assert wait_until(lambda: worker.metrics().get("hof_ingest_connected") == 1.0, 40)
    publish_many(settings, "BRK-1", 100, time.time() - 10000)
    assert wait_until(lambda: stored(settings, "BRK-1") == 200, 30)
    assert worker.stop() == 0


def test_sigterm_drains_and_exits_cleanly(make_stack: MakeStack) -> None:
    _stack, settings = make_stack()
    worker = IngestProcess(settings.state_dir, "w5")
    worker.start()
    try:
        publish_many(settings, "TERM-1", 1000, time.time() - 100000)
        assert worker.stop() == 0
        log: list[dict[str, Any]] = [
            json.loads(line)
            for line in worker.log_path.read_text().splitlines()
            if line.startswith("{")
        ]
        events = [entry["event"] for entry in log]
        assert "ingest_draining" in events
        assert events.index("ingest_stopped") > events.index("ingest_draining")
        worker.start()
        assert wait_until(lambda: stored(settings, "TERM-1") == 1000, 30)
    finally:
        if worker.proc is not None:
            worker.stop()


@pytest.mark.parametrize(
    "share_group",
    [
        None,  # the default: what the README and `hof demo` run (issue 11, 8)
        "",
        pytest.param(
            "ingest",
            marks=pytest.mark.xfail(
                strict=True,
                reason="Mosquitto 2.0.11 does not restore a persistent session's shared "
                "subscription after a restart: what is published before the worker returns "
                "has no subscriber and is dropped",
            ),
        ),
    ],
)
def test_messages_published_after_a_broker_restart_reach_a_returning_worker(
    make_stack: MakeStack, share_group: str | None
) -> None:
    stack, settings = make_stack()
    if isinstance(stack, NatsStack) and share_group == "ingest":
        pytest.skip("on NATS every worker shares one JetStream consumer; no MQTT share group")
    group = {} if share_group is None else {"HOF_INGEST__SHARE_GROUP": share_group}
    worker = IngestProcess(settings.state_dir, "w6", **group)
    worker.start()  # makes the persistent session and its subscription
    assert worker.stop() == 0
    stack.broker.stop()
    stack.broker.start()
    publish_many(settings, "RESTART-1", 200, time.time() - 100_000)  # before the worker is back
    worker.start()
    try:
        # Nothing may be lost; how soon it arrives depends on the machine. On NATS the worker is
        # ready once its consumers are bound, which can be before each has a leader again after
        # the whole cluster's restart: its fetches wait until then. CI's slower runner once
        # stored none of them in 10 s (stop 31), so the wait matches this file's other tests.
        # On Mosquitto's shared subscription (the strict xfail) they never come.
        timeout = 10 if share_group == "ingest" else 30
        assert wait_until(lambda: stored(settings, "RESTART-1") == 200, timeout), (
            f"{stored(settings, 'RESTART-1')} of 200 stored in {timeout} s; "
            f"worker log:\n{worker.log_tail(40)}"
        )
    finally:
        worker.stop()


def test_a_broker_restart_under_steady_traffic_loses_no_acknowledged_message(
    make_stack: MakeStack,
) -> None:
    """Issue 11, 8, as it was found: readings at 40 a second, the broker restarted under them,
    the worker running throughout with the default settings (153 of 1,200 were lost with the
    default shared subscription). Every message the broker acknowledged must be stored."""
    stack, settings = make_stack()
    worker = IngestProcess(settings.state_dir, "w7")
    worker.start()
    home, n, start = "STEADY-1", 400, time.time() - 100_000
    # Each connection's message ids and the ids its broker acknowledged (PUBACK). paho calls
    # on_publish holding its own lock, so the callback must take no lock that is held around
    # publish(): one lock around both deadlocked a loaded run (the test hung for 300 s).
    # A PUBACK can arrive before publish() returns its id, so ids are matched at the end.
    sessions: list[tuple[dict[int, int], set[int]]] = []

    def connect() -> tuple[paho.Client, dict[int, int]]:
        """A publisher that keeps which message ids the broker acknowledged."""
        mids: dict[int, int] = {}
        acked_mids: set[int] = set()
        sessions.append((mids, acked_mids))
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311
        )
        assert settings.simulator.mqtt_password is not None
        client.username_pw_set(
            settings.simulator.mqtt_username, settings.simulator.mqtt_password.get_secret_value()
        )

        def on_publish(c: Any, u: Any, mid: int, rc: Any, p: Any) -> None:
            acked_mids.add(mid)  # set.add is atomic under the GIL: no lock needed

        client.on_publish = on_publish
        client.connect(settings.mqtt.host, settings.mqtt.port)
        client.loop_start()
        return client, mids

    def close(client: paho.Client) -> None:
        time.sleep(1.0)  # the last acknowledgements
        client.disconnect()
        client.loop_stop()

    client, mids = connect()
    for i in range(n):
        pack = [{"bn": "env-1/", "bt": start + 60 * i, "n": "temperature", "u": "Cel", "v": 20.0}]
        info = client.publish(f"hof/v1/{home}/env-1/reading", json.dumps(pack), qos=1)
        mids[info.mid] = i
        if i == n // 3:
            close(client)
            stack.broker.stop()  # graceful: a restart for an upgrade or a reboot
            stack.broker.start()
            client, mids = connect()  # devices and gateways are back first: they were waiting
        time.sleep(1 / 40)
    close(client)
    acked = {ids[m] for ids, got in sessions for m in got if m in ids}

    def stored_indices() -> set[int]:
        series = influx_query(settings, f"SELECT temperature FROM reading WHERE home='{home}'")
        times = [row[0] for row in series[0]["values"]] if series else []
        return {round((t / 1000 - start) / 60) for t in times}

    assert len(acked) > n // 2, f"only {len(acked)} of {n} were acknowledged"
    try:
        assert wait_until(lambda: acked <= stored_indices(), 30), (
            f"{len(acked - stored_indices())} of {len(acked)} acknowledged messages lost"
        )
    finally:
        worker.stop()
