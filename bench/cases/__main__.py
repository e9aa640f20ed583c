"""Case accuracy: a simulated estate through a year of its own weather and the real rules.

    .venv/bin/python bench/cases [--homes 1000] [--days 365] [--step-min 30] [--seed 7]
                                 [--workers 2] [--walls record|unknown]
                                 [--archetypes well_run,...] [--only-homes 1,23,...]
                                 [--rules compiled|pure] [--cache DIR]

Homes of every archetype (`simulator/dwelling.py`: well run, cold, damp, overheating, in equal
shares) are simulated a step at a time (vectorised) and every room's readings go through the
rules engine's own room code (`alerts.rules.environment.on_readings`), with the estate's
outdoor temperature and humidity (as an outdoor sensor would report them), TM52's running
mean from it, occupancy from the simulator's presence in homes with a telecare motion sensor
(unknown elsewhere), and each home's thresholds through the per-home settings the rules engine
loads (`alerts/overrides.py`): with `--walls record` (the default) each home's `f_rsi` is its
wall class's (`walls`: poor, sound or insulated, fRsi 0.6, 0.75, 0.87), as a landlord's stock
record gives it, and with `--walls unknown` every home has the estate's 0.75. `--workers`
processes each simulate and judge their share of the homes (every `--workers`-th; each home
simulated exactly as in the whole estate, so the homes and findings are the same whatever the
number of workers). The findings drive a model of the alert store's case lifecycle (one case
per home, rule and room; a clear that returns within 72 h reopens the same case).

Ground truth comes from the simulator, never from the rules' thresholds:

- damp, per room, physical: the simulated room's coldest wall surface (its hidden state, which
  no sensor reads: `Simulation.surface`, from the room's air, the outdoor air and the home's
  own fRsi) has a monthly mean relative humidity of 80 % or more in some calendar month of the
  run, ISO 13788's criterion for mould growth (BS 5250 adopts it), judged on the months the run
  holds at least 15 days of (none in a shorter run); a home is damp when a room
  of it is. A second line, "damp, mould": the VTT mould index integrated on that hidden
  surface reaches 1 (growth begun) during the run; a third, "damp, archetype", the damp
  archetype (vents shut, no working extractor, washing dried indoors), as judged before;
- cold, per room, physical: the simulated room itself is below WHO/UKHSA's 18 °C for more
  than half the hours someone is up at home in December-February (the standard's own measure:
  a room in use, its temperature; the presence is the simulator's, which only telecare homes'
  motion sensors show the rules); a home is cold when a room of it is. A second line, "cold,
  thermostats", the cause the simulator drew: the room's heating does not hold it at 18 °C (a
  thermostat set below 18 °C, or no radiator), or the home heats only 16:00-22:00 (fuel
  poverty), as judged before: it counts a bathroom heated to 19 °C but below 16 °C for half
  of a January day in a poorly insulated home as not cold (docs/rules.md);
- overheating, per home: the overheating archetype (a top-floor flat, double solar gain).

The rules run compiled unless `--rules pure`: their room code compiled by mypyc from this
tree's own source (`rules_compiled.py`), built once per source into `--cache`; the same
findings as pure Python to the last figure, in less than half the CPU time. `--rules pure`
runs them as the services do.

A case an officer acts on is one that reached `significant` or worse (the severities that
start Awaab's Law's clocks, docs/alerts.md); a `watch` finding starts no clock and is counted
apart. It prints, per rule: precision and recall of acted-on cases (per room where the truth is
per room, and per home), the same for every case, the time from onset to case (below), cases
per 1,000 homes per month, state changes per case (opened, severity changed, cleared,
reopened), the most reopenings of one case in a calendar month, and damp cases opened, or
raised at significant or worse, in June-August in homes the simulator keeps dry: not of the
damp archetype and no room damp by its truth (below; the dry archetypes' homes, well run and
overheating, as counted before, on a line of their own).

Onset is when the truth began to hold in the simulated room, from its own state, never the
rules': damp, the end of the first 30 days (at least 15 from the run's start) whose mean hidden
surface RH reached 80 % (ISO 13788's month, running); damp, mould, the half hour the VTT index
on the hidden surface reached 1; cold (both lines), the end of the first 14 days (at least 7) in
which the room was below 18 °C for more than half the hours someone was up at home (the in-use
truth's test, running); overheating, the first night half hour (22:00-07:00 UK time, TM59's
night) in which the home's bedroom was above 26 °C. Damp and cold that stop for 60 days (a
summer) and hold again have a second onset. The time to case is the median, over the truth's
onsets, of the days from onset to the room's first case (any severity) and first acted-on one
(when the Awaab's Law clocks started) since 30 days (damp, mould), 14 (cold) or a day before it:
negative when the rules found it first (a month's mean is known only at its end). The table
gives the onsets during the run; a run from January also holds rooms damp or cold when the
sensors went in (their onset within the first judgement), printed apart.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from alerts.findings import Action, Finding, Severity
from alerts.mould import MouldState, mould_state_many
from alerts.occupancy import occupied
from alerts.outdoor import Outdoor, OutdoorTemperatures
from alerts.overheating import running_mean
from alerts.overrides import HomeOverrides, Overrides, ThresholdBook
from alerts.rules.environment import RoomState, on_readings
from alerts.thresholds import Thresholds
from hof.climate import wall_class
from hof.senml import Record
from simulator.dwelling import ROOMS, Archetype, Dwellings, Simulation, draw_dwellings
from simulator.weather import Weather

REOPEN_S = 72 * 3600
# WHO Housing and Health Guidelines (2018), UKHSA: at least 18 °C in rooms in use.
MIN_HEALTHY_C = 18.0
# ISO 13788: a surface whose monthly mean RH stays below 80 % grows no mould (BS 5250).
SURFACE_RH_LIMIT = 80.0
# A calendar month's mean is judged when the run holds at least this many days of it: a run
# of a year from 1 January ends on 1 January's midnight, whose one reading was a "month".
MIN_MONTH_DAYS = 15.0
# The VTT mould index at which growth has begun (Hukka & Viitanen 1999).
MOULD_BEGUN = 1.0
DAY_S = 86400.0
# Onset: ISO 13788's month, running, judged once at least this many days of it are simulated.
MONTH_DAYS = 30
# Onset of cold: the in-use truth's test (below 18 °C for more than half the hours someone is
# up at home) over a running fortnight, judged once half of it is simulated: one cool October
# day is not a cold room (the truth judges a whole winter).
FORTNIGHT_DAYS = 14
# CIBSE TM59: a bedroom above 26 °C at night (22:00-07:00) counts towards overheating.
TM59_BEDROOM_C = 26.0
_UK = ZoneInfo("Europe/London")
HOME_TRUTH = {
    "damp_mould, archetype": Archetype.DAMP,
    "overheating": Archetype.OVERHEATING,
}
Rooms = set[tuple[int, str]]
DRY = (Archetype.WELL_RUN, Archetype.OVERHEATING)
Key = tuple[int, str, str]  # home, rule, room


@dataclass
class Case:
    """The store's view of one (home, rule, room) case, kept by the bench."""

    opened_at: float
    open: bool = True
    cleared_at: float | None = None
    changes: list[tuple[str, float]] = field(default_factory=list)
    severity: str = ""
    worst: int = 0  # the highest severity rank it reached (the store keeps the worst)
    why: str = ""  # what it said when it first reached significant or worse
    # When it was raised at significant or worse (opened, reopened or its severity raised):
    # when the Awaab's Law clocks started, which may be months after it opened at watch.
    acted_at: list[float] = field(default_factory=list)
    # What each opening and reopening was raised by, in order: its signals (`raised_by`).
    opened_by: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def acted_on(self) -> bool:
        return self.worst >= Severity.SIGNIFICANT.rank


