"""hof.climate against published values, IAPWS, and sums done independently in the test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hof.climate import (
    absolute_humidity,
    dew_point,
    saturation_vapour_pressure,
    surface_humidity,
    surface_temperature,
    vapour_pressure,
)


def iapws_saturation_pa(t_c: float) -> float:
    """Saturation pressure over water by Wagner & Pruß (1993), the IAPWS reference equation
    (IAPWS SR1-86, revised 1992), written out here so the test does not trust the module."""
    t_k = t_c + 273.15
    tc, pc = 647.096, 22.064e6
    tau = 1 - t_k / tc
    a = (-7.85951783, 1.84408259, -11.7866497, 22.6807411, -15.9618719, 1.80122502)
    powers = (1.0, 1.5, 3.0, 3.5, 4.0, 7.5)
    return pc * math.exp(tc / t_k * sum(ai * tau**p for ai, p in zip(a, powers, strict=True)))


def magnus_by_hand(t_c: float) -> float:
    # DOMAIN.md's constants, typed in again rather than imported.
    return 610.94 * math.exp(17.625 * t_c / (243.04 + t_c))


def test_dew_point_reference_value() -> None:
    """DOMAIN.md: 25 °C / 60 % -> 16.70 °C. The reference is quoted to two decimals, so the
    tolerance is half a unit in the last place (0.005 K); the formula gives 16.698."""
    assert dew_point(25.0, 60.0) == pytest.approx(16.70, abs=0.005)


def test_iapws_equation_reproduces_the_steam_tables() -> None:
    """The test's own reference, checked first against steam-table values (kPa), which are
    given to five significant figures: the tolerance is 5e-5 relative."""
    for t_c, kpa in [(0.01, 0.61166), (20.0, 2.3392), (25.0, 3.1699), (50.0, 12.352)]:
        assert iapws_saturation_pa(t_c) / 1000 == pytest.approx(kpa, rel=5e-5)


@pytest.mark.parametrize("t_c", [0.01, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0])
def test_saturation_pressure_within_alduchov_and_eskridges_stated_error(t_c: float) -> None:
    """Alduchov & Eskridge (1996) state a relative error below 0.384 % over -40..50 °C; the
    tolerance is that figure rounded up to 0.4 % (the largest seen here is 0.26 %, at 25 °C).
    Only from the triple point up: the IAPWS equation is not valid for supercooled water."""
    assert saturation_vapour_pressure(t_c) == pytest.approx(iapws_saturation_pa(t_c), rel=0.004)


def test_vapour_pressure_is_the_definition_of_relative_humidity() -> None:
    # Same arithmetic in a different order: equal to a few ulps.
    assert vapour_pressure(21.0, 55.0) == pytest.approx(magnus_by_hand(21.0) * 0.55, rel=1e-12)


def test_absolute_humidity_against_tables() -> None:
    """Saturated air at 20 °C holds 17.30 g/m³ (tabulated vapour density over water). The
    tolerance is 0.5 %: the Magnus error at 20 °C (0.25 %) plus the ideal gas law's (< 0.1 %)."""
    assert absolute_humidity(20.0, 100.0) == pytest.approx(17.30, rel=0.005)
    assert absolute_humidity(20.0, 50.0) == pytest.approx(8.65, rel=0.005)


def test_dew_point_inverts_the_magnus_form() -> None:
    """At the dew point the saturation pressure is the room's vapour pressure, exactly
    (algebraically the same form inverted; the tolerance is rounding, 1e-12)."""
    t = np.array([-10.0, 0.0, 12.5, 21.0, 35.0])
    rh = np.array([90.0, 45.0, 99.0, 63.0, 20.0])
    td = dew_point(t, rh)
    np.testing.assert_allclose(saturation_vapour_pressure(td), vapour_pressure(t, rh), rtol=1e-12)


def test_surface_temperature_from_the_temperature_factor() -> None:
    # BRE IP1/06: fRsi 0.75 with 20 °C inside and 0 °C outside gives 15 °C at the surface;
    # and fRsi = (Tsi - Te) / (Ti - Te) is recovered from the result.
    assert surface_temperature(20.0, 0.0) == 15.0
    tsi = surface_temperature(21.0, -3.0, 0.6)
    assert (tsi - -3.0) / (21.0 - -3.0) == pytest.approx(0.6, rel=1e-12)


@pytest.mark.parametrize(
    ("t_in", "rh_in", "t_out", "f_rsi"),
    [
        (20.0, 60.0, 0.0, 0.75),
        (18.0, 70.0, -5.0, 0.5),
        (21.0, 50.0, 5.0, 0.9),
        (15.0, 80.0, 2.0, 0.6),
    ],
)
def test_surface_humidity_from_first_principles(
    t_in: float, rh_in: float, t_out: float, f_rsi: float
) -> None:
    """The room's vapour pressure over saturation at the surface, worked here by hand; and
    against IAPWS, where the Magnus errors at the two temperatures mostly cancel: within
    0.25 percentage points (the largest error of one Magnus pressure, 0.26 %, of 100 %)."""
    t_si = t_out + f_rsi * (t_in - t_out)
    by_hand = min(100.0, 100 * magnus_by_hand(t_in) * rh_in / 100 / magnus_by_hand(t_si))
    iapws = min(100.0, 100 * iapws_saturation_pa(t_in) * rh_in / 100 / iapws_saturation_pa(t_si))
    got = surface_humidity(t_in, rh_in, surface_temperature(t_in, t_out, f_rsi))
    assert got == pytest.approx(by_hand, rel=1e-12)
    assert got == pytest.approx(iapws, abs=0.25)


