"""Readings taken while the broker is away are kept on the device and arrive afterwards, each
once, with their own timestamps; a battery node does the same across deep sleeps."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any

from fw_support import *  # noqa: F403  (pytest fixtures, by name)
from fw_support import FIRMWARE, Firmware, Subscriber, until
from hypothesis import given
from hypothesis import strategies as st

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


def test_a_fall_outlives_an_outage_that_overfills_the_telecare_outbox(
    make_stack: Callable[[], tuple[Stack, Settings]],
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
) -> None:
    """Motion summaries every 0.1 s stand in for one a minute: a home link outage of about
    32 minutes, compressed. The box overflows with readings after the fall was queued; the
    readings are dropped (and counted on status), the fall is delivered."""
    from fw_support import events, fall_trace

    private, settings = make_stack()
    node = firmware("telecare", settings_=settings, cancel_s=1, keepalive_s=4, motion_summary_s=0.1)
    detect_at = fall_trace(node.workdir, "backward", seed=5)
    node.sim_path.write_text(json.dumps({"adxl345": {"trace": str(node.workdir / "trace.bin")}}))
    sub = subscriber(node.topic("#"), settings, client_id="fw-tc-overfill-watch")
    node.start()
    node.wait_line("link up")
    private.broker.stop()
    node.wait_line("event fall", timeout_s=detect_at + 15)
    fall_line = next(i for i, ln in enumerate(node.lines) if ln.startswith("event fall"))
    # 60 motion summaries after the fall: more than the outbox holds, whatever its size
    assert until(
        lambda: sum(ln.startswith("event motion") for ln in node.lines[fall_line:]) >= 60, 30
    ), node.output()
    private.broker.start()
    assert until(lambda: any(r.name == "fall" for r in events(sub)), 30), node.output()
    assert [(r.name, r.value) for r in events(sub) if r.name == "fall"] == [("fall", "detected")]
    assert until(lambda: any(b'"outbox"' in p for _t, p, _r in sub.on("/status")), 10)
    status = json.loads([p for _t, p, _r in sub.on("/status") if b'"outbox"' in p][-1])
    assert status["outbox"]["dropped_readings"] > 0
    assert status["outbox"]["dropped_events"] == 0


def _ring_module() -> Any:
    spec = importlib.util.spec_from_file_location("fw_ring", FIRMWARE / "lib" / "ring.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RING = _ring_module()


@given(
    st.lists(
        st.one_of(st.integers(0, 3), st.just("ack"), st.just("send")), min_size=1, max_size=300
    ),
    st.integers(1, 12),
)
def test_the_outbox_drops_readings_first_and_never_an_event_for_a_reading(
    ops: list[int | str], capacity: int
) -> None:
    box = RING.Outbox(capacity)
    pushed = 0
    for op in ops:
        if op == "send":
            if box.inflight < 0 and box.count:
                box.inflight = box.next_index()
                # events first: nothing queued has a higher priority than what is sent
                assert box.prio[box.inflight] == max(box.prio[: box.count])
            continue
        if op == "ack":
            if box.inflight >= 0:
                box.remove(box.inflight)
            continue
        assert isinstance(op, int)
        before = [box.prio[i] for i in range(box.count)]
        events_dropped = box.stats["dropped_events"]
        held = (box.prio[box.inflight], box.ms[box.inflight]) if box.inflight >= 0 else None
        box.push(op % 256, 0, op, pushed)
        pushed += 1
        assert box.count <= capacity
        if box.stats["dropped_events"] > events_dropped:
            # an event went only because no reading was left to drop
            assert not before or min(before) >= 1
        if held is not None and box.inflight >= 0:
            # the index follows the entry in flight while others move up
            assert (box.prio[box.inflight], box.ms[box.inflight]) == held
        stamps = [box.ms[i] for i in range(box.count)]
        assert stamps == sorted(stamps)  # oldest first
