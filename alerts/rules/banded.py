"""Hours beyond a limit over the last 24 hours, graded by bands, with hysteresis."""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.condition import HourlyWindow
from alerts.findings import Action, Severity
from alerts.thresholds import BandedRule

__all__ = ["BandedState", "Step", "banded_step"]


@dataclass
class BandedState:
    """One rule in one room: a window per band, and the severity raised so far (None: none)."""

    windows: list[HourlyWindow] = field(default_factory=list)
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    severity: Severity
    hours: list[float]
    observed: float


def banded_step(
    state: BandedState, rule: BandedRule, t: float, value: float, *, counts: bool = True
) -> Step | None:
    """Add one reading; a Step when the alert should be raised, escalated or cleared.

    `counts=False` records the time as observed but never in band (e.g. a bedroom by day for
    a night-time rule).
    """
    if len(state.windows) != len(rule.bands):
        state.windows = [HourlyWindow() for _ in rule.bands]
    last = state.windows[0].last_t
    if last is not None and t < last:
        return None  # older than what this room has seen (a redelivery, a replay): no news
    for band, window in zip(rule.bands, state.windows, strict=True):
        beyond = value > band.limit if rule.above else value < band.limit
        window.add(t, counts and beyond)
    looks = [window.hours_inside(t) for window in state.windows]
    hours = [inside for inside, _ in looks]
    observed = looks[0][1]
    worst: Severity | None = None
    for band, inside in zip(rule.bands, hours, strict=True):
        if inside >= band.hours:
            worst = Severity(band.severity)
    if state.severity is None:
        if worst is not None and observed >= rule.min_observed_hours:
            state.severity = worst
            return Step(Action.RAISE, worst, hours, observed)
        return None
    if hours[0] < rule.clear_hours:
        cleared, state.severity = state.severity, None
        return Step(Action.CLEAR, cleared, hours, observed)
    if worst is not None and worst.rank > state.severity.rank:
        state.severity = worst
        return Step(Action.RAISE, worst, hours, observed)
    return None