def test_a_sound_wall_at_zero_outside_is_at_mould_risk_from_60_percent() -> None:
    """The worked case behind the 0.75 limit: 20 °C / 60 % room, 0 °C outside; the corner is
    at 15 °C and sees 2338.8 x 0.6 / 1704.9 = 82.3 % (above ISO 13788's 80 % design limit)."""
    assert surface_humidity(20.0, 60.0, surface_temperature(20.0, 0.0)) == pytest.approx(
        82.3, abs=0.05
    )


def test_condensation_caps_surface_humidity_at_100() -> None:
    td = dew_point(21.0, 70.0)
    assert surface_humidity(21.0, 70.0, td) == pytest.approx(100.0, abs=1e-9)
    assert surface_humidity(21.0, 70.0, td - 3.0) == 100.0
    assert surface_humidity(21.0, 70.0, 21.0) == pytest.approx(70.0, rel=1e-12)


def test_scalars_give_floats_and_arrays_keep_their_shape() -> None:
    assert isinstance(dew_point(20.0, 50.0), float)
    assert isinstance(dew_point(np.float64(20.0), 50), float)
    assert dew_point(np.array(20.0), 50.0).shape == ()
    grid = dew_point(np.linspace(0, 30, 4)[:, None], np.array([40.0, 60.0, 80.0]))
    assert grid.shape == (4, 3)
    assert surface_humidity(np.full((2, 5), 20.0), 60.0, 15.0).shape == (2, 5)
    assert absolute_humidity([20.0, 21.0], 50.0).shape == (2,)


def test_out_of_domain_is_nan_never_an_error_or_a_warning() -> None:
    """`filterwarnings = error` would turn any numpy warning escaping here into a failure."""
    assert math.isnan(dew_point(20.0, 0.0))  # no dew point in perfectly dry air
    assert math.isnan(dew_point(20.0, -3.0))
    assert math.isnan(dew_point(20.0, 100.5))  # a faulty sensor, not supersaturation
    assert math.isnan(vapour_pressure(20.0, 120.0))
    assert vapour_pressure(20.0, 0.0) == 0.0
    assert math.isnan(saturation_vapour_pressure(-243.04))  # the Magnus form's pole
    assert math.isnan(surface_temperature(20.0, 0.0, 1.5))
    t = np.array([25.0, np.nan, 20.0, -243.04, np.inf, 10.0])
    rh = np.array([60.0, 50.0, np.nan, 50.0, 50.0, 100.0])
    td = dew_point(t, rh)
    assert np.isnan(td[1:5]).all()
    assert td[0] == pytest.approx(16.70, abs=0.005)
    assert td[5] == pytest.approx(10.0, abs=1e-12)
    assert np.isnan(surface_humidity(t, rh, t - 5.0)[1:5]).all()
    assert np.isnan(absolute_humidity(t, rh)[1:4]).all()


temperatures = st.floats(-40, 50)
humidities = st.floats(0.01, 100)


@given(temperatures, humidities)
def test_dew_point_never_above_air_temperature(t: float, rh: float) -> None:
    assert dew_point(t, rh) <= t + 1e-9


@given(temperatures, humidities, st.floats(-40, 50))
def test_surface_humidity_is_a_percentage_and_falls_as_the_surface_warms(
    t: float, rh: float, t_si: float
) -> None:
    rh_si = surface_humidity(t, rh, t_si)
    assert 0.0 <= rh_si <= 100.0
    assert surface_humidity(t, rh, t_si + 1.0) <= rh_si


_ANY = st.floats(-300.0, 400.0) | st.just(math.nan)


@given(_ANY, _ANY, _ANY, st.floats(-0.5, 1.5))
@example(0.0, 5e-324, 0.0, 0.0)  # a subnormal RH: log(0) raised in the scalar path
def test_one_reading_at_a_time_gives_the_arrays_figures(
    t: float, rh: float, t_si: float, f: float
) -> None:
    """The rules engine's scalar path (plain floats, Python's math) and the vectorised path
    agree to the last few bits, NaN for NaN."""
    for scalar, vector in (
        (saturation_vapour_pressure(t), saturation_vapour_pressure(np.array([t]))[0]),
        (vapour_pressure(t, rh), vapour_pressure(np.array([t]), rh)[0]),
        (dew_point(t, rh), dew_point(np.array([t]), rh)[0]),
        (surface_temperature(t, t_si, f), surface_temperature(np.array([t]), t_si, f)[0]),
        (surface_humidity(t, rh, t_si), surface_humidity(np.array([t]), rh, t_si)[0]),
    ):
        assert isinstance(scalar, float)
        if math.isnan(vector):
            assert math.isnan(scalar)
        else:
            assert scalar == pytest.approx(float(vector), rel=1e-12, abs=1e-12)
