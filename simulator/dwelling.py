"""A home's physics, vectorised across homes: per room heat, water vapour and CO2 balances."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from hof.climate import saturation_vapour_pressure, surface_humidity
from simulator.weather import Weather

__all__ = [
    "ARCHETYPE_MIX",
    "ROOMS",
    "Activities",
    "Archetype",
    "Conditions",
    "Dwellings",
    "Simulation",
    "draw_dwellings",
    "relative_humidity",
    "saturation_vapour_density",
]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

ROOMS = ("living_room", "bedroom", "bathroom", "kitchen")
LIVING, BEDROOM, BATHROOM, KITCHEN = range(4)
_H = 3600.0
_LONDON = ZoneInfo("Europe/London")
# Volumetric heat capacity of air: rho * c_p = 1.2 kg/m³ * 1005 J/(kg K), in W h/(m³ K).
_AIR_WH_PER_M3K = 1.2 * 1005 / _H
_R_VAPOUR = 461.5  # J/(kg K)
OUTDOOR_CO2_PPM = 420.0

# Moisture production, g/h, the figures commonly cited from BS 5250 (and BRE Digest 297):
# a person asleep 40, awake and active 55; a shower releases about 0.2-0.4 kg; cooking 2-3 kg a
# day for a family; drying one load of washing indoors 1.5-2.5 kg over the day.
_VAPOUR_ASLEEP = 40.0
_VAPOUR_AWAKE = 55.0
_VAPOUR_SHOWER = 1500.0
# CO2 exhaled, litres/h per person: about 15 asleep, 20 seated (0.0042-0.0055 L/s).
_CO2_ASLEEP_LH = 15.0
_CO2_AWAKE_LH = 20.0
# Hygroscopic buffering by furnishings and finishes, as an effective-capacitance multiplier on
# the room's air volume (how much slower than bare air a room's humidity moves).
_BUFFER = np.array([3.0, 3.0, 1.5, 2.0])
# Water condensed on surfaces (a steamed-up bathroom) evaporates back into the air with this
# time constant, slowed as the air nears saturation.
_POOL_TAU_S = 0.33 * _H


class Archetype(IntEnum):
    """The kinds of home the estate holds; each has its own parameter ranges below."""

    WELL_RUN = 0
    COLD = 1
    DAMP = 2
    OVERHEATING = 3

    @property
    def label(self) -> str:
        return self.name.lower()


# Shares of an estate (a social landlord's stock skews toward the problem homes the platform
# is for; the English Housing Survey puts damp problems at about 4-10 % of social homes).
ARCHETYPE_MIX: dict[Archetype, float] = {
    Archetype.WELL_RUN: 0.6,
    Archetype.COLD: 0.15,
    Archetype.DAMP: 0.15,
    Archetype.OVERHEATING: 0.1,
}


def saturation_vapour_density(t_c: Floats | float) -> Floats:
    """Water vapour density at saturation (g/m³) over water: the core's Magnus form (Alduchov &
    Eskridge) through the ideal gas law."""
    t = np.asarray(t_c, dtype=np.float64)
    p_sat = np.asarray(saturation_vapour_pressure(t), dtype=np.float64)
    return np.asarray(p_sat / (_R_VAPOUR * (t + 273.15)) * 1000.0)


def relative_humidity(vapour_g_m3: Floats, t_c: Floats) -> Floats:
    """Relative humidity (%) of air holding `vapour_g_m3` at `t_c`, capped at 100."""
    return np.asarray(np.clip(100.0 * vapour_g_m3 / saturation_vapour_density(t_c), 0.0, 100.0))


@dataclass(frozen=True, slots=True)
class _Ranges:
    ua_per_m3: tuple[float, float]  # fabric heat loss W/(K m³): the insulation class
    ach: tuple[float, float]  # background air changes per hour
    setpoint: tuple[float, float, float, float]  # per room, °C; 0 = radiator kept off
    heater_factor: float  # installed or afforded heat output relative to design
    extractor_p: float
    hood_p: float
    window_ach: float  # added when someone opens a window because the room is warm
    window_open_c: float
    worker_p: float  # share of homes empty on weekday working hours
    occupants: tuple[int, int]
    drying_p_winter: float  # chance a day's washing is dried indoors, October-April
    drying_p_summer: float
    drying_bedroom_p: float
    solar_factor: float
    party_fraction: tuple[float, float]  # share of fabric loss to heated neighbours
    evening_only_heating: bool


_RANGES: dict[Archetype, _Ranges] = {
    # Insulated, heated morning and evening (all day if someone is home), extractor fans.
    # Thermostats a degree above WHO/UKHSA's 18 °C minimum for rooms in use: a room set to the
    # minimum itself (18 ± 0.5, as before) sat below it half the time it was heated, so the
    # "well-run" bedroom averaged 17.3 °C in January, cold by the standard it was to meet.
    Archetype.WELL_RUN: _Ranges(
        ua_per_m3=(0.55, 0.9),
        ach=(0.5, 0.8),
        setpoint=(20.5, 19.0, 21.0, 19.0),
        heater_factor=1.2,
        extractor_p=0.9,
        hood_p=0.7,
        window_ach=3.0,
        window_open_c=22.5,
        worker_p=0.6,
        occupants=(1, 4),
        drying_p_winter=0.15,
        drying_p_summer=0.02,
        drying_bedroom_p=0.2,
        solar_factor=1.0,
        party_fraction=(0.2, 0.4),
        evening_only_heating=False,
    ),
    # Fuel poverty: heating on only 16:00-22:00, the living room to 17 °C and the other
    # radiators on their lowest setting; draughty and poorly insulated.
    Archetype.COLD: _Ranges(
        ua_per_m3=(1.0, 1.4),
        ach=(0.7, 1.0),
        setpoint=(17.0, 13.0, 13.0, 13.0),
        heater_factor=1.0,
        extractor_p=0.5,
        hood_p=0.3,
        window_ach=1.0,
        window_open_c=23.0,
        worker_p=0.2,
        occupants=(1, 2),
        drying_p_winter=0.4,
        drying_p_summer=0.1,
        drying_bedroom_p=0.3,
        solar_factor=1.0,
        party_fraction=(0.1, 0.3),
        evening_only_heating=True,
    ),
    # Trickle vents shut, no working extractor, washing dried indoors most days, the
    # bedroom radiator turned down to 15 °C, more people.
    Archetype.DAMP: _Ranges(
        ua_per_m3=(1.0, 1.4),
        ach=(0.3, 0.45),
        setpoint=(19.5, 15.0, 19.0, 18.0),
        heater_factor=1.0,
        extractor_p=0.1,
        hood_p=0.1,
        window_ach=2.0,
        window_open_c=23.0,
        worker_p=0.4,
        occupants=(2, 4),
        drying_p_winter=0.75,
        drying_p_summer=0.3,
        drying_bedroom_p=0.5,
        solar_factor=0.8,
        party_fraction=(0.2, 0.4),
        evening_only_heating=False,
    ),
    # A top-floor flat: roof and large glazing in the sun (twice the solar gain), warm
    # neighbours below, windows that open only a little.
    Archetype.OVERHEATING: _Ranges(
        ua_per_m3=(0.8, 1.1),
        ach=(0.4, 0.6),
        setpoint=(20.5, 19.0, 21.0, 19.0),
        heater_factor=1.2,
        extractor_p=0.8,
        hood_p=0.6,
        window_ach=1.5,
        window_open_c=25.0,
        worker_p=0.5,
        occupants=(1, 3),
        drying_p_winter=0.15,
        drying_p_summer=0.02,
        drying_bedroom_p=0.2,
        solar_factor=2.0,
        party_fraction=(0.5, 0.6),
        evening_only_heating=False,
    ),
}

_VOLUME_M3 = np.array([38.0, 28.0, 11.0, 22.0])
_SOLAR_M2 = np.array([1.2, 0.8, 0.2, 0.6])
# SAP's medium thermal mass parameter, 250 kJ/(m² K) of floor, over a 2.4 m ceiling height.
_HEAT_CAPACITY_J_PER_M3K = 100_000.0
_INTERNAL_G_W_PER_K = 25.0
_MIX_ACH = np.array([1.5, 1.0, 1.0, 1.5])
# The temperature factor of each home's coldest wall surface (a corner, a lintel), fRsi =
# (Tsi - Te) / (Ti - Te) = 1 - U Rsi with ISO 13788's Rsi = 0.25 m² K/W for mould: from
# about 0.9 for insulated walls (U near 0.4 W/m² K) down to about 0.55 for solid or unfilled
# cavity walls with thermal bridges (U near 1.8); BRE IP1/06: a sound dwelling meets 0.75.
# It follows the home's fabric heat loss (its insulation class) linearly between these.
_F_RSI_AT = ((0.55, 0.9), (1.4, 0.55))  # (fabric loss W/(K m³), fRsi) at either end


@dataclass(frozen=True, slots=True)
class Dwellings:
    """Fixed parameters of N homes; arrays are (homes,) or (homes, rooms) in ROOMS order."""

    archetype: Ints
    occupants: Ints
    worker: Bools
    telecare: Bools
    wake_h: Floats
    sleep_h: Floats
    volume: Floats
    ua: Floats
    capacity: Floats
    heater_w: Floats
    setpoint: Floats
    ach: Floats
    extractor: Bools
    hood: Bools
    window_ach: Floats
    window_open_c: Floats
    solar_m2: Floats
    party_fraction: Floats
    evening_only: Bools
    drying_p_winter: Floats
    drying_p_summer: Floats
    drying_bedroom_p: Floats
    f_rsi: Floats  # (homes,): the coldest wall surface's temperature factor (hidden)

    @property
    def homes(self) -> int:
        return int(self.archetype.size)

    def take(self, homes: Ints) -> Dwellings:
        """These homes (indices into this estate) alone, with the parameters they were drawn
        with in it."""
        return Dwellings(**{f.name: getattr(self, f.name)[homes] for f in fields(self)})


def draw_dwellings(homes: int, seed: int, mix: dict[Archetype, float] | None = None) -> Dwellings:
    """Draw `homes` dwellings deterministically from `seed` (same seed, same estate)."""
    shares = mix or ARCHETYPE_MIX
    rng = np.random.default_rng([seed, 0xD3E1])
    kinds = np.array(list(shares), dtype=np.int64)
    p = np.array([shares[Archetype(k)] for k in kinds], dtype=np.float64)
    archetype = rng.choice(kinds, size=homes, p=p / p.sum())
    ranges = [_RANGES[Archetype(int(a))] for a in archetype]

    def per_home(pick: str) -> Floats:
        return np.array([getattr(r, pick) for r in ranges], dtype=np.float64)

    def uniform(pick: str) -> Floats:
        bounds = np.array([getattr(r, pick) for r in ranges], dtype=np.float64)
        return rng.uniform(bounds[:, 0], bounds[:, 1])

    lo_hi = np.array([r.occupants for r in ranges])
    occupants = rng.integers(lo_hi[:, 0], lo_hi[:, 1] + 1)
    worker = rng.random(homes) < per_home("worker_p")
    telecare = rng.random(homes) < np.where((occupants == 1) & ~worker, 0.4, 0.05)
    size = rng.uniform(0.8, 1.25, (homes, 1))
    volume = _VOLUME_M3 * size
    ua_per_m3 = uniform("ua_per_m3")
    ua = ua_per_m3[:, None] * volume
    (loss_lo, f_hi), (loss_hi, f_lo) = _F_RSI_AT
    f_rsi = np.interp(ua_per_m3, [loss_lo, loss_hi], [f_hi, f_lo])
    ach = uniform("ach")[:, None] * rng.uniform(0.85, 1.15, (homes, 4))
    capacity = _HEAT_CAPACITY_J_PER_M3K * volume * rng.uniform(0.8, 1.3, (homes, 1))
    design_u = ua + _AIR_WH_PER_M3K * ach * volume
    # Radiators sized for 21 °C inside at -3 °C outside, with a margin.
    heater_w = design_u * 24.0 * per_home("heater_factor")[:, None]
    setpoint = np.array([r.setpoint for r in ranges]) + rng.normal(0, 0.5, (homes, 4))
    setpoint = np.where(np.array([r.setpoint for r in ranges]) > 0, setpoint, 0.0)
    return Dwellings(
        archetype=archetype,
        occupants=occupants,
        worker=worker,
        telecare=telecare,
        wake_h=rng.uniform(6.0, 8.5, homes),
        sleep_h=rng.uniform(22.0, 24.5, homes),
        volume=volume,
        ua=ua,
        capacity=capacity,
        heater_w=heater_w,
        setpoint=setpoint,
        ach=ach,
        extractor=rng.random(homes) < per_home("extractor_p"),
        hood=rng.random(homes) < per_home("hood_p"),
        window_ach=per_home("window_ach"),
        window_open_c=per_home("window_open_c") + rng.normal(0, 0.5, homes),
        solar_m2=_SOLAR_M2 * rng.uniform(0.7, 1.3, (homes, 4)) * per_home("solar_factor")[:, None],
        party_fraction=uniform("party_fraction"),
        evening_only=np.array([r.evening_only_heating for r in ranges]),
        drying_p_winter=per_home("drying_p_winter"),
        drying_p_summer=per_home("drying_p_summer"),
        drying_bedroom_p=per_home("drying_bedroom_p"),
        f_rsi=f_rsi,
    )


@dataclass(frozen=True, slots=True)
class Activities:
    """One local day's activities for every home, as epoch seconds (NaN: none that day)."""

    start: float
    wake: Floats
    sleep: Floats
    away_from: Floats
    away_to: Floats
    shower_from: Floats  # (homes, 4)
    shower_to: Floats
    cook_from: Floats  # (homes, 2): breakfast, evening meal
    cook_to: Floats
    cook_gh: Floats
    dry_from: Floats
    dry_to: Floats
    dry_gh: Floats
    dry_room: Ints

    def take(self, homes: Ints) -> Activities:
        """These homes' activities alone."""
        return Activities(
            self.start,
            **{f.name: getattr(self, f.name)[homes] for f in fields(self) if f.name != "start"},
        )


