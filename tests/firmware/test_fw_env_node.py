"""An environmental node on MicroPython publishes contract-valid SenML, status and last will,
and takes its interval from the retained config."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from fw_support import *  # noqa: F403  (pytest fixtures, by name)
from fw_support import Firmware, Subscriber, until

from hof.senml import parse_pack
from hof.topic import Topic

WORLD = {
    "sht4x": {"temp": [[0, 18.0], [30, 19.0]], "rh": [[0, 70.0], [30, 76.0]]},
    "surface": {"temp": [[0, 14.5]]},
    "scd4x": {"co2": [[0, 800]], "temp": [[0, 18]], "rh": [[0, 70]]},
}


def test_readings_are_contract_valid_senml(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber]
) -> None:
    node = firmware("env", WORLD, interval_s=1)
    sub = subscriber(node.topic("#"))
    node.start()
    assert until(lambda: len(sub.on("/reading")) >= 8), node.output()
    records = []
    for topic, payload, _ in sub.on("/reading"):
        records += parse_pack(Topic.parse(topic), payload, received_at=time.time())
    names = {r.name for r in records}
    assert {"temperature", "humidity", "surface_temperature", "co2"} <= names
    temps = [r.value for r in records if r.name == "temperature"]
    assert all(isinstance(t, float) and 17.9 <= t <= 19.1 for t in temps)
    assert all(r.value == 14.5 for r in records if r.name == "surface_temperature")
    assert all(r.value == 800 for r in records if r.name == "co2")
    # one reading a second, stamped by the device, each once
    times = sorted({r.time_ms for r in records if r.name == "humidity"})
    assert len(times) == len([r for r in records if r.name == "humidity"])
    assert abs(times[-1] / 1000 - time.time()) < 5
    status = json.loads(sub.on("/status")[-1][1])
    assert status["state"] == "online"
    assert status["sensors"] == {"sht4x": "ok", "surface": "ok", "scd4x": "ok"}


def test_last_will_marks_the_device_offline(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber]
) -> None:
    node = firmware("env", WORLD, interval_s=1, keepalive_s=2)
    sub = subscriber(node.topic("status"))
    node.start()
    assert until(lambda: any(b'"online"' in p for _, p, _ in sub.on("/status"))), node.output()
    node.stop(kill=True)  # a power cut: no DISCONNECT, so the broker sends the will
    assert until(lambda: json.loads(sub.on("/status")[-1][1]) == {"state": "offline"}, 10)
    late = subscriber(node.topic("status"))
    assert until(lambda: bool(late.on("/status")), 5)
    _topic, payload, retained = late.on("/status")[-1]
    assert retained
    assert json.loads(payload) == {"state": "offline"}


def test_retained_config_changes_the_interval_and_bad_config_is_refused(
    firmware: Callable[..., Firmware], subscriber: Callable[..., Subscriber]
) -> None:
    node = firmware("env", {"sht4x": {}}, interval_s=1)
    sub = subscriber(node.topic("#"))
    node.start()
    node.wait_line("cycle", count=2)
    sub.publish(
        node.topic("config"),
        json.dumps({"interval_s": 3, "rooms": {node.device: "bedroom"}}),
        retain=True,
    )
    assert until(lambda: any(b'"applied"' in p for _, p, _ in sub.on("/status")))
    status = json.loads([p for _, p, _ in sub.on("/status") if b'"applied"' in p][-1])
    assert status["room"] == "bedroom"
    mark = len(node.lines)
    node.wait_line(
        "cycle", count=len([ln for ln in node.lines if ln.startswith("cycle")]) + 3, timeout_s=15
    )
    cycles = [ln for ln in node.lines[mark:] if ln.startswith("cycle")]
    assert len(cycles) >= 3

    sub.publish(node.topic("config"), json.dumps({"interval_s": -5}), retain=True)
    assert until(lambda: any(b"refused" in p for _, p, _ in sub.on("/status")))
    refused = json.loads([p for _, p, _ in sub.on("/status") if b"refused" in p][-1])
    assert "interval_s" in refused["config"]
