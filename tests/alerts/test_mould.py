"""The VTT mould model against its published self-checks and its own invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.mould import (
    MEDIUM_RESISTANT,
    SENSITIVE,
    MouldState,
    mould_index,
    mould_index_many,
    rh_critical,
)


def test_onset_matches_viitanens_regression() -> None:
    """Very sensitive class, constant 22 °C / 97 %: M = 1 at the regression's onset time.

    t_m = exp(-0.68 ln 22 - 13.9 ln 97 + 66.02) = 1.392 weeks. Hourly steps can only land on
    whole hours, so the tolerance is one hour (0.006 weeks).
    """
    onset = math.exp(-0.68 * math.log(22) - 13.9 * math.log(97) + 66.02)
    m, _ = mould_index(np.full(24 * 21, 22.0), np.full(24 * 21, 97.0), 1.0)
    reached = (int(np.argmax(m >= 1.0)) + 1) / 168
    assert reached == pytest.approx(onset, abs=1 / 168)


def test_nothing_grows_at_20_degrees_and_80_percent() -> None:
    m, _ = mould_index(np.full(24 * 365, 20.0), np.full(24 * 365, 80.0), 1.0)
    assert m.max() == 0.0


def test_critical_humidity_has_no_sign_slip() -> None:
    # by hand: -0.00267*125 + 0.160*25 - 3.13*5 + 100 = 88.02 (the slipped +3.13 gives 119.3)
    assert rh_critical(5.0) == pytest.approx(88.02, abs=0.01)
    assert rh_critical(20.0) == pytest.approx(80.04, abs=0.01)
    assert rh_critical(25.0) == 80.0
    assert rh_critical(-1.0) == 100.0
    assert rh_critical(25.0, MEDIUM_RESISTANT) == 85.0  # never below the class's RH_min


def test_growth_saturates_below_the_classes_maximum() -> None:
    """At RH = RH_crit + a little, M_max is about A: the very sensitive class stalls near 1."""
    m, _ = mould_index(np.full(24 * 365, 25.0), np.full(24 * 365, 81.0), 1.0)
    x = (80 - 81) / (80 - 100)
    m_max = 1 + 7 * x - 2 * x * x
    assert m[-1] <= m_max + 1e-9
    assert m[-1] > m_max - 0.1


def test_decline_follows_the_time_since_growth_stopped() -> None:
    state = MouldState(np.array([2.0]), np.array([0.0]))
    dry = np.full(48, 20.0), np.full(48, 50.0)
    m, _ = mould_index(*dry, 1.0, state=state)
    assert m[5] == pytest.approx(2.0 - 6 * 0.00133)  # the first 6 h
    assert m[23] == pytest.approx(m[5])  # 6 to 24 h: no change
    assert m[47] == pytest.approx(m[23] - 24 * 0.000667)  # after 24 h


def test_less_sensitive_materials_grow_less() -> None:
    t, rh = np.full(24 * 60, 22.0), np.full(24 * 60, 95.0)
    very, _ = mould_index(t, rh, 1.0)
    sensitive, _ = mould_index(t, rh, 1.0, material=SENSITIVE)
    medium, _ = mould_index(t, rh, 1.0, material=MEDIUM_RESISTANT)
    assert very[-1] > sensitive[-1] > medium[-1]


def test_missing_data_neither_grows_nor_declines() -> None:
    t = np.array([22.0] * 24 + [np.nan] * 24 + [22.0] * 24)
    rh = np.array([97.0] * 72)
    m, _ = mould_index(t, rh, 1.0)
    assert m[47] == m[23]
    assert m[71] > m[47]


series = st.lists(st.tuples(st.floats(-10, 45), st.floats(30, 100)), min_size=2, max_size=200)


@given(series, st.integers(1, 199))
@settings(max_examples=60)
def test_resuming_equals_integrating_in_one_go(points: list[tuple[float, float]], cut: int) -> None:
    t = np.array([p[0] for p in points])
    rh = np.array([p[1] for p in points])
    cut = min(cut, len(points) - 1)
    whole, _ = mould_index(t, rh, 0.5)
    first, state = mould_index(t[:cut], rh[:cut], 0.5)
    second, _ = mould_index(t[cut:], rh[cut:], 0.5, state=state)
    assert np.array_equal(np.concatenate([first, second]), whole)
    assert np.all((whole >= 0) & (whole <= 6))
    assert not np.isnan(whole).any()


def test_many_rooms_agree_exactly_with_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    t = rng.uniform(5, 30, (7, 500))
    rh = rng.uniform(60, 100, (7, 500))
    together, _ = mould_index_many(t, rh, 1.0)
    for room in range(7):
        alone, _ = mould_index(t[room], rh[room], 1.0)
        assert np.array_equal(together[room], alone)