def _local_midnight(day: date) -> float:
    return datetime.combine(day, time(0), tzinfo=_LONDON).timestamp()


def _draw_day(d: Dwellings, seed: int, day: date, summer: bool) -> Activities:
    rng = np.random.default_rng([seed, 0xDA7, day.toordinal()])
    n = d.homes
    start = _local_midnight(day)
    weekend = day.weekday() >= 5
    wake = start + (d.wake_h + rng.normal(0, 0.3, n) + (1.0 if weekend else 0.0)) * _H
    sleep = start + (d.sleep_h + rng.normal(0, 0.3, n)) * _H
    away = d.worker & (not weekend)
    away_from = np.where(away, start + rng.uniform(7.8, 9.0, n) * _H, np.nan)
    away_to = np.where(away, start + rng.uniform(16.5, 18.5, n) * _H, np.nan)

    person = np.arange(4)[None, :]
    has_shower = (person < d.occupants[:, None]) & (rng.random((n, 4)) < 0.8)
    evening = rng.random((n, 4)) < 0.3
    morning_at = wake[:, None] + rng.uniform(0.1, 0.9, (n, 4)) * _H + person * 0.3 * _H
    evening_at = start + rng.uniform(19.0, 22.0, (n, 4)) * _H
    shower_from = np.where(has_shower, np.where(evening, evening_at, morning_at), np.nan)
    shower_to = shower_from + rng.uniform(6.0, 12.0, (n, 4)) * 60.0

    breakfast = wake + rng.uniform(0.2, 0.8, n) * _H
    supper = start + rng.uniform(17.0, 19.5, n) * _H
    cook_from = np.stack([breakfast, supper], axis=1)
    cook_to = cook_from + np.stack(
        [rng.uniform(5, 15, n) * 60.0, rng.uniform(25, 60, n) * 60.0], axis=1
    )
    cook_gh = np.stack([np.full(n, 600.0), 500.0 + 250.0 * d.occupants], axis=1)

    p_dry = d.drying_p_summer if summer else d.drying_p_winter
    drying = rng.random(n) < p_dry
    dry_from = np.where(drying, start + rng.uniform(9.0, 19.0, n) * _H, np.nan)
    dry_to = dry_from + rng.uniform(10.0, 16.0, n) * _H
    # One load per day: 0.6 kg of water per occupant plus 0.5 kg, released evenly.
    dry_gh = (0.5 + 0.6 * d.occupants) * 1000.0 / ((dry_to - dry_from) / _H)
    dry_room = np.where(rng.random(n) < d.drying_bedroom_p, BEDROOM, LIVING).astype(np.int64)
    return Activities(
        start, wake, sleep, away_from, away_to, shower_from, shower_to, cook_from, cook_to,
        cook_gh, dry_from, dry_to, np.nan_to_num(dry_gh), dry_room,
    )  # fmt: skip


