"""The banded rules' shared window gives, reading for reading, the figures one HourlyWindow per
band gave (the code it replaced for speed): the same steps, hours and holds to the last bit."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.condition import HourlyWindow
from alerts.findings import Action, Severity
from alerts.rules.banded import BandedState, Step, banded_step
from alerts.thresholds import Band, BandedRule, Thresholds

H = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00Z


@dataclass
class _Windows:
    """What `banded_step` kept before: one HourlyWindow per band."""

    windows: list[HourlyWindow] = field(default_factory=list)
    severity: Severity | None = None
    held: list[bool] = field(default_factory=list)
    hours: list[float] = field(default_factory=list)


def _step_per_band(
    state: _Windows, rule: BandedRule, t: float, value: float, counts: bool
) -> Step | None:
    """`banded_step` as it was with one HourlyWindow per band (commit ae0f369)."""
    if len(state.windows) != len(rule.bands):
        state.windows = [HourlyWindow() for _ in rule.bands]
    if len(state.held) != len(rule.bands):
        state.held = [False] * len(rule.bands)
    last = state.windows[0].last_t
    if last is not None and t < last:
        return None
    if last is not None and t == last and state.hours:
        return None
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


_TH = Thresholds()
# Every banded rule of the defaults, and one whose bands are out of order with clear figures of
# their own (a setting may say so).
RULES = [
    _TH.cold,
    _TH.heat,
    _TH.humidity,
    _TH.surface_rh,
    _TH.co2,
    BandedRule(
        above=True,
        bands=[
            Band(severity="severe", limit=30.0, hours=3.0, clear_hours=0.5),
            Band(severity="watch", limit=20.0, hours=4.0),
            Band(severity="significant", limit=25.0, hours=1.0, clear_hours=0.25),
        ],
        clear_hours=1.0,
        min_observed_hours=1.0,
    ),
]
_LIMITS = sorted({band.limit for rule in RULES for band in rule.bands})


def _compare(rule: BandedRule, readings: list[tuple[float, float, bool]]) -> int:
    """Feed both; every step and state alike. How many steps there were."""
    new, old = BandedState(), _Windows()
    steps = 0
    for t, value, counts in readings:
        got = banded_step(new, rule, t, value, counts=counts)
        want = _step_per_band(old, rule, t, value, counts)
        assert got == want, (t, value, counts)
        assert (new.severity, new.held, new.hours) == (old.severity, old.held, old.hours)
        steps += got is not None
    return steps


# A reading's gap from the last: repeated, out of order, seconds, minutes, across hours, longer
# than a window step (1,800 s) or the whole 24 hours.
_gaps = st.one_of(
    st.just(0.0),
    st.floats(-2 * H, -1.0),
    st.floats(1.0, 120.0),
    st.sampled_from([300.0, 600.0, 1800.0, 3600.0]),
    st.floats(120.0, 4 * H),
    st.floats(20 * H, 60 * H),
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(range(len(RULES))),
    st.floats(0.0, 2 * H),
    st.lists(
        st.tuples(_gaps, st.sampled_from(_LIMITS) | st.floats(-5.0, 2500.0), st.booleans()),
        min_size=1,
        max_size=300,
    ),
)
def test_every_step_is_what_a_window_per_band_gave(
    which: int, offset: float, moves: list[tuple[float, float, bool]]
) -> None:
    t, readings = T0 + offset, []
    for gap, value, counts in moves:
        t += gap
        readings.append((t, value, counts))
    _compare(RULES[which], readings)


def test_a_year_of_half_hourly_readings_steps_alike() -> None:
    """Long runs roll the sums on thousands of times, readings up to minutes off the half
    hour: no drift between the two."""
    jitter = random.Random(12)
    for rule in RULES:
        readings = []
        for i in range(365 * 48):
            t = T0 + i * 1800.0 + jitter.uniform(-200.0, 200.0)
            # Slow swings through every band's limit, with a few hours' spells beyond them.
            value = _LIMITS[(i // 37) % len(_LIMITS)] + (-1.0 if (i // 11) % 3 else 1.0)
            readings.append((t, value, i % 50 != 0))
        assert _compare(rule, readings) > 10


def test_a_rule_given_more_bands_starts_a_new_window() -> None:
    """Settings changed under a room: its window is rebuilt for the new bands, as before."""
    new, old = BandedState(), _Windows()
    t = T0
    for rule in (_TH.humidity, _TH.surface_rh, _TH.humidity):
        for _ in range(30 * 12):
            t += 300
            want = _step_per_band(old, rule, t, 90.0, True)
            assert banded_step(new, rule, t, 90.0) == want
            assert (new.severity, new.held, new.hours) == (old.severity, old.held, old.hours)
    assert new.windows


def test_no_window_until_a_reading() -> None:
    """The damp rule's words ask whether a signal has seen anything (`_band`)."""
    state = BandedState()
    assert not state.windows
    banded_step(state, _TH.humidity, T0, 50.0)
    assert state.windows
