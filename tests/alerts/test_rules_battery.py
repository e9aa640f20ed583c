"""Issue 12, item 3: low battery fires for the project's own sensors (status and voltage)."""

from __future__ import annotations

import json
import time
from typing import Any, cast

from alerts.findings import Action
from alerts.rules import devices
from alerts.service import AlertsWorker
from alerts.thresholds import Thresholds
from hof.mqtt import Delivery
from hof.settings import Settings


def _delivery(topic: str, body: object, *, retain: bool = False) -> Delivery:
    return Delivery(
        topic=topic,
        payload=json.dumps(body).encode(),
        qos=1,
        retain=retain,
        mid=1,
        received_at=time.time(),
        connection=cast(Any, None),
    )


def test_battery_in_a_status_raises_and_clears() -> None:
    state, th = devices.DeviceState("H1", "env-1"), Thresholds()
    low = devices.parse_status(b'{"state":"online","fw":"1.3.0","battery":9,"rssi":-61}')
    assert low is not None
    [found] = devices.on_status(state, low, 100.0, th)
    assert found.action is Action.RAISE
    assert found.rule.name == "low_battery"
    assert "9 %" in found.summary
    again = devices.parse_status(b'{"state":"online","battery":30}')
    assert again is not None
    assert [f.action for f in devices.on_status(state, again, 200.0, th)] == [Action.CLEAR]


def test_a_voltage_is_judged_by_the_cells_chemistry() -> None:
    th = Thresholds()
    li_ion = devices.DeviceState("H1", "env-1")  # the project's env node: one Li-ion cell
    assert devices.on_voltage(li_ion, 3.9, 1.0, th) is None
    found = devices.on_voltage(li_ion, 3.40, 2.0, th)
    assert found is not None
    assert found.action is Action.RAISE
    assert "3.40 V (li-ion)" in found.summary
    assert devices.on_voltage(li_ion, 3.55, 3.0, th) is None  # between low and ok: no flap
    cleared = devices.on_voltage(li_ion, 4.1, 4.0, th)  # a fresh cell
    assert cleared is not None
    assert cleared.action is Action.CLEAR
    # Two AA alkaline cells at 2.8 V are fine; the same figure is a flat Li-ion cell.
    aa = devices.DeviceState("H1", "env-2", chemistry="alkaline-2aa")
    assert devices.on_voltage(aa, 2.8, 1.0, th) is None
    assert devices.on_voltage(devices.DeviceState("H1", "env-3"), 2.8, 1.0, th) is not None
    # A mains device's 0 V says nothing about a battery.
    assert devices.on_voltage(devices.DeviceState("H1", "env-4"), 0.0, 1.0, th) is None


def test_a_broken_status_is_no_news() -> None:
    assert devices.parse_status(b"not json") is None
    assert devices.parse_status(b'{"battery": 250}') is None


async def test_the_worker_raises_low_battery_from_status_and_from_voltage(
    settings: Settings, home_id: str
) -> None:
    """Through the worker's own evaluation: today both are ignored."""
    worker = AlertsWorker(settings)
    status = _delivery(
        f"hof/v1/{home_id}/env-1/status",
        {"state": "online", "fw": "sim-0.1.0", "battery": 7, "rssi": -61, "ts": time.time()},
        retain=True,
    )
    found = [f for f in worker._evaluate(status) if f.rule.name == "low_battery"]
    assert [(f.action, f.room) for f in found] == [(Action.RAISE, "env-1")]
    now = time.time()
    pack = [
        {"bn": "env-2/", "bt": now, "n": "temperature", "u": "Cel", "v": 19.5},
        {"n": "voltage", "u": "V", "v": 3.31},
    ]
    found = [
        f
        for f in worker._evaluate(_delivery(f"hof/v1/{home_id}/env-2/reading", pack))
        if f.rule.name == "low_battery"
    ]
    assert [(f.action, f.room) for f in found] == [(Action.RAISE, "env-2")]
    worker.store.close()


def test_offline_grace_follows_the_devices_own_interval() -> None:
    """Today 600 s for every device: an hourly sensor went offline between two readings."""
    th = Thresholds()
    hourly = devices.DeviceState("H1", "env-1", last_seen=1000.0)
    status = devices.parse_status(b'{"state":"online","interval_s":3600}')
    assert status is not None
    devices.on_status(hourly, status, 1000.0, th)
    assert devices.on_tick(hourly, 1000.0 + 3000, th) is None  # between two readings
    assert devices.on_tick(hourly, 1000.0 + 3 * 3600 + 1, th) is not None
    fast = devices.DeviceState("H1", "env-2", last_seen=1000.0, interval_s=60.0)
    found = devices.on_tick(fast, 1000.0 + 181, th)
    assert found is not None
    assert found.evidence["grace_s"] == 180