def _overlap(t0: float, t1: float, start: Floats, end: Floats) -> Floats:
    """Fraction of the step [t0, t1) that each [start, end) covers (0 for NaN)."""
    covered = np.minimum(end, t1) - np.maximum(start, t0)
    return np.asarray(np.nan_to_num(np.clip(covered, 0.0, None)) / (t1 - t0))


def _within(t: float, start: Floats, end: Floats) -> Bools:
    return np.asarray((start <= t) & (t < end))  # NaN compares false: not within


@dataclass(frozen=True, slots=True)
class Conditions:
    """What the sensors of every home would read now; (homes, rooms) unless noted."""

    time: float
    temperature: Floats
    humidity: Floats
    co2: Floats
    awake_home: Bools  # (homes,): someone up and about at home during the last step
    asleep_home: Bools  # (homes,)


@dataclass(frozen=True, slots=True)
class _Step:
    """The outdoor conditions and the day's plans over one step."""

    t0: float
    t1: float
    t_out: float
    rh_out: float
    sun: float
    heating_season: bool
    today: Activities
    days: tuple[Activities, Activities]  # yesterday's (things that run past midnight), today's

    @property
    def dt(self) -> float:
        return self.t1 - self.t0

    @property
    def mid(self) -> float:
        return 0.5 * (self.t0 + self.t1)


