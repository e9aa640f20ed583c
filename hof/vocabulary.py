"""The contract's names table: for each known SenML name its unit, value kind and physical range."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["NAMES", "Kind", "Name"]


class Kind(StrEnum):
    """Which SenML value field a name carries: `v`, `vb` or `vs`."""

    NUMBER = "v"
    BOOLEAN = "vb"
    STRING = "vs"


@dataclass(frozen=True, slots=True)
class Name:
    """One row of CONTRACT.md's table, with the range a real sensor can physically report."""

    name: str
    unit: str | None
    kind: Kind
    low: float | None = None
    high: float | None = None
    choices: frozenset[str] | None = None


def _number(name: str, unit: str, low: float, high: float) -> Name:
    return Name(name, unit, Kind.NUMBER, low, high)


# Ranges are what a working sensor can report (datasheet limits with margin), not what is
# healthy: an implausible value is a broken sensor or a bad device, and is refused.
NAMES: dict[str, Name] = {
    n.name: n
    for n in (
        _number("temperature", "Cel", -60.0, 100.0),
        _number("humidity", "%RH", 0.0, 100.0),
        _number("co2", "ppm", 0.0, 40_000.0),
        _number("pressure", "Pa", 30_000.0, 115_000.0),
        _number("surface_temperature", "Cel", -60.0, 100.0),
        _number("illuminance", "lx", 0.0, 200_000.0),
        _number("battery", "%EL", 0.0, 100.0),
        _number("voltage", "V", 0.0, 60.0),
        # dBW: a Wi-Fi RSSI of -30..-100 dBm is -60..-130 dBW.
        _number("rssi", "dBW", -200.0, 0.0),
        Name("motion", None, Kind.BOOLEAN),
        Name("contact", None, Kind.BOOLEAN),
        Name("leak", None, Kind.BOOLEAN),
        Name("fall", None, Kind.STRING, choices=frozenset({"detected", "cancelled"})),
        Name("button", None, Kind.STRING, choices=frozenset({"pressed", "cancelled"})),
        Name("smoke", None, Kind.BOOLEAN),
        Name("tamper", None, Kind.BOOLEAN),
    )
}
