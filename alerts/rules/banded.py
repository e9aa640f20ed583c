"""Hours beyond a limit over the last 24 hours, graded by bands, with hysteresis."""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.findings import Action, Severity
from alerts.thresholds import BandedRule

__all__ = ["BandWindow", "BandedState", "Plan", "Step", "banded_step", "rule_plan"]

_HOURS = 24
# A reading counts for the time until the next one, at most this long: a silent device is not
# evidence (alerts/condition.py's HourlyWindow, whose figures these are).
_MAX_STEP_S = 1800.0


class BandWindow:
    """The last 24 clock hours of one signal, for all of its bands at once.

    Bin for bin and sum for sum what one `alerts.condition.HourlyWindow` per band holds (the
    same additions in the same order, so the same figures to the last bit), but with the
    seconds observed kept once: every band of a signal sees the same readings, so they were
    the same in every window. One window per band was a third of a year's bench/cases run.
    """

    __slots__ = (
        "_base_hour",
        "_base_inside",
        "_base_observed",
        "bands",
        "bins_hour",
        "inside",
        "last_in",
        "last_t",
        "observed",
    )

    def __init__(self, bands: int) -> None:
        self.bands = bands
        self.bins_hour = [-1] * _HOURS
        self.observed = [0.0] * _HOURS
        self.inside = [[0.0] * bands for _ in range(_HOURS)]  # per slot, per band
        self.last_t: float | None = None
        self.last_in = [False] * bands
        # The sums of the bins of the 23 clock hours before `_base_hour`, kept up to date as
        # bins change and rolled on as the hours pass (HourlyWindow's `_base`).
        self._base_hour = -1
        self._base_observed = 0.0
        self._base_inside = [0.0] * bands

    def add(self, t: float, beyond: list[bool]) -> None:
        """A reading at `t`, beyond each band's limit or not: the last one's state counts for
        the time since it (at most `_MAX_STEP_S`). Not after the last reading: no change."""
        last = self.last_t
        if last is not None:
            if t <= last:
                return
            seconds = t - last
            if seconds > _MAX_STEP_S:
                seconds = _MAX_STEP_S
            hour = int(last // 3600)
            slot = hour % _HOURS
            old = self.bins_hour[slot]
            if (
                hour == self._base_hour
                and (old == hour or old <= hour - _HOURS)
                and seconds <= (hour + 1) * 3600 - last
            ):
                # Most readings: the time since the last one lies in the hour of the window's
                # last judgement, which is not among the base's sums, nor is the bin it
                # replaces: `_span`'s one chunk, without its walk.
                if old == hour:
                    self.observed[slot] += seconds
                    inside = self.inside[slot]
                else:
                    self.bins_hour[slot], self.observed[slot] = hour, seconds
                    inside = self.inside[slot] = [0.0] * self.bands
                was = self.last_in
                for i in range(len(was)):
                    if was[i]:
                        inside[i] += seconds
            else:
                self._span(last, seconds, self.last_in)
        self.last_t, self.last_in = t, beyond

    def _span(self, start: float, seconds: float, beyond: list[bool]) -> None:
        n = len(beyond)
        while seconds > 0:
            hour = int(start // 3600)
            chunk = (hour + 1) * 3600 - start
            if seconds < chunk:
                chunk = seconds
            slot = hour % _HOURS
            base_hour = self._base_hour
            inside = self.inside[slot]
            old = self.bins_hour[slot]
            if old != hour:
                if base_hour - _HOURS < old < base_hour and base_hour >= 0:
                    self._base_observed += -self.observed[slot]
                    base = self._base_inside
                    for i in range(n):
                        base[i] += -inside[i]
                self.bins_hour[slot], self.observed[slot] = hour, 0.0
                inside = self.inside[slot] = [0.0] * n
            self.observed[slot] += chunk
            for i in range(n):
                if beyond[i]:
                    inside[i] += chunk
            if base_hour - _HOURS < hour < base_hour and base_hour >= 0:
                self._base_observed += chunk
                base = self._base_inside
                for i in range(n):
                    # HourlyWindow added 0.0 for a band not beyond: the same sum.
                    if beyond[i]:
                        base[i] += chunk
            start += chunk
            seconds -= chunk

    def hours_inside(self, now: float) -> tuple[list[float], float]:
        """(each band's hours beyond its limit, hours observed) over the 24 clock hours to
        `now`."""
        current = int(now // 3600)
        n = self.bands
        bins_hour, bins_in, bins_obs = self.bins_hour, self.inside, self.observed
        if current != self._base_hour:
            base_hour = self._base_hour
            if 0 <= base_hour < current < base_hour + _HOURS:
                # Roll on: the hours since join the sums, those now too old leave them. An
                # hour with no bin is 0.0 in HourlyWindow's sums: x - 0.0 and x + 0.0 are x.
                inside, observed = self._base_inside[:], self._base_observed
                for hour in range(base_hour, current):
                    joins, leaves = hour % _HOURS, (hour + 1) % _HOURS
                    joined = bins_hour[joins] == hour
                    left = bins_hour[leaves] == hour - _HOURS + 1
                    if joined and left:
                        j_in, l_in = bins_in[joins], bins_in[leaves]
                        for i in range(n):
                            inside[i] += j_in[i] - l_in[i]
                        observed += bins_obs[joins] - bins_obs[leaves]
                    elif joined:
                        j_in = bins_in[joins]
                        for i in range(n):
                            inside[i] += j_in[i]
                        observed += bins_obs[joins]
                    elif left:
                        l_in = bins_in[leaves]
                        for i in range(n):
                            inside[i] += -l_in[i]
                        observed += -bins_obs[leaves]
            else:
                inside, observed = [0.0] * n, 0.0
                for slot, hour in enumerate(bins_hour):
                    if current - _HOURS < hour < current:
                        bin_in = bins_in[slot]
                        for i in range(n):
                            inside[i] += bin_in[i]
                        observed += bins_obs[slot]
            self._base_hour, self._base_inside, self._base_observed = current, inside, observed
        slot = current % _HOURS
        base = self._base_inside
        if bins_hour[slot] == current:
            bin_in = bins_in[slot]
            return (
                [(base[i] + bin_in[i]) / 3600 for i in range(n)],
                (self._base_observed + bins_obs[slot]) / 3600,
            )
        return [b / 3600 for b in base], self._base_observed / 3600


@dataclass(slots=True)
class BandedState:
    """One rule in one room: its bands' window, which bands are held, and the severity so
    far."""

    window: BandWindow | None = None
    severity: Severity | None = None
    held: list[bool] = field(default_factory=list)
    # Each band's hours in band at the window's last reading: what the summary and evidence
    # quote, kept so that they do not walk the 24 bins again (a third of a year's bench run).
    hours: list[float] = field(default_factory=list)
    # Since when the worst band has been met without a break (None: not met now); only for a
    # signal whose days are counted a spell at a time (`_count_day`'s `spells`).
    met_from: float | None = None

    @property
    def windows(self) -> list[BandWindow]:
        """The window, once a reading has been judged (none before: the rule has seen
        nothing)."""
        return [] if self.window is None else [self.window]


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    severity: Severity
    hours: list[float]
    observed: float


@dataclass(frozen=True, slots=True)
class Plan:
    """A rule's figures as `banded_step` reads them at every reading: read off its bands once
    (reading them through the settings' models at every reading was a fifth of its cost)."""

    rule: BandedRule
    above: bool
    limits: tuple[float, ...]
    raise_hours: tuple[float, ...]
    clear_hours: tuple[float, ...]
    severities: tuple[Severity, ...]
    ranks: tuple[int, ...]
    min_observed_hours: float


_PLANS: dict[int, Plan] = {}


def rule_plan(rule: BandedRule) -> Plan:
    """The rule's plan, by its identity: a home's settings are resolved once and are frozen,
    so a room's rule is the same object, with the same figures, at every reading."""
    plan = _PLANS.get(id(rule))
    if plan is None or plan.rule is not rule:
        severities = tuple(Severity(band.severity) for band in rule.bands)
        plan = Plan(
            rule,
            rule.above,
            tuple(band.limit for band in rule.bands),
            tuple(band.hours for band in rule.bands),
            tuple(rule.band_clear_hours(i) for i in range(len(rule.bands))),
            severities,
            tuple(s.rank for s in severities),
            rule.min_observed_hours,
        )
        if len(_PLANS) > 10_000:
            _PLANS.clear()  # settings reloaded many times over: start again
        _PLANS[id(rule)] = plan
    return plan


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
    plan = rule_plan(rule)
    limits = plan.limits
    n = len(limits)
    window = state.window
    if window is None or window.bands != n:
        window = state.window = BandWindow(n)
    held = state.held
    if len(held) != n:
        held = state.held = [False] * n
    last = window.last_t
    if last is not None and t < last:
        return None  # older than what this room has seen (a redelivery, a replay): no news
    if last is not None and t == last and state.hours:
        return None  # judged at this time already: the window ignores it, nothing can change
    if not counts:
        beyond = [False] * n
    elif plan.above:
        beyond = [value > limit for limit in limits]
    else:
        beyond = [value < limit for limit in limits]
    window.add(t, beyond)
    hours, observed = window.hours_inside(t)
    state.hours = hours
    enough = observed >= plan.min_observed_hours
    raise_hours, clear_hours, ranks = plan.raise_hours, plan.clear_hours, plan.ranks
    now: Severity | None = None
    now_rank = -1
    for i in range(n):
        if held[i]:
            on = held[i] = hours[i] >= clear_hours[i]
        else:
            on = held[i] = enough and hours[i] >= raise_hours[i]
        if on and ranks[i] > now_rank:
            now, now_rank = plan.severities[i], ranks[i]
    before, state.severity = state.severity, now
    if now == before:
        return None
    if now is None:
        assert before is not None
        return Step(Action.CLEAR, before, hours, observed)
    return Step(Action.RAISE, now, hours, observed)