@dataclass(frozen=True, slots=True)
class _Use:
    """How the homes are used over one step; (homes, rooms) or (homes,)."""

    awake: Floats  # people up and about, per room
    asleep: Floats  # people asleep, per room
    shower: Floats  # (homes,): shower-time in the step, in showers (two at once count 2)
    shower_on: Bools
    cook_frac: Floats  # (homes,): fraction of the step spent cooking
    cooking_gh: Floats  # (homes,): vapour from cooking, g/h
    drying_gh: Floats  # vapour from washing drying indoors, g/h per room
    heating: Bools  # per room: the heating is on and the room has a setpoint


class Simulation:
    """The state of N dwellings, advanced in steps of at most `max_step_s` (exact exponentials).

    Each room is one well-mixed air node with a lumped thermal mass: a first-order linear
    balance between heat (or vapour, or CO2) sources and conductances to outdoors, heated
    neighbours and the rest of the home. Over a step the sources are held constant (activities
    enter as the fraction of the step they cover), so the step can be as long as five minutes
    without losing a shower's water. Coupling between rooms uses the home's mean at the start of
    the step.

    `homes` (indices into `dwellings`) simulates those homes alone, each exactly as it is in a
    simulation of the whole estate (homes do not interact; each day's activities are drawn for
    the whole estate, then these homes' taken): a worker of bench/cases simulates its share.
    """

    def __init__(
        self,
        dwellings: Dwellings,
        weather: Weather,
        seed: int,
        start: float,
        *,
        max_step_s: float = 300.0,
        homes: Ints | None = None,
    ) -> None:
        self.estate = dwellings
        self.homes = None if homes is None else np.asarray(homes, dtype=np.int64)
        dwellings = dwellings if self.homes is None else dwellings.take(self.homes)
        self.d = dwellings
        self.weather = weather
        self.seed = seed
        self.time = float(start)
        self.max_step_s = max_step_s
        shape = dwellings.volume.shape
        self.temperature = np.full(shape, 18.0)
        self.vapour = 0.6 * saturation_vapour_density(self.temperature)
        self.co2 = np.full(shape, 600.0)
        self.pool_g = np.zeros(shape)
        self.awake_home = np.zeros(dwellings.homes, dtype=np.bool_)
        self.asleep_home = np.zeros(dwellings.homes, dtype=np.bool_)
        self._days: dict[date, Activities] = {}
        self._weights = dwellings.volume / dwellings.volume.sum(axis=1, keepdims=True)

    def activities(self, day: date) -> Activities:
        """What every home does on a local day (drawn from the seed and the date alone)."""
        cached = self._days.get(day)
        if cached is None:
            noon = _local_midnight(day) + 12 * _H
            summer = bool(self.weather.seasonal_mean(noon) > 12.0)
            cached = _draw_day(self.estate, self.seed, day, summer)
            if self.homes is not None:
                cached = cached.take(self.homes)
            self._days[day] = cached
            for old in [k for k in self._days if k < day - timedelta(days=2)]:
                del self._days[old]
        return cached

    def advance(self, until: float) -> Conditions:
        """Simulate up to `until` (epoch seconds) and return the conditions then."""
        while self.time < until - 1e-9:
            steps = math.ceil((until - self.time) / self.max_step_s - 1e-9)
            dt = (until - self.time) / steps
            self._step(self.time, self.time + dt)
            self.time += dt
        return Conditions(
            self.time,
            self.temperature.copy(),
            relative_humidity(self.vapour, self.temperature),
            self.co2.copy(),
            self.awake_home.copy(),
            self.asleep_home.copy(),
        )

    def surface(self) -> tuple[Floats, Floats]:
        """The hidden state no sensor reads: each room's coldest wall surface now, its
        temperature (°C) from the room's air, the outdoor air and the home's fRsi, and its
        relative humidity (%) from the room's own vapour; (homes, rooms) each. The ground
        truth for damp and mould (bench/cases).

        The air at the wall holds the room's vapour pressure (ISO 13788's surface method), not
        its vapour density: cooled at the wall, the same vapour is denser. Taking the density
        made a cold wall 1-2 % RH drier than it is (by T_si / T_air in kelvin), and rooms at
        80 % were ground truth at 78-79 %."""
        t_out = float(self.weather.temperature(self.time))
        t_si = t_out + self.d.f_rsi[:, None] * (self.temperature - t_out)
        rh_air = relative_humidity(self.vapour, self.temperature)
        return t_si, surface_humidity(self.temperature, rh_air, t_si)

    def _step(self, t0: float, t1: float) -> None:
        tm = 0.5 * (t0 + t1)
        today_date = datetime.fromtimestamp(tm, _LONDON).date()
        today = self.activities(today_date)
        yesterday = self.activities(today_date - timedelta(days=1))
        now = _Step(
            t0=t0,
            t1=t1,
            t_out=float(self.weather.temperature(tm)),
            rh_out=float(self.weather.relative_humidity(tm)),
            sun=float(self.weather.sun(tm)),
            heating_season=bool(
                self.weather.seasonal_mean(tm) + 0.5 * self.weather.anomaly(tm) < 13.5
            ),
            today=today,
            days=(yesterday, today),
        )
        use = self._use(now)
        ach, mix = self._ventilation(now, use)
        self._heat(now, use, ach, mix)
        self._vapour(now, use, ach, mix)
        self._co2(now, use, ach, mix)

    def _use(self, now: _Step) -> _Use:
        """Who is where, and what they are doing, over the step."""
        d, t0, t1, tm = self.d, now.t0, now.t1, now.mid
        today, yesterday = now.today, now.days[0]
        asleep = ((tm >= yesterday.sleep) & (tm < today.wake)) | (tm >= today.sleep)
        home = ~_within(tm, today.away_from, today.away_to)
        self.awake_home = home & ~asleep
        self.asleep_home = home & asleep

        shower = sum(
            (_overlap(t0, t1, day.shower_from, day.shower_to).sum(axis=1) for day in now.days),
            start=np.zeros(d.homes),
        )
        shower_on = np.zeros(d.homes, dtype=np.bool_)
        for day in now.days:
            shower_on |= _within(tm, day.shower_from, day.shower_to).any(axis=1)
        cooking = _overlap(t0, t1, today.cook_from, today.cook_to)
        cook_frac = cooking.sum(axis=1) * self.awake_home
        cooking_gh = (cooking * today.cook_gh).sum(axis=1) * self.awake_home
        drying_gh = np.zeros((d.homes, 4))
        for day in now.days:
            rate = _overlap(t0, t1, day.dry_from, day.dry_to) * day.dry_gh
            np.add.at(drying_gh, (np.arange(d.homes), day.dry_room), rate)

        # Asleep, up to two share the (modelled, main) bedroom; awake, people are in the living
        # room, one in the kitchen while cooking and one in the bathroom while showering.
        occ = d.occupants.astype(np.float64)
        awake = np.zeros((d.homes, 4))
        awake[:, KITCHEN] = np.where(self.awake_home & (cooking_gh > 0), 1.0, 0.0)
        awake[:, BATHROOM] = np.where(self.awake_home, np.minimum(shower, 1.0), 0.0)
        awake[:, LIVING] = np.where(
            self.awake_home, np.maximum(occ - awake[:, KITCHEN] - awake[:, BATHROOM], 0.0), 0.0
        )
        asleep_people = np.zeros((d.homes, 4))
        asleep_people[:, BEDROOM] = np.where(self.asleep_home, np.minimum(occ, 2.0), 0.0)

        hour = (tm - today.start) / _H
        scheduled = np.where(
            d.evening_only,
            (hour >= 16.0) & (hour < 22.0) & home,
            # On from half an hour before waking until half an hour before sleep, off while out
            # (back on half an hour before someone returns).
            (tm >= today.wake - 1800.0)
            & (tm < today.sleep - 1800.0)
            & ~_within(tm, today.away_from, today.away_to - 1800.0),
        )
        return _Use(
            awake=awake,
            asleep=asleep_people,
            shower=shower,
            shower_on=shower_on,
            cook_frac=cook_frac,
            cooking_gh=cooking_gh,
            drying_gh=drying_gh,
            heating=now.heating_season & scheduled[:, None] & (d.setpoint > 0),
        )

    def _ventilation(self, now: _Step, use: _Use) -> tuple[Floats, Floats]:
        """Air changes per hour to outdoors, and with the rest of the home, per room."""
        d = self.d
        # A bathroom extractor with a humidistat runs during a shower and until the room is
        # back below 70 %.
        bathroom_rh = relative_humidity(self.vapour[:, BATHROOM], self.temperature[:, BATHROOM])
        extract_on = use.shower_on | (bathroom_rh > 70.0)
        ach = d.ach.copy()
        ach[:, BATHROOM] += np.where(d.extractor & extract_on, 4.5, 0.0)
        ach[:, KITCHEN] += np.where(d.hood & (use.cooking_gh > 0), 4.0, 0.0)
        warm = (self.temperature > d.window_open_c[:, None]) & (self.temperature > now.t_out + 1.0)
        opens = warm & (self.awake_home | self.asleep_home)[:, None]
        ach += np.where(opens, d.window_ach[:, None], 0.0)
        # Exchange with the rest of the home through doorways: open-plan living room and
        # kitchen mix most; a bedroom door is shut at night and a bathroom's while in use.
        mix = np.tile(_MIX_ACH, (d.homes, 1))
        mix[:, BEDROOM] = np.where(self.asleep_home, 0.2, _MIX_ACH[BEDROOM])
        mix[:, BATHROOM] = np.where(use.shower_on, 0.2, _MIX_ACH[BATHROOM])
        return ach, mix

    def _heat(self, now: _Step, use: _Use, ach: Floats, mix: Floats) -> None:
        """Air temperature, °C: fabric, ventilation, the rest of the home, gains, heating."""
        d, v = self.d, self.d.volume
        mean_t = (self.temperature * self._weights).sum(axis=1, keepdims=True)
        neighbour = 19.0 + 0.5 * max(now.t_out - 12.0, 0.0)
        party = d.party_fraction[:, None]
        t_bound = party * neighbour + (1 - party) * now.t_out
        u_vent = _AIR_WH_PER_M3K * ach * v
        u_mix = _AIR_WH_PER_M3K * mix * v + _INTERNAL_G_W_PER_K
        u_all = d.ua + u_vent + u_mix
        t_env = (d.ua * t_bound + u_vent * now.t_out + u_mix * mean_t) / u_all
        gains = d.solar_m2 * now.sun + (use.asleep + use.awake) * 75.0
        gains[:, KITCHEN] += 60.0 + 1200.0 * use.cook_frac
        gains[:, LIVING] += np.where(self.awake_home, 80.0, 0.0)
        gains[:, BATHROOM] += 400.0 * use.shower
        decay = np.exp(-now.dt * u_all / d.capacity)
        t_free_eq = t_env + gains / u_all
        t_free = t_free_eq + (self.temperature - t_free_eq) * decay
        t_on_eq = t_free_eq + d.heater_w / u_all
        t_on = t_on_eq + (self.temperature - t_on_eq) * decay
        # A thermostat: the heater modulates between off and full output to hold the setpoint.
        self.temperature = np.where(
            use.heating, np.maximum(t_free, np.minimum(t_on, d.setpoint)), t_free
        )

    def _vapour(self, now: _Step, use: _Use, ach: Floats, mix: Floats) -> None:
        """Water vapour, g/m³: people, showers, cooking, washing, surface water, ventilation."""
        v, dt = self.d.volume, now.dt
        c_out = now.rh_out / 100.0 * float(saturation_vapour_density(now.t_out))
        mean_c = (self.vapour * self._weights).sum(axis=1, keepdims=True)
        source = use.awake * _VAPOUR_AWAKE + use.asleep * _VAPOUR_ASLEEP + use.drying_gh
        source[:, BATHROOM] += _VAPOUR_SHOWER * use.shower
        source[:, KITCHEN] += use.cooking_gh + np.where(self.awake_home, 40.0, 0.0)
        c_sat = saturation_vapour_density(self.temperature)
        # Surfaces dry at full pace when the air is at 70 % or below, not at all when saturated.
        drying_pace = np.clip((1.0 - self.vapour / c_sat) / 0.3, 0.0, 1.0)
        released = self.pool_g * (1 - np.exp(-dt / _POOL_TAU_S)) * drying_pace
        self.pool_g -= released
        source += released * (_H / dt)
        n_all = ach + mix
        c_env = (ach * c_out + mix * mean_c) / n_all
        c_eq = c_env + source / (v * n_all)
        self.vapour = c_eq + (self.vapour - c_eq) * np.exp(-dt * n_all / _H / _BUFFER)
        # What the air cannot hold condenses on the coldest surfaces, to evaporate later.
        excess = np.clip(self.vapour - c_sat, 0.0, None)
        self.pool_g += excess * v
        self.vapour -= excess

    def _co2(self, now: _Step, use: _Use, ach: Floats, mix: Floats) -> None:
        """CO2, ppm: one litre of CO2 in one m³ of air is 1,000 ppm."""
        v = self.d.volume
        co2_lh = use.asleep * _CO2_ASLEEP_LH + use.awake * _CO2_AWAKE_LH
        mean_co2 = (self.co2 * self._weights).sum(axis=1, keepdims=True)
        n_all = ach + mix
        co2_env = (ach * OUTDOOR_CO2_PPM + mix * mean_co2) / n_all
        co2_eq = co2_env + co2_lh * 1000.0 / (v * n_all)
        self.co2 = co2_eq + (self.co2 - co2_eq) * np.exp(-now.dt * n_all / _H)
