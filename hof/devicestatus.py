"""A device's `status` object (CONTRACT.md "Status (retained) and last will"), parsed once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hof import devicejson

__all__ = ["MAX_STATUS_BYTES", "DeviceStatusReport", "parse_status"]

MAX_STATUS_BYTES = 4096  # the contract's status object is under 100 bytes


@dataclass(frozen=True, slots=True)
class DeviceStatusReport:
    """What a status says; fields it lacks (or gets wrong) are None, `state` may be unknown."""

    state: str  # "online", "offline" or "unknown"
    firmware: str | None = None
    battery: float | None = None
    rssi: float | None = None  # dBm, as the status object reports it
    ts: float | None = None  # the device's own clock

    @property
    def online(self) -> bool:
        return self.state == "online"


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parse_status(payload: bytes) -> DeviceStatusReport:
    """Parse a status payload; ContractError if it is not a bounded JSON object.

    Devices apply what they know and so do we: a known field of the wrong type is left out
    rather than refusing the whole status (an old device's status still says online).
    """
    body = devicejson.loads_object(payload, "status", max_bytes=MAX_STATUS_BYTES)
    state = body.get("state")
    firmware = body.get("fw")
    return DeviceStatusReport(
        state=state if state in ("online", "offline") else "unknown",
        firmware=firmware[:40] if isinstance(firmware, str) else None,
        battery=_number(body, "battery"),
        rssi=_number(body, "rssi"),
        ts=_number(body, "ts"),
    )
