"""Device health: offline from the time of the last telemetry, low battery with hysteresis."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.findings import Action, Audience, Category, Finding, RuleInfo, Severity
from alerts.thresholds import Thresholds

__all__ = ["BATTERY", "OFFLINE", "DeviceState", "on_battery", "on_telemetry", "on_tick"]

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
    if state.offline or state.last_seen == 0.0 or silent < thresholds.offline_grace_s:
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
        f"{state.device} has sent nothing for {minutes:.0f} minutes "
        f"(grace {thresholds.offline_grace_s / 60:.0f} min).",
        {"device": state.device, "last_seen": state.last_seen, "silent_s": round(silent)},
    )


def on_battery(
    state: DeviceState, percent: float, at: float, thresholds: Thresholds
) -> Finding | None:
    if not state.battery_low and percent < thresholds.battery_low:
        state.battery_low = True
        return Finding(
            Action.RAISE,
            BATTERY,
            state.home,
            state.device,
            Severity.WATCH,
            at,
            f"{state.device} battery at {percent:.0f} % (below {thresholds.battery_low:.0f} %).",
            {"battery": percent},
        )
    if state.battery_low and percent >= thresholds.battery_ok:
        state.battery_low = False
        return Finding(
            Action.CLEAR,
            BATTERY,
            state.home,
            state.device,
            Severity.WATCH,
            at,
            f"{state.device} battery at {percent:.0f} %.",
            {"battery": percent},
        )
    return None
