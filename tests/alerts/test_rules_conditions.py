"""Durations, windows and hysteresis: a value bobbing around a threshold does not flap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.condition import Condition, HourlyWindow
from alerts.findings import Action, Severity
from alerts.rules.banded import BandedState, banded_step
from alerts.thresholds import Thresholds

H = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00Z, on an hour boundary


def test_window_counts_time_in_band_over_24_hours() -> None:
    window = HourlyWindow()
    for i in range(48 * 12):  # two days of 5-minute readings, in band for the first 6 h of each day
        t = T0 + i * 300
        window.add(t, (i % 288) < 72)
    inside, observed = window.hours_inside(T0 + 48 * H - 300)
    assert observed == 24.0 - 1 / 12  # the last sample has not yet been followed by another
    assert inside == 6.0


def test_window_does_not_count_silence_as_evidence() -> None:
    window = HourlyWindow(max_step_s=1800)
    window.add(T0, True)
    window.add(T0 + 10 * H, True)  # ten hours of silence count as half an hour
    assert window.hours_inside(T0 + 10 * H) == (0.5, 0.5)


def _summed(window: HourlyWindow, now: float) -> tuple[float, float]:
    """Every bin of the window summed afresh: what `hours_inside` caches."""
    current = int(now // 3600)
    bins = [
        (window.inside[slot], window.observed[slot])
        for slot, hour in enumerate(window.bins_hour)
        if current - window.hours < hour <= current
    ]
    return sum(b[0] for b in bins) / 3600, sum(b[1] for b in bins) / 3600


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(1.0, 4 * H), st.booleans(), st.floats(0.0, 3 * H)),
        min_size=1,
        max_size=120,
    )
)
def test_the_cached_sums_are_every_bins_sum(steps: list[tuple[float, bool, float]]) -> None:
    """Readings every few seconds to hours apart, asked about now or hours later: the window's
    cached sums of the other hours are what summing every bin gives."""
    window, t = HourlyWindow(), T0
    for gap, inside, ask_later in steps:
        t += gap
        window.add(t, inside)
        for now in (t, t + ask_later):
            got, want = window.hours_inside(now), _summed(window, now)
            assert abs(got[0] - want[0]) < 1e-9
            assert abs(got[1] - want[1]) < 1e-9


def test_condition_needs_its_duration_and_has_hysteresis() -> None:
    c = Condition()
    kw = {"raise_after_s": 2 * H, "clear_after_s": H}
    assert c.step(T0, bad=True, good=False, **kw) is None
    assert c.step(T0 + H, bad=True, good=False, **kw) is None
    assert c.step(T0 + 2 * H, bad=True, good=False, **kw) is Action.RAISE
    # between the thresholds: neither bad nor good, nothing changes
    for i in range(10):
        assert c.step(T0 + 2 * H + i * 600, bad=False, good=False, **kw) is None
    assert c.step(T0 + 5 * H, bad=False, good=True, **kw) is None
    assert c.step(T0 + 6 * H, bad=False, good=True, **kw) is Action.CLEAR


def test_humidity_bobbing_around_the_limit_raises_once_and_never_flaps() -> None:
    rule = Thresholds().humidity
    state = BandedState()
    actions = []
    for i in range(72 * 12):  # three days at 5 minutes, RH bobbing 69 / 72 / 72
        step = banded_step(state, rule, T0 + i * 300, 72.0 if i % 3 else 69.0)
        if step:
            actions.append((step.action, step.severity, i))
    # two thirds of the time above 70 % is 16 h a day: the watch band (12 h) is met once, after
    # 18 h of data, and it never clears while the pattern goes on
    assert [(a, s) for a, s, _ in actions] == [(Action.RAISE, Severity.WATCH)]
    assert 17.9 * 12 < actions[0][2] <= 18.1 * 12


def test_banded_rule_escalates_then_clears_with_hysteresis() -> None:
    rule = Thresholds().humidity
    state = BandedState()
    seen = []
    t = T0
    for rh, hours in ((78.0, 20), (72.0, 6), (55.0, 30)):
        for _ in range(int(hours * 12)):
            step = banded_step(state, rule, t, rh)
            if step:
                seen.append((step.action, step.severity, round((t - T0) / H, 1)))
            t += 300
    assert [(a, s) for a, s, _ in seen] == [
        (Action.RAISE, Severity.WATCH),
        (Action.RAISE, Severity.SIGNIFICANT),
        (Action.RAISE, Severity.WATCH),
        (Action.CLEAR, Severity.WATCH),
    ]
    watch_at, significant_at, down_at, cleared_at = (h for _, _, h in seen)
    assert watch_at == 12.0
    assert significant_at == 18.0
    # the significant band (18 h above 75 %) lets go below its own clear figure (6 h): the
    # case steps down to watch before it clears
    assert 26.0 < down_at < cleared_at
    # clears once fewer than 4 of the last 24 h were above 70 %: 20 h after the air dried
    assert cleared_at == 26.0 + 20.0


def test_too_little_data_raises_nothing() -> None:
    rule = Thresholds().co2
    state = BandedState()
    for i in range(12):  # one hour of 2,500 ppm, then silence
        assert banded_step(state, rule, T0 + i * 300, 2500.0) is None


def test_an_older_reading_after_newer_ones_changes_nothing() -> None:
    """A redelivery or a late replay must not be judged against today's window."""
    rule = Thresholds().humidity
    state = BandedState()
    steps = [banded_step(state, rule, T0 + i * 300, 80.0) for i in range(24 * 12)]
    assert any(s and s.action is Action.RAISE for s in steps)
    assert banded_step(state, rule, T0 - 30 * 86400, 40.0) is None
    assert state.severity is not None
