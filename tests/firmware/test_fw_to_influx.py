"""End to end: firmware on MicroPython -> Mosquitto -> ingest -> InfluxDB, for an environmental
node's readings (with its room from the retained config) and a telecare node's fall."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fw_support import *  # noqa: F403  (pytest fixtures, by name)
from fw_support import Firmware, Subscriber, fall_trace, until

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ingest_process")]

Query = Callable[[str], list[dict[str, Any]]]


def _rows(query: Query, home: str, measurement: str) -> list[dict[str, Any]]:
    rows = []
    for s in query(f"SELECT * FROM {measurement} WHERE home = '{home}' GROUP BY *"):
        for values in s["values"]:
            row = dict(zip(s["columns"], values, strict=True))
            rows.append({**s.get("tags", {}), **{k: v for k, v in row.items() if v is not None}})
    return rows


def test_firmware_readings_and_a_fall_reach_influxdb(
    firmware: Callable[..., Firmware],
    subscriber: Callable[..., Subscriber],
    query: Query,
    home_id: str,
) -> None:
    env = firmware("env", {"sht4x": {"temp": [[0, 19.25]], "rh": [[0, 81.5]]}}, interval_s=1)
    platform = subscriber(f"hof/v1/{home_id}/+/status")
    platform.publish(env.topic("config"), json.dumps({"rooms": {env.device: "bedroom"}}), True)
    time.sleep(0.3)  # the worker learns rooms from the retained config as it arrives
    env.start()
    assert until(lambda: len(_rows(query, home_id, "reading")) >= 3, 30), env.output()
    rows = _rows(query, home_id, "reading")
    assert all(r["device"] == env.device for r in rows)
    assert all(r["temperature"] == 19.25 and r["humidity"] == 81.5 for r in rows)
    assert all(abs(r["time"] / 1000 - time.time()) < 30 for r in rows)
    assert {r.get("room") for r in rows} == {"bedroom"}

    pendant = firmware("telecare", cancel_s=1)
    detect_at = fall_trace(pendant.workdir)
    pendant.sim_path.write_text(
        json.dumps({"adxl345": {"trace": str(pendant.workdir / "trace.bin")}})
    )
    pendant.start()
    assert until(lambda: bool(_rows(query, home_id, "event")), detect_at + 20), pendant.output()
    events = _rows(query, home_id, "event")
    assert [(e["device"], e.get("fall")) for e in events] == [(pendant.device, "detected")], events
