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


def damp_findings(
    state: RoomState,
    start: float,
    days: int,
    temperature: float,
    rh: Callable[[int, float], float],
    outdoor: Outdoor,
) -> list[Finding]:
    """The damp rule's findings for a room at `temperature` whose humidity is `rh(day, hour)`
    (days from `start`, hours of that day), read every half hour for `days`."""
    rules, found = Thresholds(), []
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
