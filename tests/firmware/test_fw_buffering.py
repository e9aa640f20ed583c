"""Readings taken while the broker is away are kept on the device and arrive afterwards, each
once, with their own timestamps; a battery node does the same across deep sleeps."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable

from fw_support import *  # noqa: F403  (pytest fixtures, by name)
from fw_support import Firmware, Subscriber, until

from hof.senml import Record, parse_pack
from hof.settings import Settings
from hof.stack import Stack
from hof.topic import Topic

WORLD = {"sht4x": {"temp": [[0, 20.0], [60, 21.0]], "rh": [[0, 60.0]]}}


def _humidity(sub: Subscriber) -> list[Record]:
    records: list[Record] = []
    for topic, payload, _ in sub.on("/reading"):
        records += parse_pack(Topic.parse(topic), payload, received_at=time.time())
    return [r for r in records if r.name == "humidity"]


def _cycles(node: Firmware) -> list[tuple[int, int]]:
    """(cycle number, readings still buffered) from the node's log."""
    out = []
    for line in list(node.lines):
        m = re.match(r"cycle n=(\d+) .*buffered=(\d+)", line)
        if m:
            out.append((int(m[1]), int(m[2])))
    return out


def test_a_broker_outage_loses_no_reading(
    make_stack: Callable[[], tuple[Stack, Settings]],
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
) -> None:
    private, settings = make_stack()
    node = firmware("env", WORLD, settings_=settings, interval_s=1, keepalive_s=5)
    # a persistent session: the platform misses nothing while it too reconnects
    sub = subscriber(node.topic("reading"), settings, client_id="fw-outage-watch")
    node.start()
    assert until(lambda: len(_humidity(sub)) >= 2), node.output()
    private.broker.stop()
    outage_start = len(_cycles(node))
    assert until(lambda: any(b >= 4 for _, b in _cycles(node)[outage_start:]), 20), node.output()
    private.broker.start()
    # back: the node drains its ring, oldest first
    assert until(lambda: any(b == 0 for _, b in _cycles(node)[outage_start + 4 :]), 30), (
        node.output()
    )
    last = max(n for n, b in _cycles(node) if b == 0)
    assert until(lambda: len({r.time_ms for r in _humidity(sub)}) >= last, 15), node.output()
    times = sorted({r.time_ms for r in _humidity(sub)})
    assert len(times) >= last
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # one reading a second, none missing (a broker restart can delay a cycle a little)
    assert max(gaps) <= 2500, gaps
    assert max(b for _, b in _cycles(node)) >= 4


def test_a_battery_node_sleeps_between_readings_and_keeps_them_in_rtc_memory(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber]
) -> None:
    node = firmware("env", WORLD, interval_s=30, power="battery")
    sub = subscriber(node.topic("#"))
    # the retained config, read in the moment a battery node is awake, sets 2 s
    sub.publish(node.topic("config"), json.dumps({"interval_s": 2}), retain=True)
    node.start()
    assert until(lambda: len(_humidity(sub)) >= 3, 30), node.output()
    assert len([ln for ln in node.lines if ln.startswith("deepsleep")]) >= 2
    boots = [ln for ln in node.lines if ln.startswith("boot")]
    assert len(boots) >= 3  # each wake-up starts the application afresh
    voltages = [r for r in sub.on("/reading") if b'"voltage"' in r[1]]
    assert voltages, "a battery node reports its voltage"
    times = sorted({r.time_ms for r in _humidity(sub)})
    assert all(1500 <= b - a <= 3500 for a, b in itertools.pairwise(times)), times
