"""Psychrometrics for damp and condensation: dew point, vapour pressure, surface humidity.

Vectorised with numpy: every function takes floats or arrays and returns the same shape.
Out-of-domain input (RH <= 0 or > 100 %) gives NaN, never an exception.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "absolute_humidity",
    "dew_point",
    "saturation_vapour_pressure",
    "surface_humidity",
    "surface_temperature",
    "vapour_pressure",
]

# Magnus form with Alduchov & Eskridge (1996) constants (DOMAIN.md).
_A = 17.625
_B = 243.04  # °C
_E0 = 610.94  # Pa
_RV = 461.5  # J/(kg K), water vapour


def _f(x: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64)


def _out(value: NDArray[np.float64]) -> Any:
    return value.item() if value.ndim == 0 else value


def saturation_vapour_pressure(t_c: ArrayLike) -> Any:
    """Pa over water: 610.94 exp(17.625 T / (T + 243.04)) (Alduchov & Eskridge 1996)."""
    t = _f(t_c)
    return _out(_E0 * np.exp(_A * t / (t + _B)))


def vapour_pressure(t_c: ArrayLike, rh_pct: ArrayLike) -> Any:
    """Pa: the saturation pressure at T times RH/100; NaN outside 0 < RH <= 100."""
    rh = _f(rh_pct)
    valid = (rh > 0) & (rh <= 100)
    return _out(np.where(valid, _f(saturation_vapour_pressure(t_c)) * rh / 100, np.nan))


def dew_point(t_c: ArrayLike, rh_pct: ArrayLike) -> Any:
    """°C: gamma = ln(RH/100) + 17.625 T/(243.04+T); Td = 243.04 gamma / (17.625 - gamma).

    Reference (DOMAIN.md): 25 °C at 60 % gives 16.70 °C.
    """
    t, rh = _f(t_c), _f(rh_pct)
    valid = (rh > 0) & (rh <= 100)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.log(np.where(valid, rh, np.nan) / 100) + _A * t / (_B + t)
        return _out(_B * gamma / (_A - gamma))


def surface_temperature(t_in: ArrayLike, t_out: ArrayLike, f_rsi: ArrayLike = 0.75) -> Any:
    """°C of a cold wall or corner: Tsi = Te + fRsi (Ti - Te) (BRE IP1/06; 0.75 is the limit)."""
    te = _f(t_out)
    return _out(te + _f(f_rsi) * (_f(t_in) - te))


def surface_humidity(t_air: ArrayLike, rh_air: ArrayLike, t_surface: ArrayLike) -> Any:
    """% RH at a surface: the room's vapour pressure over saturation at the surface, at most 100."""
    e = _f(vapour_pressure(t_air, rh_air))
    with np.errstate(invalid="ignore"):
        return _out(np.minimum(100 * e / _f(saturation_vapour_pressure(t_surface)), 100.0))


def absolute_humidity(t_c: ArrayLike, rh_pct: ArrayLike) -> Any:
    """g/m³ of water vapour: e / (Rv T) (ideal gas)."""
    return _out(1000 * _f(vapour_pressure(t_c, rh_pct)) / (_RV * (_f(t_c) + 273.15)))
