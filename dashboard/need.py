"""How much a home needs attention: one number to rank the estate by, and a risk band.

The weights put the law first: a case past an Awaab's Law deadline outranks everything, then
open damp and mould cases by severity, then what the sensors say before any case exists (the
mould index at the coldest surface, hours too cold or too hot this week), then devices that
have gone quiet (a home we cannot see into is a risk of its own).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SEVERITY_WEIGHT", "Need", "need_of"]

SEVERITY_WEIGHT = {"watch": 5.0, "significant": 40.0, "severe": 80.0, "emergency": 150.0}
OVERDUE_WEIGHT = 200.0
MOULD_WEIGHT = 15.0  # per step of the VTT index (0-6; 1 = first growth under a microscope)
HOURS_WEIGHT = 0.5  # per room-hour out of band this week, capped below
HOURS_CAP = 100.0
ALERT_WEIGHT = 20.0  # an open cold or heat alert
OFFLINE_WEIGHT = 5.0
BATTERY_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class Need:
    score: float
    risk: str  # none / low / medium / high


def need_of(
    *,
    damp_by_severity: dict[str, int],
    overdue: int,
    mould_index: float | None,
    cold_hours: float,
    hot_hours: float,
    cold_alerts: int,
    heat_alerts: int,
    offline: int,
    low_battery: int,
) -> Need:
    score = (
        sum(SEVERITY_WEIGHT.get(sev, 0.0) * n for sev, n in damp_by_severity.items())
        + OVERDUE_WEIGHT * overdue
        + MOULD_WEIGHT * (mould_index or 0.0)
        + HOURS_WEIGHT * min(cold_hours, HOURS_CAP)
        + HOURS_WEIGHT * min(hot_hours, HOURS_CAP)
        + ALERT_WEIGHT * (cold_alerts + heat_alerts)
        + OFFLINE_WEIGHT * offline
        + BATTERY_WEIGHT * low_battery
    )
    severe = damp_by_severity.get("severe", 0) + damp_by_severity.get("emergency", 0)
    if overdue or severe or score >= 150:
        risk = "high"
    elif score >= 40:
        risk = "medium"
    elif score > 0:
        risk = "low"
    else:
        risk = "none"
    return Need(round(score, 1), risk)
