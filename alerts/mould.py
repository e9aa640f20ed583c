"""The VTT mould growth model (Hukka & Viitanen 1999; Ojanen et al. 2010), vectorised with numpy.

Mould index M runs from 0 (no growth) to 6 (heavy growth). Per step of `dt` hours:

- growth, when 0 < T < 50 °C and RH >= RH_crit:
  dM/dt = k1 k2 / (7 exp(-0.68 ln T - 13.9 ln RH + 0.14 W - 0.33 SQ + 66.02)) per day
  (W = 0 pine, SQ = 0 sawn surface: the reference material);
- RH_crit = -0.00267 T^3 + 0.160 T^2 - 3.13 T + 100 for T <= 20 °C, 80 % above; never below
  the class's RH_min (Ojanen 2010); 100 % at or below 0 °C;
- k2 = max(1 - exp(2.3 (M - M_max)), 0), M_max = A + B x - C x^2,
  x = (RH_crit - RH) / (RH_crit - 100);
- decline otherwise, by the time since growth stopped: -0.00133/h for the first 6 h, 0 from
  6 to 24 h, -0.000667/h after 24 h, times the class's C_mat.

Self-check (DOMAIN.md): for the very sensitive class at constant 22 °C / 97 %, M reaches 1 at
exp(-0.68 ln 22 - 13.9 ln 97 + 66.02) = 1.39 weeks, Viitanen's regression for the onset of
growth; at 20 °C / 80 % nothing grows (RH_crit(20) = 80.04 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MEDIUM_RESISTANT",
    "RESISTANT",
    "SENSITIVE",
    "VERY_SENSITIVE",
    "Material",
    "MouldState",
    "mould_index",
    "mould_index_many",
    "rh_critical",
]

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Material:
    """A sensitivity class of Ojanen et al. (2010)."""

    name: str
    k1_below_1: float
    k1_from_1: float
    a: float
    b: float
    c: float
    rh_min: float
    c_mat: float


VERY_SENSITIVE = Material("very sensitive", 1.0, 2.0, 1.0, 7.0, 2.0, 80.0, 1.0)
SENSITIVE = Material("sensitive", 0.578, 0.386, 0.3, 6.0, 1.0, 80.0, 0.25)
MEDIUM_RESISTANT = Material("medium resistant", 0.072, 0.097, 0.0, 5.0, 1.5, 85.0, 0.1)
RESISTANT = Material("resistant", 0.033, 0.014, 0.0, 3.0, 1.0, 85.0, 0.1)


@dataclass
class MouldState:
    """Where integration stopped, per room: the index, and hours since growth last stopped."""

    m: Floats
    dry_hours: Floats

    @classmethod
    def zeros(cls, rooms: int) -> MouldState:
        return cls(np.zeros(rooms), np.zeros(rooms))


def rh_critical(t_c: ArrayLike, material: Material = VERY_SENSITIVE) -> Floats:
    """% RH above which mould can grow at temperature T."""
    t = np.asarray(t_c, dtype=np.float64)
    poly = np.where(t <= 20.0, -0.00267 * t**3 + 0.160 * t**2 - 3.13 * t + 100.0, 80.0)
    return np.where(t <= 0.0, 100.0, np.maximum(poly, material.rh_min))


def _step(state: MouldState, t: Floats, rh: Floats, dt_h: Floats, mat: Material) -> None:
    m = state.m
    rhc = rh_critical(t, mat)
    valid = np.isfinite(t) & np.isfinite(rh)
    favourable = valid & (t > 0.0) & (t < 50.0) & (rh >= rhc)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_safe = np.where(favourable, t, 20.0)
        rh_safe = np.where(favourable, rh, 90.0)
        weeks = np.exp(-0.68 * np.log(t_safe) - 13.9 * np.log(rh_safe) + 66.02)
        x = np.where(favourable & (rhc < 100.0), (rhc - rh_safe) / (rhc - 100.0), 1.0)
    m_max = mat.a + mat.b * x - mat.c * x**2
    k1 = np.where(m < 1.0, mat.k1_below_1, mat.k1_from_1)
    # Capped exponent: where conditions are unfavourable k2 is unused, and must not overflow.
    k2 = np.maximum(1.0 - np.exp(np.minimum(2.3 * (m - m_max), 50.0)), 0.0)
    growth_per_h = k1 * k2 / (7.0 * weeks) / 24.0
    dry = state.dry_hours
    decline_per_h = np.where(dry < 6.0, -0.00133, np.where(dry < 24.0, 0.0, -0.000667))
    rate = np.where(favourable, growth_per_h, decline_per_h * mat.c_mat)
    # Missing data (NaN) neither grows nor declines, and does not count as time dry.
    rate = np.where(valid, rate, 0.0)
    state.m = np.clip(m + rate * dt_h, 0.0, 6.0)
    state.dry_hours = np.where(favourable, 0.0, np.where(valid, dry + dt_h, dry))


def mould_index_many(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    dt_hours: ArrayLike,
    *,
    material: Material = VERY_SENSITIVE,
    state: MouldState | None = None,
) -> tuple[Floats, MouldState]:
    """Integrate many rooms in lockstep: inputs (rooms, steps); dt per step (steps,) or scalar.

    Returns M after each step (rooms, steps) and the state to resume from. The recurrence is
    sequential in time, so the loop runs over steps and every step is vectorised over rooms.
    """
    t = np.atleast_2d(np.asarray(t_c, dtype=np.float64))
    rh = np.atleast_2d(np.asarray(rh_pct, dtype=np.float64))
    if t.shape != rh.shape:
        raise ValueError(f"temperature {t.shape} and humidity {rh.shape} differ in shape")
    rooms, steps = t.shape
    dt = np.broadcast_to(np.asarray(dt_hours, dtype=np.float64), (steps,))
    current = state or MouldState.zeros(rooms)
    current = MouldState(current.m.astype(np.float64).copy(), current.dry_hours.copy())
    out = np.empty((rooms, steps))
    for k in range(steps):
        _step(current, t[:, k], rh[:, k], np.full(rooms, dt[k]), material)
        out[:, k] = current.m
    return out, current


def mould_index(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    dt_hours: ArrayLike,
    *,
    material: Material = VERY_SENSITIVE,
    state: MouldState | None = None,
) -> tuple[Floats, MouldState]:
    """One room's series (steps,); the same arithmetic as `mould_index_many`."""
    out, resumed = mould_index_many(
        np.asarray(t_c, dtype=np.float64)[None, :],
        np.asarray(rh_pct, dtype=np.float64)[None, :],
        dt_hours,
        material=material,
        state=state,
    )
    return out[0], resumed
