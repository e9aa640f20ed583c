"""A power cut mid-flush, and a queue that fills up during a long outage."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from gw_support import *  # noqa: F403  (pytest fixtures, by name)
from gw_support import DAY, Home, Recorder, count_stored, influx_query, publish_day, until

from hof.senml import parse_pack
from hof.topic import Topic

pytestmark = pytest.mark.e2e


def test_sigkill_mid_flush_loses_and_duplicates_nothing(home: Home) -> None:
    home.ingest()
    # Small chunks, one pack at a time: the flush takes long enough to be cut in the middle.
    gateway = home.gateway(HOF_GATEWAY__FORWARD_CHUNK_RECORDS="2", HOF_GATEWAY__PUBLISH_WINDOW="1")
    gateway.start()
    sensors = [home.device(f"env-{n}") for n in range(2)]
    pendant = home.device("pendant-1")
    uplink = home.recorder(f"hof/v1/{home.id}/+/reading")
    home.internet.cut()
    assert until(lambda: gateway.gauge("hof_gateway_uplink_connected") == 0.0, 10)
    start = time.time() - DAY - 600
    sent = publish_day(sensors, start, falls=pendant, fall_at=(10, 200))
    assert until(lambda: gateway.gauge("hof_gateway_queue_depth") == sent, 30)

    home.internet.restore()
    forwarded = "hof_gateway_forwarded_records_total"
    assert until(lambda: gateway.metrics().get(forwarded, 0) > 100, 40)
    cut_at = gateway.metrics().get(forwarded, 0)
    gateway.kill()  # a power cut while the queue is being flushed
    assert cut_at < sent - 50, "the flush finished before the cut: nothing was tested"
    # The platform learns at once from the gateway's last will.
    status = home.recorder(f"hof/v1/{home.id}/gateway/status")
    assert until(lambda: bool(status.messages) and status.messages[-1][1] == b'{"state":"offline"}')

    # While the gateway is dead the devices go on; the home broker keeps their messages.
    late = [
        {"bn": "env-0/", "bt": time.time() - 60, "n": "temperature", "u": "Cel", "v": 21.5},
        {"n": "humidity", "u": "%RH", "v": 55},
    ]
    sensors[0].publish("reading", late)
    gateway.start()
    total = sent - 2 + 2
    assert until(lambda: count_stored(home.platform_settings, home.id) == total, 30), (
        count_stored(home.platform_settings, home.id),
        total,
        len(uplink_keys(uplink)),
    )
    assert until(lambda: count_stored(home.platform_settings, home.id, "event") == 2, 10)
    assert until(lambda: gateway.gauge("hof_gateway_queue_depth") == 0.0, 10)
    time.sleep(1.0)
    assert count_stored(home.platform_settings, home.id) == total
    assert count_stored(home.platform_settings, home.id, "event") == 2


def uplink_keys(recorder: Recorder) -> set[tuple[str, str, int]]:
    """The distinct records seen on the uplink."""
    keys = set()
    for topic, payload, _retained in list(recorder.messages):
        for r in parse_pack(Topic.parse(topic), payload, received_at=time.time()):
            keys.add((r.device, r.name, r.time_ms))
    return keys


def _cpu_s(pid: int) -> float:
    """The process's user and system CPU seconds so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_full_queue_drops_only_readings_and_says_so(home: Home) -> None:
    home.ingest()
    gateway = home.gateway(HOF_GATEWAY__QUEUE_MAX_RECORDS="300")
    gateway.start()
    sensor = home.device("env-1")
    pendant = home.device("pendant-1")
    home.internet.cut()
    assert until(lambda: gateway.gauge("hof_gateway_uplink_connected") == 0.0, 10)
    start = time.time() - DAY - 600
    sent = publish_day([sensor], start, falls=pendant, fall_at=(5, 100, 280))
    assert sent == 579
    assert until(lambda: gateway.metrics().get("hof_gateway_records_total") == sent, 30)
    assert gateway.gauge("hof_gateway_dropped_readings_total") == sent - 300
    assert gateway.by_label("hof_gateway_queue_depth", "channel") == {
        "event": 3.0,
        "reading": 297.0,
    }
    # The drops made a status due, and the uplink is down: the status loop went round without
    # waiting, a core's worth of CPU for as long as the outage lasted (and froze the gateway
    # once its wait stopped yielding).
    assert gateway.proc is not None
    before = _cpu_s(gateway.proc.pid)
    time.sleep(3.0)
    assert _cpu_s(gateway.proc.pid) - before < 0.5

    home.internet.restore()
    assert until(lambda: count_stored(home.platform_settings, home.id, "event") == 3, 40)
    assert until(lambda: count_stored(home.platform_settings, home.id) == 297, 20)
    # The newest readings are the ones kept.
    first = influx_query(
        home.platform_settings, f"SELECT first(temperature) FROM reading WHERE home='{home.id}'"
    )
    kept_from = first[0]["values"][0][0] / 1000
    assert kept_from == pytest.approx(start + (288 - 297 // 2) * 300, abs=301)

    status = home.recorder(f"hof/v1/{home.id}/gateway/status")
    assert until(lambda: bool(status.messages), 10)
    body = json.loads(status.messages[-1][1])
    assert body["state"] == "online"
    assert body["dropped"] == {"readings": sent - 300, "events": 0}
    assert "clock" in body
    assert "oldest_age_s" in body["queue"]


def test_sigterm_drains_and_says_offline_and_a_restart_finishes_the_job(home: Home) -> None:
    home.ingest()
    gateway = home.gateway()
    gateway.start()
    status = home.recorder(f"hof/v1/{home.id}/gateway/status")
    sent = publish_day([home.device("env-1")], time.time() - DAY - 600)
    assert gateway.stop() == 0  # SIGTERM at once, with the day still on its way
    assert until(lambda: status.messages[-1][1] == b'{"state":"offline"}', 10)
    gateway.start()
    assert until(lambda: count_stored(home.platform_settings, home.id) == sent, 40)
    assert until(lambda: json.loads(status.messages[-1][1])["state"] == "online", 10)
