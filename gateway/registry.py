"""The home's devices: last seen, battery, signal, firmware, and online or offline.

A device is offline when its last will fires (`{"state":"offline"}` on its status topic) or when
it has been silent for N of its intervals. Last seen is the time data arrived, never a retained
status replayed by the broker (that is old news, not a sign of life).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hof.senml import Record

__all__ = ["DeviceState", "Registry"]


@dataclass(slots=True)
class DeviceState:
    """What the gateway knows of one device."""

    device: str
    state: str = "unknown"
    reason: str | None = None
    last_seen: float | None = None
    battery: float | None = None
    rssi: float | None = None
    fw: str | None = None
    interval_s: float | None = None


class Registry:
    """Every device of the home that the gateway has heard of."""

    def __init__(self, *, default_interval_s: float, offline_after_intervals: float) -> None:
        self.default_interval_s = default_interval_s
        self.offline_after = offline_after_intervals
        self.devices: dict[str, DeviceState] = {}

    def _get(self, device: str) -> DeviceState:
        return self.devices.setdefault(device, DeviceState(device))

    def seen(self, device: str, at: float, records: list[Record]) -> None:
        """Data arrived from `device` at `at`: it is alive."""
        state = self._get(device)
        state.last_seen = at
        state.state, state.reason = "online", None
        for record in records:
            if isinstance(record.value, bool) or not isinstance(record.value, float):
                continue
            if record.name == "battery":
                state.battery = record.value
            elif record.name == "rssi":
                state.rssi = record.value

    def status(self, device: str, body: dict[str, Any], at: float, *, retained: bool) -> None:
        """A status object from the device (or its last will)."""
        state = self._get(device)
        if body.get("state") == "offline":
            state.state, state.reason = "offline", "last_will"
        elif body.get("state") == "online" and not retained:
            state.state, state.reason = "online", None
            state.last_seen = at
        for key in ("battery", "rssi"):
            value = body.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(state, key, float(value))
        if isinstance(body.get("fw"), str):
            state.fw = body["fw"]

    def config(self, device: str, body: dict[str, Any]) -> None:
        """A device's retained config: learn its reporting interval."""
        interval = body.get("interval_s")
        if isinstance(interval, int | float) and not isinstance(interval, bool) and interval > 0:
            self._get(device).interval_s = float(interval)

    def sweep(self, now: float) -> list[str]:
        """Mark silent devices offline; the ids that changed."""
        changed: list[str] = []
        for state in self.devices.values():
            if state.state != "online" or state.last_seen is None:
                continue
            interval = state.interval_s or self.default_interval_s
            if now - state.last_seen > interval * self.offline_after:
                state.state, state.reason = "offline", "silent"
                changed.append(state.device)
        return changed

    def online(self) -> int:
        return sum(1 for s in self.devices.values() if s.state == "online")

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {
            d: {k: v for k, v in asdict(s).items() if v is not None and k != "device"}
            for d, s in sorted(self.devices.items())
        }
