"""Conditions that must hold for a while to raise and be gone for a while to clear (hysteresis)."""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.findings import Action

__all__ = ["Condition", "HourlyWindow"]


@dataclass
class Condition:
    """Raised after `bad` holds for `raise_after_s`; cleared after `good` holds `clear_after_s`.

    `bad` and `good` come from separate thresholds, so a value bobbing between them changes
    nothing. A gap in the data longer than `max_gap_s` restarts a pending duration: a reading
    hours apart is no evidence that the condition held in between.
    """

    active: bool = False
    pending_since: float | None = None
    clearing_since: float | None = None
    last_t: float | None = None

    def step(
        self,
        t: float,
        *,
        bad: bool,
        good: bool,
        raise_after_s: float,
        clear_after_s: float,
        max_gap_s: float = 3600.0,
    ) -> Action | None:
        if self.last_t is not None and t - self.last_t > max_gap_s:
            self.pending_since = None
            self.clearing_since = None
        if self.last_t is not None and t < self.last_t:
            return None  # late, out-of-order reading: durations only move forwards
        self.last_t = t
        if not self.active:
            if not bad:
                self.pending_since = None
                return None
            self.pending_since = t if self.pending_since is None else self.pending_since
            if t - self.pending_since >= raise_after_s:
                self.active, self.pending_since = True, None
                return Action.RAISE
            return None
        if not good:
            self.clearing_since = None
            return None
        self.clearing_since = t if self.clearing_since is None else self.clearing_since
        if t - self.clearing_since >= clear_after_s:
            self.active, self.clearing_since = False, None
            return Action.CLEAR
        return None


@dataclass
class HourlyWindow:
    """Seconds observed and seconds 'in band' per clock hour, over the last `hours` hours.

    A fixed 24-bin ring per room and band (not every sample): memory stays flat at any
    reading rate, which matters at 50,000 homes. Each sample counts for the time until the
    next one, capped at `max_step_s` so a silent device is not taken as evidence.
    """

    hours: int = 24
    max_step_s: float = 1800.0
    bins_hour: list[int] = field(default_factory=list)
    observed: list[float] = field(default_factory=list)
    inside: list[float] = field(default_factory=list)
    last_t: float | None = None
    last_in: bool = False
    # The sums of the window's bins before the clock hour `_base_hour` (the 23 hours before
    # it), kept up to date as bins change and rolled on as the hours pass: summing the 24 bins
    # at every reading was a seventh of a year's bench/cases run.
    _base_hour: int = field(default=-1, repr=False)
    _base: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    def __post_init__(self) -> None:
        if not self.bins_hour:
            self.bins_hour = [-1] * self.hours
            self.observed = [0.0] * self.hours
            self.inside = [0.0] * self.hours

    def _add(self, start: float, seconds: float, inside: bool) -> None:
        while seconds > 0:
            hour = int(start // 3600)
            chunk = min(seconds, (hour + 1) * 3600 - start)
            slot = hour % self.hours
            if self.bins_hour[slot] != hour:
                self._unbase(self.bins_hour[slot], -self.inside[slot], -self.observed[slot])
                self.bins_hour[slot], self.observed[slot], self.inside[slot] = hour, 0.0, 0.0
            self.observed[slot] += chunk
            if inside:
                self.inside[slot] += chunk
            self._unbase(hour, chunk if inside else 0.0, chunk)
            start += chunk
            seconds -= chunk

    def add(self, t: float, inside: bool) -> None:
        if self.last_t is not None:
            if t <= self.last_t:
                return
            self._add(self.last_t, min(t - self.last_t, self.max_step_s), self.last_in)
        self.last_t, self.last_in = t, inside

    def _unbase(self, hour: int, inside: float, observed: float) -> None:
        """A bin of an hour the cached sums hold changed by (inside, observed) seconds."""
        if self._base_hour - self.hours < hour < self._base_hour and self._base_hour >= 0:
            self._base = (self._base[0] + inside, self._base[1] + observed)

    def _bin(self, hour: int) -> tuple[float, float]:
        slot = hour % self.hours
        if self.bins_hour[slot] == hour:
            return self.inside[slot], self.observed[slot]
        return 0.0, 0.0

    def hours_inside(self, now: float) -> tuple[float, float]:
        """(hours in band, hours observed) over the `hours` clock hours up to `now`."""
        current = int(now // 3600)
        if current != self._base_hour:
            inside = observed = 0.0
            if 0 <= self._base_hour < current < self._base_hour + self.hours:
                # Roll on: the hours since join the sums, those now too old leave them.
                inside, observed = self._base
                for hour in range(self._base_hour, current):
                    joins, leaves = self._bin(hour), self._bin(hour - self.hours + 1)
                    inside += joins[0] - leaves[0]
                    observed += joins[1] - leaves[1]
            else:
                for slot, hour in enumerate(self.bins_hour):
                    if current - self.hours < hour < current:
                        inside += self.inside[slot]
                        observed += self.observed[slot]
            self._base_hour, self._base = current, (inside, observed)
        inside, observed = self._base
        slot = current % self.hours
        if self.bins_hour[slot] == current:
            inside += self.inside[slot]
            observed += self.observed[slot]
        return inside / 3600, observed / 3600
