"""Hours beyond a limit over the last 24 hours, graded by bands, with hysteresis."""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.condition import HourlyWindow
from alerts.findings import Action, Severity
from alerts.thresholds import BandedRule

__all__ = ["BandedState", "Step", "banded_step"]


@dataclass
class BandedState:
    """One rule in one room: a window per band, which bands are held, and the severity so far."""

    windows: list[HourlyWindow] = field(default_factory=list)
    severity: Severity | None = None
    held: list[bool] = field(default_factory=list)
    # Each band's hours in band at its window's last reading: what the summary and evidence
    # quote, kept so that they do not walk the 24 bins again (a third of a year's bench run).
    hours: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    severity: Severity
    hours: list[float]
    observed: float


def banded_step(
    state: BandedState, rule: BandedRule, t: float, value: float, *, counts: bool = True
) -> Step | None:
    """Add one reading; a Step when the alert should be raised, change severity or clear.

    Each band has its own hysteresis: held once its hours are met, let go only below its own
    clear figure. Judging the clear on the mildest band alone flapped: a room at 9 °C met the
    severe band (2 h below 10 °C) long before the mild one (16 h below 18 °C), so it cleared
    and reopened on every reading. `counts=False` records the time as observed but never in
    band (e.g. a bedroom by day for a night-time rule).
    """
    if len(state.windows) != len(rule.bands):
        state.windows = [HourlyWindow() for _ in rule.bands]
    if len(state.held) != len(rule.bands):
        state.held = [False] * len(rule.bands)
    last = state.windows[0].last_t
    if last is not None and t < last:
        return None  # older than what this room has seen (a redelivery, a replay): no news
    if last is not None and t == last and state.hours:
        return None  # judged at this time already: the window ignores it, nothing can change
    for band, window in zip(rule.bands, state.windows, strict=True):
        beyond = value > band.limit if rule.above else value < band.limit
        window.add(t, counts and beyond)
    looks = [window.hours_inside(t) for window in state.windows]
    hours = [inside for inside, _ in looks]
    state.hours = hours
    observed = looks[0][1]
    for i, (band, inside) in enumerate(zip(rule.bands, hours, strict=True)):
        if state.held[i]:
            state.held[i] = inside >= rule.band_clear_hours(i)
        else:
            state.held[i] = inside >= band.hours and observed >= rule.min_observed_hours
    now: Severity | None = None
    for band, held in zip(rule.bands, state.held, strict=True):
        if held and (now is None or Severity(band.severity).rank > now.rank):
            now = Severity(band.severity)
    before, state.severity = state.severity, now
    if now == before:
        return None
    if now is None:
        assert before is not None
        return Step(Action.CLEAR, before, hours, observed)
    return Step(Action.RAISE, now, hours, observed)
