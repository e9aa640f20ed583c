"""Psychrometrics for damp and condensation: dew point, vapour pressure, surface humidity.

Every function is vectorised with numpy: it takes floats or arrays (broadcast together) and
returns a float for scalar input, an array of the broadcast shape otherwise. Input outside a
formula's domain gives NaN, documented per function; nothing raises and no numpy warning
escapes, so a column of sensor data with gaps or faults can be passed whole.

Saturation over liquid water uses the Magnus form with the Alduchov & Eskridge (1996)
constants (DOMAIN.md): within 0.4 % of IAPWS over -40..50 °C, which is the authors' stated
range. Below 0 °C it is saturation over supercooled water, not ice, as for dew points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MAGNUS_A",
    "MAGNUS_B_C",
    "MAGNUS_E0_PA",
    "WALL_F_RSI",
    "Walls",
    "absolute_humidity",
    "dew_point",
    "saturation_vapour_pressure",
    "surface_humidity",
    "surface_temperature",
    "vapour_pressure",
    "wall_class",
]

Floats = NDArray[np.float64]

# Alduchov, O. A. & Eskridge, R. E. (1996), "Improved Magnus form approximation of saturation
# vapor pressure", J. Appl. Meteor. 35, 601-609: e_s = 610.94 exp(17.625 T / (T + 243.04)).
MAGNUS_A = 17.625
MAGNUS_B_C = 243.04  # °C
MAGNUS_E0_PA = 610.94  # Pa
_R_VAPOUR = 461.52  # J/(kg K): R / M_w = 8.314462618 / 0.01801528
_KELVIN = 273.15


def _f(x: ArrayLike) -> Floats:
    return np.asarray(x, dtype=np.float64)


def _plain(*inputs: object) -> bool:
    # One reading at a time (the rules engine, per record): Python's math is ~20x quicker than
    # numpy on scalars, and gives the same figures (the same formulas, in double precision).
    return all(type(x) is float or type(x) is int for x in inputs)


def _es(t: float) -> float:
    if not t > -MAGNUS_B_C:
        return math.nan
    try:
        return MAGNUS_E0_PA * math.exp(MAGNUS_A * t / (t + MAGNUS_B_C))
    except OverflowError:
        return math.inf


def _out(value: Floats, *inputs: object) -> Any:
    # A float back for all-scalar input (what a rule formatting one reading wants), an array
    # whenever any input was an array, even a 0-d one: the return follows the overloads.
    if value.ndim == 0 and not any(isinstance(x, np.ndarray | list | tuple) for x in inputs):
        return float(value)
    return value


@overload
def saturation_vapour_pressure(t_c: float) -> float: ...
@overload
def saturation_vapour_pressure(t_c: ArrayLike) -> Floats: ...
def saturation_vapour_pressure(t_c: ArrayLike) -> Any:
    """Saturation vapour pressure over water (Pa): 610.94 exp(17.625 T / (T + 243.04)).

    Alduchov & Eskridge (1996), T in °C. NaN at or below -243.04 °C, where the form has its
    pole (meaningless long before: the fit covers -40..50 °C).
    """
    if _plain(t_c):
        return _es(float(t_c))  # type: ignore[arg-type]
    t = _f(t_c)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e = MAGNUS_E0_PA * np.exp(MAGNUS_A * t / (t + MAGNUS_B_C))
    return _out(np.where(t > -MAGNUS_B_C, e, np.nan), t_c)


@overload
def vapour_pressure(t_c: float, rh_pct: float) -> float: ...
@overload
def vapour_pressure(t_c: ArrayLike, rh_pct: ArrayLike) -> Floats: ...
def vapour_pressure(t_c: ArrayLike, rh_pct: ArrayLike) -> Any:
    """Partial pressure of water vapour (Pa): e = e_s(T) RH / 100 (the definition of RH).

    NaN unless 0 <= RH <= 100: a reading above 100 % is a sensor fault, not supersaturation.
    """
    if _plain(t_c, rh_pct):
        r = float(rh_pct)  # type: ignore[arg-type]
        return _es(float(t_c)) * r / 100.0 if 0.0 <= r <= 100.0 else math.nan  # type: ignore[arg-type]
    rh = _f(rh_pct)
    e_s = _f(saturation_vapour_pressure(_f(t_c)))
    with np.errstate(invalid="ignore"):
        valid = (rh >= 0.0) & (rh <= 100.0)
        return _out(np.where(valid, e_s * rh / 100.0, np.nan), t_c, rh_pct)


@overload
def dew_point(t_c: float, rh_pct: float) -> float: ...
@overload
def dew_point(t_c: ArrayLike, rh_pct: ArrayLike) -> Floats: ...
def dew_point(t_c: ArrayLike, rh_pct: ArrayLike) -> Any:
    """Dew point (°C), the Magnus form inverted (Alduchov & Eskridge 1996 constants):

        gamma = ln(RH/100) + 17.625 T / (243.04 + T);  Td = 243.04 gamma / (17.625 - gamma)

    Reference (DOMAIN.md): 25 °C at 60 % gives 16.70 °C. NaN unless 0 < RH <= 100 (at 0 %
    there is no dew point) and T > -243.04 °C; NaN input gives NaN.
    """
    if _plain(t_c, rh_pct):
        tf, r = float(t_c), float(rh_pct)  # type: ignore[arg-type]
        if not (0.0 < r <= 100.0 and tf > -MAGNUS_B_C):
            return math.nan
        ratio = r / 100.0
        if ratio == 0.0:  # a subnormal RH underflows: no dew point, as the array path says
            return math.nan
        g = math.log(ratio) + MAGNUS_A * tf / (MAGNUS_B_C + tf)
        return MAGNUS_B_C * g / (MAGNUS_A - g)
    t, rh = _f(t_c), _f(rh_pct)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        valid = (rh > 0.0) & (rh <= 100.0) & (t > -MAGNUS_B_C)
        gamma = np.log(np.where(valid, rh, np.nan) / 100.0) + MAGNUS_A * t / (MAGNUS_B_C + t)
        td = MAGNUS_B_C * gamma / (MAGNUS_A - gamma)
    return _out(np.where(valid, td, np.nan), t_c, rh_pct)


@overload
def surface_temperature(t_in: float, t_out: float, f_rsi: float = 0.75) -> float: ...
@overload
def surface_temperature(t_in: ArrayLike, t_out: ArrayLike, f_rsi: ArrayLike = 0.75) -> Floats: ...
def surface_temperature(t_in: ArrayLike, t_out: ArrayLike, f_rsi: ArrayLike = 0.75) -> Any:
    """Inner surface temperature (°C) of a wall, corner or bridge: Tsi = Te + fRsi (Ti - Te).

    BRE IP1/06 (and BS EN ISO 13788): fRsi = (Tsi - Te) / (Ti - Te) is the temperature
    factor; 0.75 is the limit a sound dwelling should meet, lower for poorly insulated stock.
    NaN unless 0 <= fRsi <= 1 (a surface is never colder than outside nor warmer than the room).
    """
    if _plain(t_in, t_out, f_rsi):
        fi, ei, ii = float(f_rsi), float(t_out), float(t_in)  # type: ignore[arg-type]
        return ei + fi * (ii - ei) if 0.0 <= fi <= 1.0 else math.nan
    ti, te, f = _f(t_in), _f(t_out), _f(f_rsi)
    with np.errstate(invalid="ignore"):
        valid = (f >= 0.0) & (f <= 1.0)
        return _out(np.where(valid, te + f * (ti - te), np.nan), t_in, t_out, f_rsi)


@overload
def surface_humidity(t_air: float, rh_air: float, t_surface: float) -> float: ...
@overload
def surface_humidity(t_air: ArrayLike, rh_air: ArrayLike, t_surface: ArrayLike) -> Floats: ...
def surface_humidity(t_air: ArrayLike, rh_air: ArrayLike, t_surface: ArrayLike) -> Any:
    """Relative humidity (%) at a surface: the room's vapour pressure over saturation there.

    RH_si = 100 e(T_air, RH_air) / e_s(T_si), at most 100 (at or below the dew point water
    condenses and the surface is wet). The air at the surface is assumed to have the room's
    vapour pressure (BS EN ISO 13788's surface method). NaN where the room's figures are
    outside `vapour_pressure`'s domain or any input is NaN.
    """
    if _plain(t_air, rh_air, t_surface):
        e_room = vapour_pressure(float(t_air), float(rh_air))  # type: ignore[arg-type]
        e_sat = _es(float(t_surface))  # type: ignore[arg-type]
        if math.isnan(e_room) or math.isnan(e_sat):
            return math.nan
        if e_sat == 0.0:
            return math.nan if e_room == 0.0 else 100.0
        return min(100.0 * e_room / e_sat, 100.0)
    e = _f(vapour_pressure(_f(t_air), _f(rh_air)))
    e_s = _f(saturation_vapour_pressure(_f(t_surface)))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # np.minimum, not fmin: a NaN must stay NaN, not become 100.
        rh_s = np.minimum(100.0 * e / e_s, 100.0)
    return _out(rh_s, t_air, rh_air, t_surface)


@overload
def absolute_humidity(t_c: float, rh_pct: float) -> float: ...
@overload
def absolute_humidity(t_c: ArrayLike, rh_pct: ArrayLike) -> Floats: ...
def absolute_humidity(t_c: ArrayLike, rh_pct: ArrayLike) -> Any:
    """Water vapour density (g/m³): 1000 e / (R_v (T + 273.15)), the ideal gas law.

    R_v = 461.52 J/(kg K). NaN where `vapour_pressure` is, or at or below 0 K.
    """
    t = _f(t_c)
    e = _f(vapour_pressure(t, _f(rh_pct)))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1000.0 * e / (_R_VAPOUR * (t + _KELVIN))
        return _out(np.where(t > -_KELVIN, rho, np.nan), t_c, rh_pct)


# The wall classes a landlord's stock record (a stock condition survey, the EPC's wall
# description) gives, and the temperature factor of such a wall's cold surface that the damp
# rule estimates it with: fRsi = 1 - Rsi U, ISO 13788's Rsi = 0.25 m² K/W for mould. A cold
# home's solid or unfilled cavity walls (fRsi 0.55-0.65) estimated at the sound default 0.75
# looked drier than they are, and their damp rooms were missed (bench/cases, docs/rules.md).
Walls = Literal["poor", "sound", "insulated"]
WALL_F_RSI: Mapping[str, float] = {
    "poor": 0.6,  # solid, or an unfilled cavity: U about 1.6 W/m² K
    "sound": 0.75,  # BRE IP1/06's minimum for a dwelling: the estate's default
    "insulated": 0.87,  # a filled cavity or an insulated wall: U about 0.5 W/m² K
}


def wall_class(f_rsi: float) -> str:
    """The class whose fRsi is nearest `f_rsi`: what a stock record says of a wall whose
    coldest corner's figure (which the record does not know) is `f_rsi`."""
    return min(WALL_F_RSI, key=lambda walls: abs(WALL_F_RSI[walls] - f_rsi))
