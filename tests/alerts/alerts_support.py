"""Helpers for the rules' own tests: a room's history, reading by reading, through a rule."""

from __future__ import annotations

from collections.abc import Callable

from alerts.findings import Finding
from alerts.outdoor import Outdoor
from alerts.rules.environment import RoomState, on_readings
from alerts.thresholds import Thresholds
from hof.senml import Record

__all__ = ["damp_findings"]

H = 3600.0


# The damp grading by recurrence alone, as before ISO 13788's month (1 Dec 2026): an estate
# may still set it, and the tests of the recurrences' counting use it.
BY_RECURRENCE = Thresholds(
    humidity_recurs={"watch": 1, "significant": 3},
    condensation_recurs={"watch": 1, "significant": 3, "severe": 7},
    surface_month_rh=None,
)


def damp_findings(
    state: RoomState,
    start: float,
    days: int,
    temperature: float,
    rh: Callable[[int, float], float],
    outdoor: Outdoor,
    rules: Thresholds | None = None,
) -> list[Finding]:
    """The damp rule's findings for a room at `temperature` whose humidity is `rh(day, hour)`
    (days from `start`, hours of that day), read every half hour for `days`."""
    rules, found = rules or Thresholds(), []
    t = start
    while t < start + days * 86400:
        day, hour = int((t - start) // 86400), (t - start) % 86400 / H
        records = [
            Record(state.home, "env", "temperature", round(t * 1000), temperature),
            Record(state.home, "env", "humidity", round(t * 1000), rh(day, hour)),
        ]
        found += [
            f for f in on_readings(state, records, rules, outdoor) if f.rule.name == "damp_mould"
        ]
        t += 1800
    return found
