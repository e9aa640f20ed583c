"""Device health: offline from the time of the last telemetry, low battery with hysteresis.

The battery is judged from whatever the device says: `battery` (%EL) in its status or its
readings, or its supply `voltage` against its chemistry's figures (the project's own
battery env nodes send only a voltage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.findings import Action, Audience, Category, Finding, RuleInfo, Severity
from alerts.thresholds import Thresholds

__all__ = [
    "BATTERY",
    "OFFLINE",
    "DeviceState",
    "DeviceStatus",
    "grace_s",
    "on_battery",
    "on_status",
    "on_telemetry",
    "on_tick",
    "on_voltage",
    "parse_status",
]

OFFLINE = RuleInfo(
    "device_offline",
    1,
    Category.DEVICE_OFFLINE,
    Audience.HOUSING_OFFICER,
    "no telemetry for the grace period (not the MQTT connection)",
)
BATTERY = RuleInfo("low_battery", 1, Category.LOW_BATTERY, Audience.HOUSING_OFFICER, "battery %EL")


@dataclass
class DeviceState:
    """When the platform last heard from a device, and what it has raised about it."""

    home: str
    device: str
    room: str | None = None
    last_seen: float = 0.0
    offline: bool = False
    battery_low: bool = False
    # From the device's own status, where it says: its reporting interval and battery type.
    interval_s: float | None = None
    chemistry: str | None = None


class DeviceStatus(BaseModel):
    """The parts of a retained status (CONTRACT.md) the rules use; the rest is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: str | None = None
    battery: float | None = Field(None, ge=0, le=100)
    voltage: float | None = Field(None, ge=0, le=60)
    battery_chemistry: str | None = Field(None, max_length=32)
    interval_s: float | None = Field(None, gt=0, le=86_400)
    ts: float | None = None


def parse_status(payload: bytes) -> DeviceStatus | None:
    """A status payload, or None when it is not one (a broken status is no news)."""
    if len(payload) > 16 * 1024:
        return None
    try:
        return DeviceStatus.model_validate_json(payload)
    except ValidationError:
        return None


def grace_s(state: DeviceState, thresholds: Thresholds) -> float:
    """Silence allowed before offline: a few of the device's own intervals, where it says."""
    if state.interval_s is None:
        return thresholds.offline_grace_s
    return thresholds.offline_after_intervals * state.interval_s


def on_status(
    state: DeviceState, status: DeviceStatus, at: float, thresholds: Thresholds
) -> list[Finding]:
    """Learn the interval and chemistry; judge the battery figures a status carries."""
    if status.interval_s is not None:
        state.interval_s = status.interval_s
    if status.battery_chemistry is not None:
        state.chemistry = status.battery_chemistry
    found: list[Finding | None] = []
    if status.battery is not None:
        found.append(on_battery(state, status.battery, at, thresholds))
    elif status.voltage is not None:
        found.append(on_voltage(state, status.voltage, at, thresholds))
    return [f for f in found if f is not None]


def on_telemetry(state: DeviceState, received_at: float) -> Finding | None:
    """Any reading, event or live status: the device is alive (clears an offline alert)."""
    state.last_seen = max(state.last_seen, received_at)
    if not state.offline:
        return None
    state.offline = False
    return Finding(
        Action.CLEAR,
        OFFLINE,
        state.home,
        state.device,
        Severity.WATCH,
        received_at,
        f"{state.device} is reporting again.",
        {"device": state.device},
    )


def on_tick(state: DeviceState, now: float, thresholds: Thresholds) -> Finding | None:
    """Called often (every few seconds), so an offline alert fires soon after the grace ends."""
    silent = now - state.last_seen
    grace = grace_s(state, thresholds)
    if state.offline or state.last_seen == 0.0 or silent < grace:
        return None
    state.offline = True
    minutes = silent / 60
    return Finding(
        Action.RAISE,
        OFFLINE,
        state.home,
        state.device,
        Severity.WATCH,
        now,
        f"{state.device} has sent nothing for {minutes:.0f} minutes (grace {grace / 60:.0f} min).",
        {
            "device": state.device,
            "last_seen": state.last_seen,
            "silent_s": round(silent),
            "grace_s": round(grace),
        },
    )


def _battery(
    state: DeviceState, action: Action, at: float, words: str, evidence: dict[str, Any]
) -> Finding:
    """A low-battery finding (raise or clear) of one device, in these words."""
    return Finding(action, BATTERY, state.home, state.device, Severity.WATCH, at, words, evidence)


def on_battery(
    state: DeviceState, percent: float, at: float, thresholds: Thresholds
) -> Finding | None:
    words = f"{state.device} battery at {percent:.0f} %"
    if not state.battery_low and percent < thresholds.battery_low:
        state.battery_low = True
        limit = f"{words} (below {thresholds.battery_low:.0f} %)."
        return _battery(state, Action.RAISE, at, limit, {"battery": percent})
    if state.battery_low and percent >= thresholds.battery_ok:
        state.battery_low = False
        return _battery(state, Action.CLEAR, at, f"{words}.", {"battery": percent})
    return None


def on_voltage(
    state: DeviceState, volts: float, at: float, thresholds: Thresholds
) -> Finding | None:
    """A supply voltage against the figures of the device's battery chemistry."""
    chemistry = state.chemistry or thresholds.battery_chemistry
    figures = thresholds.battery_voltage.get(chemistry)
    if figures is None or volts <= 0:
        return None  # an unknown chemistry, or a mains device's 0 V: nothing to judge
    name = f"{state.device} battery at {volts:.2f} V ({chemistry})"
    evidence: dict[str, Any] = {"voltage": volts, "chemistry": chemistry}
    if not state.battery_low and volts < figures.low:
        state.battery_low = True
        low = f"{name}, below {figures.low:.2f} V."
        return _battery(state, Action.RAISE, at, low, evidence | {"voltage_low": figures.low})
    if state.battery_low and volts >= figures.ok:
        state.battery_low = False
        return _battery(state, Action.CLEAR, at, f"{name}.", evidence)
    return None
