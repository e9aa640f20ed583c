"""The VTT mould growth model (Hukka & Viitanen 1999; Ojanen et al. 2010), vectorised with numpy.

The mould index M runs from 0 (no growth) to 6 (heavy growth). Over a step of `dt` hours with
surface temperature T (°C) and relative humidity RH (%):

- growth, when 0 < T < 50 °C and RH >= RH_crit (Hukka & Viitanen 1999, eq. 5; W = 0 pine,
  SQ = 0 sawn surface, the reference material; Ojanen et al. 2010 fold the material into k1):
  dM/dt = k1 k2 / (7 exp(-0.68 ln T - 13.9 ln RH + 0.14 W - 0.33 SQ + 66.02)) per day, where
  exp(...) is Viitanen's regression for the weeks to the onset of growth (M = 1);
- RH_crit = -0.00267 T^3 + 0.160 T^2 - 3.13 T + 100 for T <= 20 °C, 80 % above, never below
  the class's RH_min, and 100 % below 0 °C (Ojanen et al. 2010);
- k1 by class, one value below M = 1 and one from it; k2 = max(1 - exp(2.3 (M - M_max)), 0),
  M_max = A + B x - C x^2, x = (RH_crit - RH) / (RH_crit - 100) (Ojanen et al. 2010);
- decline otherwise, by the time since growth stopped: -0.032/day for the first 6 h, 0 from 6
  to 24 h, -0.016/day after that, times the class's C_mat (Hukka & Viitanen 1999, eq. 9;
  Ojanen et al. 2010);
- M is kept within [0, 6].

Integration is explicit in time (Euler, as in the papers' hourly form). The decline is
integrated exactly across its phase boundaries, so it does not depend on the step length; a
growth step is not allowed to carry M past M_max, which the exact solution approaches but
never crosses (only steps of about a day or more could). A step with a NaN reading, RH < 0,
or a length that is NaN, <= 0 or above `max_step_hours` is a gap: nothing grows, nothing
declines, and the clock since growth stopped does not run. RH above 100 counts as 100.

The recurrence is sequential in time, so everything that does not depend on M (RH_crit, the
growth-rate term, M_max, the favourable mask, the time since growth stopped) is computed for a
block of steps at once, and the loop over steps is vectorised across rooms: many rooms are
integrated in lockstep, which is how the rules engine evaluates a whole estate. One room's one
step (the live rules, once an hour per room) has a plain-Python path, `mould_step`: the same
arithmetic in the same order with the math module's functions, some twenty times quicker than
numpy on one value; it agrees with `mould_index` to rounding (tests/alerts/test_mould.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MATERIALS",
    "MEDIUM_RESISTANT",
    "RESISTANT",
    "SENSITIVE",
    "VERY_SENSITIVE",
    "Material",
    "MouldResult",
    "MouldState",
    "mould_index",
    "mould_index_many",
    "mould_state_many",
    "mould_step",
    "onset_weeks",
    "rh_critical",
]

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]

M_LIMIT = 6.0
# Decline per hour in its first 6 h and after 24 h (Hukka & Viitanen 1999: -0.032 and
# -0.016 per day, quoted hourly as -0.00133 and -0.000667).
_EARLY_DECLINE_PER_H = 0.032 / 24.0
_LATE_DECLINE_PER_H = 0.016 / 24.0
_EARLY_END_H = 6.0
_LATE_START_H = 24.0
# Cells (rooms x steps) precomputed at once. Small enough that a block's arrays (128 kB each)
# stay in cache and are reused by the allocator instead of being mapped afresh: about 1.5 times
# as fast as 2-million-cell blocks. Memory stays flat however long the series is. At least one
# step: 50,000 rooms make 400 kB rows.
_BLOCK_CELLS = 1 << 14


@dataclass(frozen=True, slots=True)
class Material:
    """A sensitivity class of Ojanen et al. (2010), Tables 1–3.

    `c_mat` is the relative decline factor; it belongs to the actual material more than to
    the class (1 for pine sapwood, 0.5 or less for many finishes), so a home may override it
    with `dataclasses.replace(VERY_SENSITIVE, c_mat=0.5)`.
    """

    name: str
    k1_below_1: float  # growth-rate factor while M < 1
    k1_from_1: float  # and from M = 1
    a: float  # M_max = A + B x - C x^2
    b: float
    c: float
    rh_min: float  # %: RH_crit never falls below this
    c_mat: float  # decline factor

    def __post_init__(self) -> None:
        figures = (self.k1_below_1, self.k1_from_1, self.a, self.b, self.c, self.c_mat)
        if not all(np.isfinite(figures)) or min(figures) < 0:
            raise ValueError(f"{self.name}: factors must be finite and not negative")
        if not 0 < self.rh_min < 100:
            raise ValueError(f"{self.name}: RH_min {self.rh_min} is not a humidity")


VERY_SENSITIVE = Material("very sensitive", 1.0, 2.0, 1.0, 7.0, 2.0, 80.0, 1.0)
SENSITIVE = Material("sensitive", 0.578, 0.386, 0.3, 6.0, 1.0, 80.0, 0.25)
MEDIUM_RESISTANT = Material("medium resistant", 0.072, 0.097, 0.0, 5.0, 1.5, 85.0, 0.1)
RESISTANT = Material("resistant", 0.033, 0.014, 0.0, 3.0, 1.0, 85.0, 0.1)

MATERIALS: Mapping[str, Material] = MappingProxyType(
    {m.name: m for m in (VERY_SENSITIVE, SENSITIVE, MEDIUM_RESISTANT, RESISTANT)}
)


@dataclass(frozen=True, slots=True)
class MouldState:
    """Where integration stopped, one entry per room: the index M, and the hours since growth
    last stopped (the decline's clock). Store it and pass it back to continue."""

    m: Floats
    dry_hours: Floats

    def __post_init__(self) -> None:
        m = np.array(self.m, dtype=np.float64, ndmin=1)
        dry = np.array(self.dry_hours, dtype=np.float64, ndmin=1)
        if m.ndim != 1 or m.shape != dry.shape:
            raise ValueError(f"state: index {m.shape} and clock {dry.shape} must be (rooms,)")
        if not np.all((m >= 0) & (m <= M_LIMIT)):
            raise ValueError("state: the mould index must be within [0, 6]")
        if not np.all(np.isfinite(dry) & (dry >= 0)):
            raise ValueError("state: hours since growth stopped must be finite and >= 0")
        # Private copies: a caller's array changed later cannot change a stored state.
        object.__setattr__(self, "m", m)
        object.__setattr__(self, "dry_hours", dry)

    @classmethod
    def of_room(cls, m: float, dry_hours: float) -> MouldState:
        """One room's state from `mould_step`, whose results are in range: built without the
        checks a stored state is given, which at every clock hour of every room were a tenth
        of the rules engine's cost."""
        state = object.__new__(cls)
        object.__setattr__(state, "m", np.array([m], dtype=np.float64))
        object.__setattr__(state, "dry_hours", np.array([dry_hours], dtype=np.float64))
        return state

    @classmethod
    def zeros(cls, rooms: int) -> MouldState:
        return cls(np.zeros(rooms), np.zeros(rooms))

    @classmethod
    def concat(cls, states: Sequence[MouldState]) -> MouldState:
        """Many rooms' states as one, to integrate them in lockstep."""
        return cls(
            np.concatenate([s.m for s in states]), np.concatenate([s.dry_hours for s in states])
        )

    @property
    def rooms(self) -> int:
        return int(self.m.shape[0])

    def room(self, i: int) -> MouldState:
        """One room's state, e.g. to store it after a lockstep run."""
        return MouldState(self.m[i : i + 1], self.dry_hours[i : i + 1])


class MouldResult(NamedTuple):
    """The index after each step, and the state to resume from (unpacks as a pair)."""

    series: Floats
    state: MouldState


def rh_critical(t_c: ArrayLike, material: Material = VERY_SENSITIVE) -> Floats:
    """RH_crit (%) above which mould can grow at T (°C) (Hukka & Viitanen 1999; Ojanen 2010).

    -0.00267 T^3 + 0.160 T^2 - 3.13 T + 100 for T <= 20 °C, 80 % above; never below the
    class's RH_min; 100 % below 0 °C. NaN for NaN.
    """
    t = np.asarray(t_c, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        poly = ((-0.00267 * t + 0.160) * t - 3.13) * t + 100.0
        # Comparisons with NaN are false: written so that NaN takes the cubic and stays NaN.
        rhc = np.maximum(np.where(t > 20.0, 80.0, poly), material.rh_min)
        return np.where(t < 0.0, 100.0, rhc)


def onset_weeks(t_c: ArrayLike, rh_pct: ArrayLike) -> Floats:
    """Viitanen's regression for the weeks to the onset of growth (M = 1) on pine sapwood at
    constant conditions: exp(-0.68 ln T - 13.9 ln RH + 66.02) (Hukka & Viitanen 1999, with
    W = 0 and SQ = 0). The very sensitive class's growth rate is 1/7 of its inverse per day."""
    t = np.asarray(t_c, dtype=np.float64)
    rh = np.asarray(rh_pct, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.exp(-0.68 * np.log(t) - 13.9 * np.log(rh) + 66.02)


class _Block(NamedTuple):
    """What does not depend on M, for a block of steps: arrays (steps, rooms), C-ordered so
    that each step's row is contiguous for the loop."""

    growth_below_1: Floats  # M gained over the step at k2 = 1 while M < 1; 0 where not growing
    growth_step_at_1: Floats  # what M >= 1 adds to that (k1 changes); 0 where not growing
    m_max: Floats  # 0 where not growing
    clock_dt: Floats  # hours the decline's clock runs over the step; 0 where growing or a gap
    growing: Bools


def _block(t: Floats, rh: Floats, dt: Floats, max_step: float, mat: Material) -> _Block:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # A sum is finite only if every term is: one test for NaN or inf in any of the three.
        valid = np.isfinite(t + rh + dt) & (rh >= 0.0) & (dt > 0.0) & (dt <= max_step)
        dt = np.where(valid, dt, 0.0)  # a NaN length would poison the products below
        rh = np.minimum(rh, 100.0)
        rhc = rh_critical(t, mat)
        growing = valid & (t > 0.0) & (t < 50.0) & (rh >= rhc)
        # Safe stand-ins where nothing grows, so that no log or division misbehaves there
        # (a masked ufunc would do, but runs ten times slower than np.where).
        t_g = np.where(growing, t, 20.0)
        rh_g = np.where(growing, rh, 100.0)
        # dM over the step at k1 = k2 = 1: dt/24 days at 1/(7 t_m) a day, t_m in weeks
        # (`onset_weeks`, its exponent negated).
        base = np.exp(0.68 * np.log(t_g) + 13.9 * np.log(rh_g) - 66.02)
        base *= dt * growing
        base /= 168.0
        # x = (RH_crit - RH) / (RH_crit - 100). RH_crit is 100 only at T <= 0, or as T -> 0+
        # where the cubic rounds to 100; growing there means RH = 100, and x = 1 (80 stands in).
        rhc_g = np.where(growing & (rhc < 100.0), rhc, 80.0)
        x = (rhc_g - rh_g) / (rhc_g - 100.0)
        # At most 6 for the four classes (x <= 1 and B >= 2C); the cap keeps a custom class
        # from carrying M past 6, since growth never carries M past M_max.
        m_max = np.minimum(mat.a + (mat.b - mat.c * x) * x, M_LIMIT)
        m_max *= growing
        clock_dt = dt * ~growing
    return _Block(
        base * mat.k1_below_1,
        base * (mat.k1_from_1 - mat.k1_below_1),
        m_max,
        clock_dt,
        growing,
    )


def _integrate(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    dt_hours: ArrayLike,
    material: Material,
    m0: ArrayLike,
    state: MouldState | None,
    max_step_hours: float | None,
    record: bool,
) -> tuple[Floats | None, MouldState]:
    t = np.asarray(t_c, dtype=np.float64)
    rh = np.asarray(rh_pct, dtype=np.float64)
    if t.ndim != 2 or t.shape != rh.shape:
        raise ValueError(f"temperature {t.shape} and humidity {rh.shape}: need (rooms, steps)")
    rooms, steps = t.shape
    try:
        dt = np.broadcast_to(np.asarray(dt_hours, dtype=np.float64), (rooms, steps))
    except ValueError as exc:
        raise ValueError(f"dt_hours does not broadcast to {(rooms, steps)}") from exc
    max_step = np.inf if max_step_hours is None else float(max_step_hours)

    if state is None:
        start = np.broadcast_to(np.asarray(m0, dtype=np.float64), (rooms,))
        # Unknown history: the decline's clock starts as if growth had just stopped, as the
        # papers' own runs start.
        state = MouldState(start, np.zeros(rooms))
    elif np.any(np.asarray(m0) != 0.0):
        raise ValueError("give m0 or state, not both")
    if state.rooms != rooms:
        raise ValueError(f"state has {state.rooms} rooms, the series {rooms}")

    m = state.m.copy()
    early = material.c_mat * _EARLY_DECLINE_PER_H
    late = material.c_mat * _LATE_DECLINE_PER_H
    out = np.empty((rooms, steps)) if record else None
    # Scratch rows, reused every step: at 50,000 rooms, allocating them afresh would cost as
    # much as the arithmetic.
    k2, gain, room_to_max = np.empty(rooms), np.empty(rooms), np.empty(rooms)
    block_steps = max(1, min(steps, _BLOCK_CELLS // max(rooms, 1)))
    clock = np.empty((block_steps + 1, rooms))
    clock[0] = state.dry_hours

    for first in range(0, steps, block_steps):
        n = min(block_steps, steps - first)
        b = _block(
            np.ascontiguousarray(t[:, first : first + n].T),
            np.ascontiguousarray(rh[:, first : first + n].T),
            np.ascontiguousarray(dt[:, first : first + n].T),
            max_step,
            material,
        )
        # The decline's clock does not depend on M: run it first (two operations a step: it
        # runs while nothing grows, and stops at 0 while growing), then every step's decline
        # at once, integrated exactly over its phases, so the step length does not matter.
        not_growing = ~b.growing
        for k in range(n):
            np.add(clock[k], b.clock_dt[k], out=clock[k + 1])
            np.multiply(clock[k + 1], not_growing[k], out=clock[k + 1])
        start, end = clock[:n], clock[:n] + b.clock_dt
        declines = early * (np.minimum(end, _EARLY_END_H) - np.minimum(start, _EARLY_END_H))
        declines += late * (np.maximum(end, _LATE_START_H) - np.maximum(start, _LATE_START_H))
        clock[0] = clock[n]
        series = np.empty((n, rooms)) if record else None

        for k in range(n):
            # k2 = 1 - exp(2.3 (M - M_max)) before its floor at 0. M and M_max are within
            # [0, 6], so the exponent is at most 13.8: no overflow.
            np.subtract(b.m_max[k], m, out=room_to_max)
            np.multiply(room_to_max, -2.3, out=k2)
            np.exp(k2, out=k2)
            np.subtract(1.0, k2, out=k2)
            # k1 by the index at the start of the step (the papers' hourly form).
            np.greater_equal(m, 1.0, out=gain)
            np.multiply(gain, b.growth_step_at_1[k], out=gain)
            np.add(gain, b.growth_below_1[k], out=gain)
            np.multiply(gain, k2, out=gain)
            # Not past M_max in one step; and no growth at all above it (k2's floor at 0).
            # Where nothing grows M_max is 0, so the gain is 0 there too.
            np.minimum(gain, room_to_max, out=gain)
            np.maximum(gain, 0.0, out=gain)
            np.add(m, gain, out=m)
            np.subtract(m, declines[k], out=m)
            np.maximum(m, 0.0, out=m)
            if series is not None:
                series[k] = m
        if out is not None and series is not None:
            out[:, first : first + n] = series.T
    dry = clock[0].copy()
    return out, MouldState(m, dry)


def mould_index_many(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    dt_hours: ArrayLike,
    *,
    material: Material = VERY_SENSITIVE,
    m0: ArrayLike = 0.0,
    state: MouldState | None = None,
    max_step_hours: float | None = None,
) -> MouldResult:
    """Integrate many rooms in lockstep: T (°C) and RH (%) at the surface, (rooms, steps).

    `dt_hours` is how long each reading's conditions held: a scalar, (steps,), or (rooms,
    steps) for rooms on their own clocks (from timestamps: `np.diff(times_h, append=...)`).
    Start from `m0` (a scalar or one per room) or from a stored `state`, not both. Steps
    longer than `max_step_hours` are gaps (nothing happens), as are NaN readings.

    Returns M after each step, (rooms, steps), and the state to resume from: resuming gives
    bit for bit what one run over the joined series gives.
    """
    index, end = _integrate(t_c, rh_pct, dt_hours, material, m0, state, max_step_hours, record=True)
    assert index is not None
    return MouldResult(index, end)


def mould_state_many(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    dt_hours: ArrayLike,
    *,
    material: Material = VERY_SENSITIVE,
    m0: ArrayLike = 0.0,
    state: MouldState | None = None,
    max_step_hours: float | None = None,
) -> MouldState:
    """As `mould_index_many`, keeping only the end state: memory flat in the number of steps,
    for rebuilding an estate's indexes from weeks of history."""
    _, end = _integrate(t_c, rh_pct, dt_hours, material, m0, state, max_step_hours, record=False)
    return end


def mould_step(
    m: float,
    dry_hours: float,
    t_c: float,
    rh_pct: float,
    dt_hours: float,
    material: Material = VERY_SENSITIVE,
) -> tuple[float, float]:
    """One room, one step: (M, hours since growth stopped) after `dt_hours` at the surface's
    T (°C) and RH (%), from (M, hours) before it. The arithmetic of `mould_index_many` (see the
    module's docstring), for the rules engine's hourly step of one room; a NaN or impossible
    reading, or a length that is not positive, is a gap (nothing changes)."""
    if not (math.isfinite(t_c + rh_pct + dt_hours) and rh_pct >= 0.0 and dt_hours > 0.0):
        return m, dry_hours
    rh = min(rh_pct, 100.0)
    if t_c < 0.0:
        rhc = 100.0
    else:
        poly = ((-0.00267 * t_c + 0.160) * t_c - 3.13) * t_c + 100.0
        rhc = max(80.0 if t_c > 20.0 else poly, material.rh_min)
    if 0.0 < t_c < 50.0 and rh >= rhc:
        base = math.exp(0.68 * math.log(t_c) + 13.9 * math.log(rh) - 66.02) * dt_hours / 168.0
        rhc_g = rhc if rhc < 100.0 else 80.0
        x = (rhc_g - rh) / (rhc_g - 100.0)
        m_max = min(material.a + (material.b - material.c * x) * x, M_LIMIT)
        room_to_max = m_max - m
        k2 = 1.0 - math.exp(room_to_max * -2.3)
        rate = base * material.k1_below_1
        if m >= 1.0:
            rate += base * (material.k1_from_1 - material.k1_below_1)
        gain = max(min(rate * k2, room_to_max), 0.0)
        return max(m + gain, 0.0), 0.0
    start, end = dry_hours, dry_hours + dt_hours
    decline = material.c_mat * _EARLY_DECLINE_PER_H * (
        min(end, _EARLY_END_H) - min(start, _EARLY_END_H)
    ) + material.c_mat * _LATE_DECLINE_PER_H * (max(end, _LATE_START_H) - max(start, _LATE_START_H))
    return max(m - decline, 0.0), end


def mould_index(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    dt_hours: ArrayLike,
    *,
    material: Material = VERY_SENSITIVE,
    m0: float = 0.0,
    state: MouldState | None = None,
    max_step_hours: float | None = None,
) -> MouldResult:
    """One room's series, (steps,): the same arithmetic as `mould_index_many`, whose
    documentation this follows; the index comes back as (steps,), the state for one room."""
    t = np.asarray(t_c, dtype=np.float64)
    rh = np.asarray(rh_pct, dtype=np.float64)
    if t.ndim != 1 or t.shape != rh.shape:
        raise ValueError(f"temperature {t.shape} and humidity {rh.shape}: need (steps,)")
    dt = np.asarray(dt_hours, dtype=np.float64)
    index, end = mould_index_many(
        t[None, :],
        rh[None, :],
        dt[None, :] if dt.ndim == 1 else dt,
        material=material,
        m0=m0,
        state=state,
        max_step_hours=max_step_hours,
    )
    return MouldResult(index[0], end)