@dataclass(frozen=True, slots=True)
class Job:
    homes: int
    days: int
    step_s: float
    seed: int
    start: float
    worker: int
    workers: int
    walls: str = "record"  # "record": each home's wall class set (wall_class); or "unknown"
    kinds: tuple[int, ...] = ()  # only the homes of these archetypes (all when empty)
    # And these homes, whatever their archetype (alone when `kinds` is empty).
    also: tuple[int, ...] = ()


def thresholds_of(estate: Dwellings, homes: list[int], walls: str) -> list[Thresholds]:
    """Each home's thresholds, through the per-home settings the rules engine loads: the
    estate's own, with each home's wall class where the landlord's record is used."""
    th = Thresholds()
    if walls == "unknown":
        return [th for _ in homes]
    settings = {
        f"H{h}": HomeOverrides.model_validate({"walls": wall_class(float(estate.f_rsi[h]))})
        for h in homes
    }
    book = ThresholdBook(th, Overrides(homes=settings))
    return [book.for_home(f"H{h}") for h in homes]


def cold_truth(d: Dwellings, homes: set[int] | None = None) -> set[tuple[int, str]]:
    """Rooms the simulator does not keep at 18 °C while heated: a thermostat below it (or no
    radiator), or heating on only 16:00-22:00; of `homes` only, if given (those simulated)."""
    return {
        (h, room)
        for h in range(d.homes)
        if homes is None or h in homes
        for r, room in enumerate(ROOMS)
        if d.setpoint[h, r] < MIN_HEALTHY_C or bool(d.evening_only[h])
    }


# A truth that held, stopped for this long (a summer) and holds again has a second onset
# (a run from January holds its damp and cold rooms' truth from the start: the autumn's return
# is the onset a landlord would see begin).
AGAIN_S = 60 * DAY_S
AGAIN = {"damp": "damp_again", "cold": "cold_again"}
ONSET_KINDS = ("damp", "damp_again", "mould", "cold", "cold_again", "heat")


