"""Psychrometrics against published reference values and first principles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hof.climate import (
    absolute_humidity,
    dew_point,
    surface_humidity,
    surface_temperature,
    vapour_pressure,
)


def test_dew_point_reference_value() -> None:
    # DOMAIN.md: 25 °C / 60 % -> 16.70 °C (Magnus, Alduchov & Eskridge constants)
    assert dew_point(25.0, 60.0) == pytest.approx(16.70, abs=0.005)


def test_absolute_humidity_reference() -> None:
    # Tabulated: saturated air at 20 °C holds 17.3 g/m³, so 50 % is about 8.65 g/m³.
    assert absolute_humidity(20.0, 50.0) == pytest.approx(8.65, abs=0.05)


def test_surface_at_air_temperature_has_the_airs_humidity() -> None:
    assert surface_humidity(20.0, 63.0, 20.0) == pytest.approx(63.0)


def test_surface_at_the_dew_point_condenses() -> None:
    td = dew_point(21.0, 70.0)
    assert surface_humidity(21.0, 70.0, td) == pytest.approx(100.0, abs=1e-6)
    assert surface_humidity(21.0, 70.0, td - 3) == 100.0  # capped: water on the wall


def test_cold_corner_of_a_sound_wall() -> None:
    # BRE IP1/06: fRsi 0.75, 20 °C in, 0 °C out -> 15 °C; at 60 % room RH the corner sees
    # e(20)*0.6 / e(15) = 2338.8*0.6/1704.9 = 82.3 % (computed by hand from the Magnus form).
    assert surface_temperature(20.0, 0.0) == pytest.approx(15.0)
    assert surface_humidity(20.0, 60.0, 15.0) == pytest.approx(82.3, abs=0.1)


def test_out_of_domain_is_nan_not_an_error() -> None:
    assert math.isnan(dew_point(20.0, 0.0))
    assert math.isnan(vapour_pressure(20.0, 120.0))
    values = dew_point(np.array([25.0, 20.0, 10.0]), np.array([60.0, -5.0, 100.0]))
    assert values.shape == (3,)
    assert math.isnan(values[1])
    assert values[2] == pytest.approx(10.0)


@given(st.floats(-20, 45), st.floats(1, 100))
def test_dew_point_never_above_air_temperature(t: float, rh: float) -> None:
    assert dew_point(t, rh) <= t + 1e-9
