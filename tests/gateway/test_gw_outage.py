"""A day without internet: the gateway keeps everything, and when the uplink returns every
record reaches InfluxDB exactly once, falls before routine readings."""

from __future__ import annotations

import time

import pytest
from gw_support import *  # noqa: F403  (pytest fixtures, by name)
from gw_support import DAY, Home, count_stored, publish_day, until

pytestmark = pytest.mark.e2e


def test_day_outage_then_everything_once_events_first(home: Home) -> None:
    home.ingest()
    gateway = home.gateway()
    gateway.start()
    sensors = [home.device(f"env-{n}") for n in range(3)]
    pendant = home.device("pendant-1")
    recorder = home.recorder(f"hof/v1/{home.id}/+/+")

    # The path works: one reading goes straight through.
    start = time.time() - DAY - 600
    sensors[0].publish(
        "reading", [{"bn": "env-0/", "bt": start - 300, "n": "temperature", "u": "Cel", "v": 19}]
    )
    assert until(lambda: count_stored(home.platform_settings, home.id) == 1)

    home.internet.cut()  # the internet goes
    assert until(lambda: gateway.gauge("hof_gateway_uplink_connected") == 0.0, 10)
    sent = publish_day(sensors, start, falls=pendant, fall_at=(40, 140, 240))
    falls = 3
    assert until(lambda: gateway.metrics().get("hof_gateway_records_total") == sent + 1, 30)
    assert gateway.gauge("hof_gateway_queue_depth") == sent
    before = len(recorder.messages)

    home.internet.restore()  # and comes back
    restored = time.monotonic()
    assert until(lambda: gateway.gauge("hof_gateway_uplink_connected") == 1.0, 40)
    connected = time.monotonic()
    assert until(
        lambda: (
            count_stored(home.platform_settings, home.id) == sent - falls + 1
            and count_stored(home.platform_settings, home.id, "event") == falls
        ),
        60,
    ), (count_stored(home.platform_settings, home.id), sent)
    print(
        f"\nrecovery: {sent} records, reconnect {connected - restored:.1f} s, "
        f"drain {time.monotonic() - connected:.1f} s"
    )
    assert until(lambda: gateway.gauge("hof_gateway_queue_depth") == 0.0, 10)
    time.sleep(1.0)
    assert count_stored(home.platform_settings, home.id) == sent - falls + 1
    assert count_stored(home.platform_settings, home.id, "event") == falls

    # On the uplink: every fall before any of the day's readings.
    after = [t for t, _p, _r in recorder.messages[before:]]
    channels = [t.rsplit("/", 1)[1] for t in after if t.endswith(("/event", "/reading"))]
    assert channels.count("event") >= 1
    assert channels.index("reading") > max(i for i, c in enumerate(channels) if c == "event")
    # Merged: far fewer messages than the devices sent.
    assert channels.count("reading") < (sent - falls) / 2 / 10

    # The gateway's retained status says it is online with an empty queue.
    status = [p for t, p in recorder.on("status") if t.endswith("/gateway/status")]
    assert status[-1]["state"] == "online"
    assert set(status[-1]["devices"]["list"]) >= {"env-0", "env-1", "env-2", "pendant-1"}