class OnsetClock:
    """When each room's truth first held, and held again after a season without (`AGAIN`),
    from the simulated rooms' own state (module docstring): epoch seconds per (home, room) and
    `ONSET_KINDS` key, NaN while it has not."""

    def __init__(self, homes: int, rooms: int) -> None:
        shape = (homes, rooms)
        self.onset = {key: np.full(shape, np.nan) for key in ONSET_KINDS}
        self._held = {key: np.full(shape, np.nan) for key in AGAIN}  # when it last held
        self._day = -1
        self._surface = np.zeros(shape)  # the day's sum of surface RH, and its readings
        self._readings = 0
        self._months: list[np.ndarray] = []  # the last MONTH_DAYS days' mean surface RH
        self._in_use = np.zeros(shape)  # the day's steps with someone up at home
        self._fortnight: list[tuple[np.ndarray, np.ndarray]] = []  # the last days' two
        self._below = np.zeros(shape)  # ... of which the room was below 18 °C
        self._bedroom = ROOMS.index("bedroom")

    def step(
        self,
        t: float,
        temperature: np.ndarray,
        awake: np.ndarray,
        rh_surface: np.ndarray,
        mould: np.ndarray,
    ) -> None:
        """One step of the simulation, ending at `t`: (homes, rooms) figures but `awake`,
        (homes,) whether someone was up at home."""
        day = int((t - 1) // DAY_S)  # a step ending at midnight belongs to the day it ends
        if day != self._day:
            if self._day >= 0:
                self._close_day((self._day + 1) * DAY_S)
            self._day = day
        self._surface += rh_surface
        self._readings += 1
        self._in_use += awake[:, None]
        self._below += awake[:, None] & (temperature < MIN_HEALTHY_C)
        self._first("mould", mould >= MOULD_BEGUN, t)
        if not 7 <= datetime.fromtimestamp(t - 1, _UK).hour < 22:
            hot = temperature[:, self._bedroom] > TM59_BEDROOM_C
            self._first("heat", np.repeat(hot[:, None], temperature.shape[1], axis=1), t)

    def finish(self) -> dict[str, np.ndarray]:
        """The onsets, the day in progress closed (a run ends at a midnight)."""
        if self._readings:
            self._close_day((self._day + 1) * DAY_S)
        return self.onset

    def _close_day(self, end: float) -> None:
        self._months = [*self._months[-(MONTH_DAYS - 1) :], self._surface / self._readings]
        if len(self._months) >= MIN_MONTH_DAYS:
            self._first("damp", np.mean(self._months, axis=0) >= SURFACE_RH_LIMIT, end)
        self._fortnight = [*self._fortnight[-(FORTNIGHT_DAYS - 1) :], (self._in_use, self._below)]
        if len(self._fortnight) >= FORTNIGHT_DAYS // 2:
            in_use = np.sum([day[0] for day in self._fortnight], axis=0)
            below = np.sum([day[1] for day in self._fortnight], axis=0)
            self._first("cold", (in_use > 0) & (below > 0.5 * in_use), end)
        self._surface = np.zeros_like(self._surface)
        self._readings = 0
        self._in_use = np.zeros_like(self._in_use)
        self._below = np.zeros_like(self._below)

    def _first(self, key: str, holds: np.ndarray, at: float) -> None:
        onset = self.onset[key]
        onset[np.isnan(onset) & holds] = at
        if key in AGAIN:
            # A season's return: the first time it holds after `AGAIN_S` of not holding.
            again, held = self.onset[AGAIN[key]], self._held[key]
            again[np.isnan(again) & holds & (at - held >= AGAIN_S)] = at
            held[holds] = at


@dataclass(frozen=True, slots=True)
class Delays:
    """Days from onset to case over the truth's rooms with an onset and a case: `first` to the
    room's first case (any severity), `acted` to its first acted-on one; `start_` of the rooms
    whose truth held when the run began (its onset the run's first judgement of it, and every
    case since the run's start answering it), else of those whose truth began during the run."""

    first: list[float] = field(default_factory=list)
    acted: list[float] = field(default_factory=list)
    start_first: list[float] = field(default_factory=list)
    start_acted: list[float] = field(default_factory=list)


# How long before onset a case still answers it (a month's mean is known only at its end: a
# case in that month found it), and how soon after the run's start an onset is the truth
# already holding when the sensors went in; by onset.
LOOKBACK_S = {
    "damp": MONTH_DAYS * DAY_S,
    "mould": MONTH_DAYS * DAY_S,
    "cold": FORTNIGHT_DAYS * DAY_S,
}
AT_START_S = {"damp": (MIN_MONTH_DAYS + 1) * DAY_S, "cold": (FORTNIGHT_DAYS // 2 + 1) * DAY_S}


def time_to_case(
    cases: dict[Key, list[Case]],
    name: str,
    truth: Rooms,
    onset: np.ndarray | None,
    kind: str,
    start: float,
    again: np.ndarray | None = None,
) -> Delays:
    """Days from each true room's onset (`onset`, epoch seconds by estate home and room, NaN:
    never; `kind` its key in `Truths.onset`), and from its return after a season without
    (`again`, the same), to its first case of rule `name` since `LOOKBACK_S` before it: a
    case opened in the spring does not answer an autumn's onset, and a case open at the
    lookback's start answers it then."""
    delays = Delays()
    if onset is None:
        return delays
    lookback = LOOKBACK_S.get(kind, DAY_S)
    onsets = [(h, room, float(onset[h, ROOMS.index(room)])) for h, room in sorted(truth)]
    if again is not None:
        onsets += [(h, room, float(again[h, ROOMS.index(room)])) for h, room in sorted(truth)]
    for h, room, began in onsets:
        found = cases.get((h, name, room), [])
        if math.isnan(began) or not found:
            continue
        at_start = began <= start + AT_START_S.get(kind, DAY_S)
        since = start if at_start else began - lookback
        opened, acted = _answers(found, since)
        into = (
            (delays.start_first, delays.start_acted) if at_start else (delays.first, delays.acted)
        )
        for times, out in ((opened, into[0]), (acted, into[1])):
            if times:
                out.append((min(times) - began) / DAY_S)
    return delays


def _answers(found: list[Case], since: float) -> tuple[list[float], list[float]]:
    """When a room's cases were opened or reopened, and acted on, from `since`: `since` itself
    for a case open (or open and acted on) then."""
    opened: list[float] = []
    acted: list[float] = []
    for c in found:
        state = False  # open at `since`
        for what, at in c.changes:
            if at > since:
                break
            state = what != "cleared"
        if state:
            opened.append(since)
            if any(at <= since for at in c.acted_at):
                acted.append(since)
        opened += [at for what, at in c.changes if at > since and what in ("opened", "reopened")]
        acted += [at for at in c.acted_at if at > since]
    return opened, acted


@dataclass(frozen=True, slots=True)
class Truths:
    """The truths a worker measures from the simulated rooms themselves (of its own homes;
    `merge_truths` joins the workers')."""

    homes: np.ndarray  # the estate's indices of the homes measured; the arrays' rows
    cold_in_use: Rooms
    damp_surface: Rooms  # a month's mean surface RH at or above 80 %
    damp_mould: Rooms  # the VTT index reached 1 on the hidden surface
    surface_rh: np.ndarray  # (homes, rooms): the highest monthly mean surface RH
    mould_max: np.ndarray  # (homes, rooms): the highest VTT index on the hidden surface
    months: tuple[str, ...] = ()  # the calendar months judged (MIN_MONTH_DAYS of each run)
    # When each room's truth first held, and held again (`OnsetClock`), by `ONSET_KINDS`.
    onset: dict[str, np.ndarray] = field(default_factory=dict)


def merge_truths(parts: list[Truths]) -> Truths:
    """The whole estate's truths from the workers' (each of its own homes)."""
    homes = np.sort(np.concatenate([p.homes for p in parts]))
    # Indexed by the estate's home: a run of some archetypes holds some of its homes.
    size = int(homes.max()) + 1 if homes.size else 0
    surface_rh = np.zeros((size, len(ROOMS)))
    mould_max = np.zeros((size, len(ROOMS)))
    onset = {key: np.full((size, len(ROOMS)), np.nan) for key in parts[0].onset}
    for p in parts:
        surface_rh[p.homes], mould_max[p.homes] = p.surface_rh, p.mould_max
        for key, when in p.onset.items():
            onset[key][p.homes] = when
    return Truths(
        homes,
        set().union(*(p.cold_in_use for p in parts)),
        set().union(*(p.damp_surface for p in parts)),
        set().union(*(p.damp_mould for p in parts)),
        surface_rh,
        mould_max,
        parts[0].months,
        onset,
    )


def share(homes: int, worker: int, workers: int, chosen: np.ndarray | None = None) -> np.ndarray:
    """The estate's homes one worker simulates and judges: every `workers`-th, so that each
    worker has about as many of every archetype (drawn at random, home by home); of the homes
    True in `chosen` (a mask by home: some archetypes'), if given."""
    every = np.arange(homes, dtype=np.int64)
    if chosen is not None:
        every = every[chosen]
    return every[worker::workers]


def simulate(job: Job) -> tuple[dict[Key, list[Case]], int, float, Truths]:
    """One worker: its share of the estate simulated and judged.

    The whole estate is drawn (cheap) and its share simulated alone, each home exactly as in
    a simulation of the whole estate (`Simulation(homes=...)`): the same homes and findings
    whatever the number of workers. Each worker simulated the whole estate before, a quarter
    of the run at 40 homes and twice the simulation needed on two workers."""
    mix = {kind: 1.0 for kind in Archetype}
    estate = draw_dwellings(job.homes, seed=job.seed, mix=mix)
    weather = Weather(job.seed)
    start = job.start
    chosen = np.isin(estate.archetype, job.kinds) if job.kinds else None
    if job.also:
        named = np.isin(np.arange(job.homes), job.also)
        chosen = named if chosen is None else chosen | named
    mine = share(job.homes, job.worker, job.workers, chosen)
    sim = Simulation(estate, weather, seed=job.seed, start=start - 8 * 86400, homes=mine)
    home_th = thresholds_of(estate, mine.tolist(), job.walls)
    outdoor = OutdoorTemperatures()
    # A week of outdoor history first, so TM52's running mean is known from day one.
    for k in range(8 * 24):
        t = start - 8 * 86400 + k * 3600
        outdoor.observe("estate", t, float(weather.temperature(t)))
    sim.advance(start)
    n = mine.size
    # Per home of the share (j): its estate index, its rooms' states, whether it has telecare.
    homes = mine.tolist()
    rooms = [[RoomState(f"H{h}", room) for room in ROOMS] for h in homes]
    telecare = sim.d.telecare.tolist()
    last_motion: dict[int, float] = {}
    cases: dict[Key, list[Case]] = defaultdict(list)
    trm_day: tuple[int, float | None] = (-1, None)
    steps = int(job.days * 86400 / job.step_s)
    began = time.perf_counter()
    calls = 0
    # The simulated rooms' own temperatures while someone is up at home, December-February.
    in_use = np.zeros((n, len(ROOMS)))
    below = np.zeros((n, len(ROOMS)))
    # The hidden wall surfaces: each calendar month's mean RH, and the VTT index on them.
    month_rh: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((n, len(ROOMS))))
    month_n: Counter[str] = Counter()
    mould = MouldState.zeros(n * len(ROOMS))
    mould_max = np.zeros(n * len(ROOMS))
    clock = OnsetClock(n, len(ROOMS))
    # The rules run room by room over a block of steps (a day), not step by step over every
    # room: a room's state stays in the processor's cache for its block. Step-major, each
    # room's state was fetched afresh at every step, and an evaluation cost twice as much at
    # 500 homes a worker as at 20. Rooms are independent and each sees its readings in order,
    # so the findings are the same.
    block = max(1, round(DAY_S / job.step_s))
    for k0 in range(1, steps + 1, block):
        ks = range(k0, min(k0 + block, steps + 1))
        times: list[tuple[float, int, Outdoor, float | None]] = []
        temperatures: list[list[list[float]]] = []
        humidities: list[list[list[float]]] = []
        occupancy: list[list[bool | None]] = []
        for k in ks:
            c = sim.advance(start + k * job.step_s)
            t = c.time
            t_si, rh_si = sim.surface()
            month = datetime.fromtimestamp(t, UTC).strftime("%Y-%m")
            month_rh[month] += rh_si
            month_n[month] += 1
            mould = mould_state_many(
                t_si.reshape(-1, 1), rh_si.reshape(-1, 1), job.step_s / 3600, state=mould
            )
            np.maximum(mould_max, mould.m, out=mould_max)
            clock.step(t, c.temperature, c.awake_home, rh_si, mould.m.reshape(n, len(ROOMS)))
            if datetime.fromtimestamp(t, UTC).month in (12, 1, 2):
                in_use += c.awake_home[:, None]
                below += c.awake_home[:, None] & (c.temperature < MIN_HEALTHY_C)
            t_out, rh_out = float(weather.temperature(t)), float(weather.relative_humidity(t))
            outdoor.observe("estate", t, t_out)
            day = int(t // 86400)
            if trm_day[0] != day:
                trm_day = (day, running_mean(outdoor.daily_means("estate", t, 7)))
            times.append((t, round(t * 1000), Outdoor(t_out, "estate sensor", rh_out), trm_day[1]))
            awake = c.awake_home.tolist()
            present = (c.awake_home | c.asleep_home).tolist()
            occ_now: list[bool | None] = []
            for j, h in enumerate(homes):
                occ: bool | None = None
                if telecare[j]:
                    if awake[j]:
                        last_motion[h] = t
                    occ = occupied(last_motion.get(h), t, home_th[j])
                    if occ is None and not present[j]:
                        occ = False
                occ_now.append(occ)
            occupancy.append(occ_now)
            temperatures.append(c.temperature.tolist())
            humidities.append(c.humidity.tolist())
        for j, h in enumerate(homes):
            th = home_th[j]
            for r, state in enumerate(rooms[j]):
                for i, (_, t_ms, here, trm) in enumerate(times):
                    records = [
                        Record(state.home, "env", "temperature", t_ms, temperatures[i][j][r]),
                        Record(state.home, "env", "humidity", t_ms, humidities[i][j][r]),
                    ]
                    for finding in on_readings(
                        state, records, th, here, trm=trm, occupied=occupancy[i][j]
                    ):
                        _lifecycle(cases[(h, finding.rule.name, state.room)], finding)
                # What the worker writes to InfluxDB and lets go of (alerts/service.py's
                # flush): kept, a year's mould steps were 8,760 a room, gigabytes a worker.
                state.mould_steps.clear()
                state.heat_counted = False
        calls += len(ks) * n * len(ROOMS)
        done = ks[-1]
        if done // max(1, steps // 20) > (ks[0] - 1) // max(1, steps // 20):
            print(
                f"  worker {job.worker}: {done / steps:4.0%} simulated to "
                f"{datetime.fromtimestamp(times[-1][0], UTC):%Y-%m-%d}, {calls:,} room "
                f"evaluations in {time.perf_counter() - began:.0f} s",
                flush=True,
            )
    cold_in_use = {
        (h, room)
        for j, h in enumerate(homes)
        for r, room in enumerate(ROOMS)
        if in_use[j, r] and below[j, r] > 0.5 * in_use[j, r]
    }
    months = tuple(m for m in sorted(month_n) if month_n[m] * job.step_s >= MIN_MONTH_DAYS * 86400)
    surface_rh = (
        np.max([month_rh[m] / month_n[m] for m in months], axis=0)
        if months
        else np.zeros((n, len(ROOMS)))
    )
    m_max = mould_max.reshape(n, len(ROOMS))
    cells = [(j, h, r, room) for j, h in enumerate(homes) for r, room in enumerate(ROOMS)]
    truths = Truths(
        mine,
        cold_in_use,
        {(h, room) for j, h, r, room in cells if surface_rh[j, r] >= SURFACE_RH_LIMIT},
        {(h, room) for j, h, r, room in cells if m_max[j, r] >= MOULD_BEGUN},
        surface_rh,
        m_max,
        months,
        clock.finish(),
    )
    return dict(cases), calls, time.process_time(), truths


def run(
    homes: int,
    days: int,
    step_s: float,
    seed: int,
    start: float,
    workers: int,
    explain: int,
    walls: str = "record",
    kinds: tuple[int, ...] = (),
    also: tuple[int, ...] = (),
) -> None:
    jobs = [
        Job(homes, days, step_s, seed, start, i, workers, walls, kinds, also)
        for i in range(workers)
    ]
    began = time.perf_counter()
    cases: dict[Key, list[Case]] = {}
    calls = 0
    if workers == 1:
        parts = [simulate(jobs[0])]
    else:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(simulate, jobs))
    cpu = 0.0
    truths = merge_truths([part[3] for part in parts])
    for part, n, used, _ in parts:
        cases.update(part)
        calls += n
        cpu += used
    took = time.perf_counter() - began
    dwellings = draw_dwellings(homes, seed=seed, mix={kind: 1.0 for kind in Archetype})
    _report(homes, days, step_s, dwellings, cases, start, took, calls, truths)
    _explain(cases, dwellings, truths, explain)
    print(
        f"CPU: {cpu:.0f} s in {workers} worker(s), {calls / cpu:,.0f} room evaluations a "
        f"CPU-second with each worker's simulation of its share; a year of 1,000 homes at "
        f"30 min is {1000 * 4 * 365 * 48 / (calls / cpu) / 3600:,.1f} CPU-hours at that rate"
    )


def _lifecycle(history: list[Case], finding: Finding) -> None:
    action, at, severity = finding.action, finding.at, finding.severity
    current = history[-1] if history else None
    if action is Action.RAISE:
        if current is not None and current.open:
            current.changes.append(("severity changed", at))
        elif (
            current is not None
            and current.cleared_at is not None
            and at - current.cleared_at <= REOPEN_S
        ):
            current.open, current.cleared_at = True, None
            current.changes.append(("reopened", at))
            current.opened_by.append(_raised_by(finding))
        else:
            current = Case(at, changes=[("opened", at)], opened_by=[_raised_by(finding)])
            history.append(current)
        current.severity = severity.value
        if severity.rank >= Severity.SIGNIFICANT.rank:
            if not current.acted_on:
                when = datetime.fromtimestamp(at, UTC)
                current.why = f"{when:%Y-%m-%d %H:%M} {severity.value}: {finding.summary}"
            current.acted_at.append(at)
        current.worst = max(current.worst, severity.rank)
    elif action is Action.CLEAR and current is not None and current.open:
        current.open, current.cleared_at = False, at
        current.changes.append(("cleared", at))


def _raised_by(finding: Finding) -> tuple[str, ...]:
    said = finding.evidence.get("raised_by")
    return tuple(map(str, said)) if isinstance(said, list) else ()


_SUMMER = (6, 7, 8)


def _month(at: float) -> str:
    return f"{datetime.fromtimestamp(at, UTC):%Y-%m}"


def _in_summer(at: float) -> bool:
    return datetime.fromtimestamp(at, UTC).month in _SUMMER


def kept_dry(kinds: list[Archetype], truths: Truths) -> set[int]:
    """The homes the simulator keeps dry: not of the damp archetype, and no room of them damp
    by its physical truth (a month's mean hidden wall RH of 80 % or more, or the VTT index on
    the hidden wall reaching 1). A home of a dry archetype whose bathroom wall grows mould is
    not kept dry: home 676's (well run by archetype, overheating) reached a hidden index of 2.3
    by April and 4.9 by August on `548254b`, and its severe case in August was a true one."""
    wet = {h for h, _ in truths.damp_surface | truths.damp_mould}
    return {h for h in truths.homes.tolist() if kinds[h] is not Archetype.DAMP and h not in wet}


def summer_damp(cases: dict[Key, list[Case]], homes: set[int]) -> Counter[str]:
    """Damp cases in June-August in `homes` (those the simulator keeps dry, `kept_dry`):

    - each opening or reopening in June-August, counted "acted-on" (the case reached
      significant at some time) or "watch", and once more by what raised it ("by humidity",
      "by condensation+mould");
    - each case so opened once more by when it was acted on, "acted-on in summer" (raised at
      significant or worse in June-August: the clocks started then) or "acted-on outside
      summer" (at watch all summer, raised before or after it: in the autumn, say);
    - "raised in summer": each case raised at significant or worse in June-August, whenever
      it was opened, and "raised in summer, opened before": those opened before June. Counted
      by openings alone, a severe raise in August inside a watch case open since March was not
      counted (home 676, `f67d026` and `548254b`)."""
    summer: Counter[str] = Counter()
    for (h, name, _), found in cases.items():
        if name != "damp_mould" or h not in homes:
            continue
        for c in found:
            openings = [at for what, at in c.changes if what in ("opened", "reopened")]
            opened_in_summer = any(map(_in_summer, openings))
            if any(map(_in_summer, c.acted_at)):
                summer["raised in summer"] += 1
                if not opened_in_summer:
                    summer["raised in summer, opened before"] += 1
            if not opened_in_summer:
                continue
            summer["acted-on" if c.acted_on else "watch"] += sum(map(_in_summer, openings))
            for at, by in zip(openings, c.opened_by, strict=True):
                if _in_summer(at):
                    summer[f"by {'+'.join(by) or 'nothing named'}"] += 1
            if c.acted_on:
                when = "in summer" if any(map(_in_summer, c.acted_at)) else "outside summer"
                summer[f"acted-on {when}"] += 1
    return summer


def _summer_line(summer: Counter[str]) -> str:
    return (
        f"{summer['acted-on']} acted-on, {summer['watch']} watch; of the acted-on, "
        f"{summer['acted-on in summer']} raised at significant or worse in June-August and "
        f"{summer['acted-on outside summer']} only outside it (at watch all summer); "
        "opened by: "
        + (
            ", ".join(f"{k[3:]} {n}" for k, n in sorted(summer.items()) if k.startswith("by "))
            or "-"
        )
        + f"; cases raised at significant or worse in June-August: {summer['raised in summer']} "
        f"({summer['raised in summer, opened before']} in a case opened before June)"
    )


# Each truth's onset (`OnsetClock`), in the order the table prints the rules.
ONSET = {
    "damp_mould": "damp",
    "damp_mould, mould": "mould",
    "damp_mould, archetype": "damp",
    "excess_cold": "cold",
    "excess_cold, thermostats": "cold",
    "overheating": "heat",
}


def _label(rule: str) -> str:
    """A table row's name: "cold, thermostats" for "excess_cold, thermostats"."""
    return rule.replace("excess_cold, ", "cold, ").replace("damp_mould, ", "damp, ")


# The table's first column, as wide as its longest row name.
_LABEL_W = max(len(_label(rule)) for rule in ONSET)


def _median(days: list[float]) -> float:
    return statistics.median(days) if days else float("nan")


def _spread(days: list[float]) -> str:
    if not days:
        return "no room"
    p90 = float(np.percentile(days, 90))
    early = sum(d <= 0 for d in days) / len(days)
    return f"{_median(days):6.1f} {p90:6.1f} {early:4.0%} of {len(days):,}"


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def _report(
    homes: int,
    days: int,
    step_s: float,
    d: Dwellings,
    cases: dict[Key, list[Case]],
    start: float,
    took: float,
    calls: int,
    truths: Truths,
) -> None:
    kinds = [Archetype(int(a)) for a in d.archetype]
    months = days / 30.44
    judged = set(truths.homes.tolist())  # the homes simulated: all, or some archetypes'
    print()
    print(
        f"{len(judged)} homes ({dict(Counter(kinds[h].label for h in judged))}) of an estate of "
        f"{homes}, {days} days from "
        f"{datetime.fromtimestamp(start, UTC):%Y-%m-%d}, readings every {step_s / 60:.0f} min; "
        f"{calls:,} room evaluations in {took:.0f} s ({calls / took:,.0f}/s)"
    )
    cold_rooms = cold_truth(d, judged)
    cold_in_use = truths.cold_in_use
    truth_rooms: dict[str, Rooms] = {
        "damp_mould": truths.damp_surface,
        "damp_mould, mould": truths.damp_mould,
        "excess_cold": cold_in_use,
        "excess_cold, thermostats": cold_rooms,
    }
    truth_homes = {rule: {h for h, _ in rooms} for rule, rooms in truth_rooms.items()}
    for rule, kind in HOME_TRUTH.items():
        truth_homes[rule] = {h for h, k in enumerate(kinds) if k is kind and h in judged}
        truth_rooms[rule] = {(h, room) for h in truth_homes[rule] for room in ROOMS}
    print(
        "truth: cold rooms (below 18 °C for more than half the hours someone is up at home in "
        f"December-February; none if the run has no such month) {len(cold_in_use)} in "
        f"{len(truth_homes['excess_cold'])} homes; damp rooms (a month's "
        f"mean surface RH >= 80 %) {len(truths.damp_surface)} in "
        f"{len(truth_homes['damp_mould'])} homes; mould index >= 1 on the surface "
        f"{len(truths.damp_mould)} rooms in {len(truth_homes['damp_mould, mould'])} homes; "
        f"damp-archetype homes {len(truth_homes['damp_mould, archetype'])}; overheating "
        f"homes {len(truth_homes['overheating'])}"
    )
    print(
        "truth 'thermostats': rooms whose heating does not hold 18 °C (setpoint below 18 °C or "
        f"evening-only heating): {len(cold_rooms)} in "
        f"{len(truth_homes['excess_cold, thermostats'])} homes"
    )
    print()
    print(
        "acted-on cases (significant or worse: Awaab clocks); in brackets, every case (watch too)"
    )
    print(
        f"{'rule':<{_LABEL_W}} {'room P':>12} {'room R':>12} {'home P':>12} {'home R':>12} "
        f"{'onset->case d':>13} {'cases/1k/mo':>11} {'changes':>7} {'max reopen/mo':>13}"
    )
    delays: dict[str, Delays] = {}
    for rule in ONSET:
        name = rule.split(",")[0]
        mine = {key: found for key, found in cases.items() if key[1] == name and found}
        cells = []
        for acted in (True, False):
            rooms = {
                (h, room)
                for (h, _, room), found in mine.items()
                if any(c.acted_on or not acted for c in found)
            }
            flagged_homes = {h for h, _ in rooms}
            cells.append(
                (
                    _ratio(len(rooms & truth_rooms[rule]), len(rooms)),
                    _ratio(len(rooms & truth_rooms[rule]), len(truth_rooms[rule])),
                    _ratio(len(flagged_homes & truth_homes[rule]), len(flagged_homes)),
                    _ratio(len(flagged_homes & truth_homes[rule]), len(truth_homes[rule])),
                )
            )
        onset_kind = ONSET[rule]
        delays[rule] = time_to_case(
            cases,
            name,
            truth_rooms[rule],
            truths.onset.get(onset_kind),
            onset_kind,
            start,
            truths.onset.get(AGAIN.get(onset_kind, "")),
        )
        onset_cell = f"{_median(delays[rule].acted):.1f} ({_median(delays[rule].first):.1f})"
        all_cases = [c for found in mine.values() for c in found]
        per_k_month = len(all_cases) / (len(judged) / 1000) / months
        changes = statistics.mean(len(c.changes) for c in all_cases) if all_cases else 0.0
        reopen_month = Counter(
            (id(c), _month(at)) for c in all_cases for what, at in c.changes if what == "reopened"
        )
        worst = max(reopen_month.values(), default=0)
        shown = [f"{a:.2f} ({b:.2f})" for a, b in zip(cells[0], cells[1], strict=True)]
        print(
            f"{_label(rule):<{_LABEL_W}} "
            f"{shown[0]:>12} {shown[1]:>12} {shown[2]:>12} {shown[3]:>12} "
            f"{onset_cell:>13} {per_k_month:>11.1f} {changes:>7.2f} {worst:>13}"
        )
    print()
    print(
        "onset to case, days, of the truth's rooms with an onset and a case (negative: found "
        "before the truth held): acted-on median, 90th percentile, share found by onset, "
        "rooms | every case the same; first of the truth that began during the run (the table's "
        "figure), then of the truth that held when the run began (its onset the run's first "
        "judgement of it: 15 days for damp's month, 7 for cold's fortnight)"
    )
    width = max(map(len, delays))
    for rule, got in delays.items():
        print(f"  {rule:<{width}} during: {_spread(got.acted)} | {_spread(got.first)}")
        print(f"  {'':<{width}} at start: {_spread(got.start_acted)} | {_spread(got.start_first)}")
    dry = kept_dry(kinds, truths)
    dry_kinds = Counter(kinds[h].label for h in dry)
    print()
    print(
        f"damp cases opened or reopened in June-August in the {len(dry):,} homes the simulator "
        f"keeps dry ({dict(dry_kinds)}: not the damp archetype, no room damp by its truth): "
        + _summer_line(summer_damp(cases, dry))
    )
    of_kind = {h for h in truths.homes.tolist() if kinds[h] in DRY}
    print(
        f"  the same in the {len(of_kind):,} homes of the dry archetypes (well run, overheating; "
        f"as counted up to `c9e69be`, some of them damp by the truth): "
        + _summer_line(summer_damp(cases, of_kind))
    )
    per_room = Counter(
        (name, room, "acted-on" if c.acted_on else "watch")
        for (_, name, room), found in cases.items()
        for c in found
    )
    print("cases by rule, room and level:", dict(sorted(per_room.items())))
    by_kind = Counter(
        (name, kinds[h].label) for (h, name, _), found in cases.items() for c in found if c.acted_on
    )
    print("acted-on cases by rule and archetype:", dict(sorted(by_kind.items())))
    wrong = sorted(
        (
            name,
            kinds[h].label,
            h,
            room,
            round(float(d.setpoint[h, ROOMS.index(room)]), 1),
            round(float(d.f_rsi[h]), 2),
        )
        for (h, name, room), found in cases.items()
        if name in ("damp_mould", "excess_cold")
        and any(c.acted_on for c in found)
        and (h, room) not in truth_rooms[name]
    )
    print("acted-on cases against the truth (rule, archetype, home, room, setpoint, fRsi):", wrong)


def _explain(cases: dict[Key, list[Case]], d: Dwellings, truths: Truths, most: int) -> None:
    """What the first acted-on damp and cold cases against the truth said, a few of each
    archetype, beside the hidden surface's figures or the home's heating and occupancy: why
    each kind is raised; then the truth's rooms each rule never acted on."""
    shown: Counter[tuple[str, str]] = Counter()
    cold = truths.cold_in_use
    for (h, name, room), found in sorted(cases.items()):
        if (name == "damp_mould" and (h, room) in truths.damp_surface) or (
            name == "excess_cold" and (h, room) in cold
        ):
            continue
        if name not in ("damp_mould", "excess_cold"):
            continue
        kind = Archetype(int(d.archetype[h])).label
        for c in found:
            if c.acted_on and shown[(name, kind)] < most:
                shown[(name, kind)] += 1
                print(f"  {name} {kind} home {h} {room} ({_about(d, truths, h, room)}): {c.why}")
    _explain_flapping(cases, d, most)
    _explain_summer(cases, d, truths, most)
    for name, truth in (("damp_mould", truths.damp_surface), ("excess_cold", cold)):
        missed = sorted(
            (h, room)
            for h, room in truth
            if not any(c.acted_on for c in cases.get((h, name, room), []))
        )
        print(f"  {name}: the truth's rooms never acted on: {len(missed)}")
        for h, room in missed[: most * 4]:
            kind = Archetype(int(d.archetype[h])).label
            every = cases.get((h, name, room), [])
            said = every[0].why or f"watch only, {len(every)} case(s)" if every else "no case"
            print(f"    {kind} home {h} {room} ({_about(d, truths, h, room)}): {said}")


REOPEN_GOAL = 3  # the goal: no case reopened more than 3 times in a calendar month


def _explain_flapping(cases: dict[Key, list[Case]], d: Dwellings, most: int) -> None:
    """Each case reopened more than `REOPEN_GOAL` times in a calendar month: its home, room,
    month and that month's changes, hour by hour (what makes it clear and come back)."""
    worst = []
    for (h, name, room), found in sorted(cases.items()):
        for c in found:
            months = Counter(_month(at) for what, at in c.changes if what == "reopened")
            for month, n in months.items():
                if n > REOPEN_GOAL:
                    worst.append((n, h, name, room, month, c))
    worst.sort(key=lambda row: (-row[0], row[1]))
    print(f"  cases reopened more than {REOPEN_GOAL} times in a month: {len(worst)}")
    for n, h, name, room, month, c in worst[: most * 4]:
        kind = Archetype(int(d.archetype[h])).label
        changes = ", ".join(
            f"{what} {datetime.fromtimestamp(at, UTC):%d %H:%M}"
            for what, at in c.changes
            if _month(at) == month
        )
        print(f"    {name} {kind} home {h} {room}, {month}: {n} reopenings ({changes})")


def _explain_summer(cases: dict[Key, list[Case]], d: Dwellings, truths: Truths, most: int) -> None:
    """The damp cases opened, or raised at significant or worse, in June-August in homes the
    simulator keeps dry (`kept_dry`): the acted-on with what each said when it was acted on,
    and the watch openings with what raised them and the room's hidden wall (the goal is
    none of either; listed, a run names the rooms to look at without a second run)."""
    shown = 0
    dry = kept_dry([Archetype(int(a)) for a in d.archetype], truths)
    for (h, name, room), found in sorted(cases.items()):
        if name != "damp_mould" or h not in dry:
            continue
        kind = Archetype(int(d.archetype[h]))
        for c in found:
            opened = [at for what, at in c.changes if what in ("opened", "reopened")]
            summer = [at for at in opened + c.acted_at if _in_summer(at)]
            if not summer or shown >= most * 4:
                continue
            shown += 1
            if c.acted_on:
                first = datetime.fromtimestamp(min(opened), UTC)
                print(
                    f"    summer damp, {kind.label} home {h} {room}, opened {first:%m-%d}: {c.why}"
                )
                continue
            when = ", ".join(
                f"{datetime.fromtimestamp(at, UTC):%m-%d %H:%M} by {'+'.join(by) or '-'}"
                for at, by in zip(opened, c.opened_by, strict=True)
                if _in_summer(at)
            )
            about = _about(d, truths, h, room)
            print(
                f"    summer damp at watch, {kind.label} home {h} {room} ({about}): opened {when}"
            )


def _about(d: Dwellings, truths: Truths, h: int, room: str) -> str:
    r = ROOMS.index(room)
    return (
        f"fRsi {d.f_rsi[h]:.2f}, setpoint {d.setpoint[h, r]:.1f} °C"
        f"{', evening-only heating' if d.evening_only[h] else ''}"
        f"{', empty on weekdays' if d.worker[h] else ''}; hidden surface: highest monthly mean "
        f"RH {truths.surface_rh[h, r]:.0f} %, mould index {truths.mould_max[h, r]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homes", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--step-min", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--start", default="2026-01-01T00:00:00+00:00")
    parser.add_argument(
        "--rules",
        choices=("compiled", "pure"),
        default="compiled",
        help="compiled: the rules' room code compiled by mypyc from this tree's source, built "
        "once into --cache (a year of 1,000 homes in about 38 minutes on two cores; the same "
        "findings); pure: as the services run it, pure Python (about 84 minutes)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="where compiled builds are kept (default: $XDG_CACHE_HOME or ~/.cache, "
        "house-of-the-future/bench-cases)",
    )
    parser.add_argument(
        "--explain",
        type=int,
        default=0,
        help="print what this many acted-on damp and cold cases against the truth said, per "
        "archetype, and the truth's rooms never acted on",
    )
    parser.add_argument(
        "--walls",
        choices=("record", "unknown"),
        default="record",
        help="record: each home's walls set to its wall class (poor, sound, insulated), as a "
        "landlord's stock record gives it; unknown: the estate's fRsi 0.75 for every home",
    )
    parser.add_argument(
        "--archetypes",
        default="",
        help="simulate and judge only the homes of these archetypes, comma-separated (e.g. "
        "well_run,overheating: the dry homes), each exactly as in the whole estate; all "
        "when empty",
    )
    parser.add_argument(
        "--only-homes",
        default="",
        help="simulate and judge these homes of the estate too, by number, comma-separated "
        "(e.g. the cold homes its truth keeps dry, with --archetypes well_run,overheating); "
        "alone without --archetypes",
    )
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start).timestamp()
    labels = {kind.label: kind for kind in Archetype}
    wanted = [name.strip() for name in args.archetypes.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in labels]
    if unknown:
        parser.error(f"unknown archetype(s) {', '.join(unknown)}; known: {', '.join(labels)}")
    try:
        also = tuple(sorted({int(h) for h in args.only_homes.split(",") if h.strip()}))
    except ValueError:
        parser.error(f"--only-homes takes home numbers, comma-separated: {args.only_homes!r}")
    if any(not 0 <= h < args.homes for h in also):
        parser.error(f"--only-homes: a home number is from 0 to {args.homes - 1}")
    np.seterr(all="ignore")
    if args.rules == "compiled":
        # bench/cases/ is this script's directory, first on its path.
        import rules_compiled

        try:
            if os.environ.get(rules_compiled.ENV):
                print(rules_compiled.check_in_use(), flush=True)
            else:
                cache = args.cache or rules_compiled.default_cache()
                built = rules_compiled.build(Path(__file__).resolve().parents[2], cache)
                rules_compiled.run_with(built, sys.argv)
        except rules_compiled.BuildError as e:
            parser.exit(2, f"bench/cases: {e}\n")
    else:
        print("rules: pure Python, as the services run them", flush=True)
    print(f"walls: {args.walls}", flush=True)
    run(
        args.homes,
        args.days,
        args.step_min * 60,
        args.seed,
        start,
        args.workers,
        args.explain,
        args.walls,
        tuple(int(labels[name]) for name in wanted),
        also,
    )


if __name__ == "__main__":
    main()
