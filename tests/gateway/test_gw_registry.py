"""The device registry: offline by last will or by silence, never kept alive by retained news."""

from __future__ import annotations

from gateway.registry import Registry
from hof.senml import Record


def test_silence_for_n_intervals_marks_a_device_offline() -> None:
    reg = Registry(default_interval_s=300, offline_after_intervals=3)
    reg.seen("env-1", 1000.0, [Record("H", "env-1", "battery", 1, 87.0, "%EL")])
    reg.config("env-2", {"interval_s": 60})
    reg.seen("env-2", 1000.0, [Record("H", "env-2", "rssi", 1, -91.0, "dBW")])
    assert reg.sweep(1000.0 + 3 * 60 + 1) == ["env-2"]
    assert reg.sweep(1000.0 + 3 * 300 + 1) == ["env-1"]
    snap = reg.snapshot()
    assert snap["env-1"]["battery"] == 87.0
    assert snap["env-2"] == {
        "state": "offline",
        "reason": "silent",
        "last_seen": 1000.0,
        "rssi": -91.0,
        "interval_s": 60.0,
    }
    reg.seen("env-2", 2000.0, [])
    assert reg.snapshot()["env-2"]["state"] == "online"


def test_last_will_marks_offline_and_a_retained_online_is_not_a_sign_of_life() -> None:
    reg = Registry(default_interval_s=300, offline_after_intervals=3)
    reg.status("pendant-1", {"state": "online", "fw": "1.3.0", "battery": 60}, 50.0, retained=True)
    assert reg.snapshot()["pendant-1"] == {"state": "unknown", "fw": "1.3.0", "battery": 60.0}
    reg.status("pendant-1", {"state": "online"}, 100.0, retained=False)
    assert reg.online() == 1
    reg.status("pendant-1", {"state": "offline"}, 120.0, retained=False)
    assert reg.snapshot()["pendant-1"]["reason"] == "last_will"
    assert reg.online() == 0
