"""Case accuracy: a simulated estate through a year of its own weather and the real rules.

    .venv/bin/python bench/cases [--homes 1000] [--days 365] [--step-min 30] [--seed 7]

Homes of every archetype (`simulator/dwelling.py`: well run, cold, damp, overheating, in equal
shares) are simulated a step at a time (vectorised) and every room's readings go through the
rules engine's own room code (`alerts.rules.environment.on_readings`), in this process, with
the estate's outdoor temperature (as an outdoor sensor would report it), TM52's running mean
from it, and occupancy from the simulator's presence in homes with a telecare motion sensor
(unknown elsewhere). The findings drive a model of the alert store's case lifecycle (one case
per home, rule and room; a clear that returns within 72 h reopens the same case).

Against the simulator's ground truth per home (its archetype: a damp home should have a damp
case, a cold home a cold case, an overheating home an overheating case, a well-run home none)
it prints, per rule: precision and recall (home level), time from the run's start to a true
home's first case, cases per 1,000 homes per month, state changes per case (opened, severity
changed, cleared, reopened), the most reopenings of one case in a month, and damp cases opened
in June-August in homes the simulator keeps dry (well run and overheating).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from alerts.findings import Action
from alerts.occupancy import occupied
from alerts.outdoor import Outdoor, OutdoorTemperatures
from alerts.overheating import running_mean
from alerts.rules.environment import RoomState, on_readings
from alerts.thresholds import Thresholds
from hof.senml import Record
from simulator.dwelling import ROOMS, Archetype, Simulation, draw_dwellings
from simulator.weather import Weather

REOPEN_S = 72 * 3600
TRUTH = {
    "damp_mould": Archetype.DAMP,
    "excess_cold": Archetype.COLD,
    "overheating": Archetype.OVERHEATING,
}
DRY = (Archetype.WELL_RUN, Archetype.OVERHEATING)


@dataclass
class Case:
    """The store's view of one (home, rule, room) case, kept by the bench."""

    opened_at: float
    open: bool = True
    cleared_at: float | None = None
    changes: list[tuple[str, float]] = field(default_factory=list)
    severity: str = ""


def run(homes: int, days: int, step_s: float, seed: int, start: float) -> None:
    mix = {kind: 1.0 for kind in Archetype}
    dwellings = draw_dwellings(homes, seed=seed, mix=mix)
    weather = Weather(seed)
    sim = Simulation(dwellings, weather, seed=seed, start=start - 8 * 86400)
    th = Thresholds()
    outdoor = OutdoorTemperatures()
    # A week of outdoor history first, so TM52's running mean is known from day one.
    for k in range(8 * 24):
        t = start - 8 * 86400 + k * 3600
        outdoor.observe("estate", t, float(weather.temperature(t)))
    sim.advance(start)
    kinds = [Archetype(int(a)) for a in dwellings.archetype]
    states = {
        (h, r): RoomState(f"H{h}", room) for h in range(homes) for r, room in enumerate(ROOMS)
    }
    last_motion: dict[int, float] = {}
    cases: dict[tuple[int, str, str], list[Case]] = defaultdict(list)
    trm_day: tuple[int, float | None] = (-1, None)
    steps = int(days * 86400 / step_s)
    began = time.perf_counter()
    calls = 0
    for k in range(1, steps + 1):
        c = sim.advance(start + k * step_s)
        t = c.time
        t_ms = round(t * 1000)
        t_out = float(weather.temperature(t))
        outdoor.observe("estate", t, t_out)
        here = Outdoor(t_out, "estate sensor")
        day = int(t // 86400)
        if trm_day[0] != day:
            trm_day = (day, running_mean(outdoor.daily_means("estate", t, 7)))
        present = c.awake_home | c.asleep_home
        for h in range(homes):
            if dwellings.telecare[h] and c.awake_home[h]:
                last_motion[h] = t
            occ = occupied(last_motion.get(h), t, th) if dwellings.telecare[h] else None
            if occ is None and dwellings.telecare[h] and not present[h]:
                occ = False
            for r, room in enumerate(ROOMS):
                state = states[(h, r)]
                records = [
                    Record(state.home, "env", "temperature", t_ms, float(c.temperature[h, r])),
                    Record(state.home, "env", "humidity", t_ms, float(c.humidity[h, r])),
                ]
                for finding in on_readings(state, records, th, here, trm=trm_day[1], occupied=occ):
                    _lifecycle(
                        cases[(h, finding.rule.name, room)],
                        finding.action,
                        finding.at,
                        finding.severity.value,
                    )
                calls += 1
        if k % max(1, steps // 20) == 0:
            done = k / steps
            print(
                f"  {done:4.0%} simulated to {datetime.fromtimestamp(t, UTC):%Y-%m-%d}, "
                f"{time.perf_counter() - began:.0f} s",
                flush=True,
            )
    took = time.perf_counter() - began
    _report(homes, days, step_s, kinds, cases, start, took, calls)


def _lifecycle(history: list[Case], action: Action, at: float, severity: str) -> None:
    current = history[-1] if history else None
    if action is Action.RAISE:
        if current is not None and current.open:
            current.changes.append(("severity changed", at))
            current.severity = severity
        elif (
            current is not None
            and current.cleared_at is not None
            and at - current.cleared_at <= REOPEN_S
        ):
            current.open, current.cleared_at = True, None
            current.changes.append(("reopened", at))
        else:
            history.append(Case(at, changes=[("opened", at)], severity=severity))
    elif action is Action.CLEAR and current is not None and current.open:
        current.open, current.cleared_at = False, at
        current.changes.append(("cleared", at))


def _report(
    homes: int,
    days: int,
    step_s: float,
    kinds: list[Archetype],
    cases: dict[tuple[int, str, str], list[Case]],
    start: float,
    took: float,
    calls: int,
) -> None:
    months = days / 30.44
    print()
    print(
        f"{homes} homes ({dict(Counter(k.label for k in kinds))}), {days} days from "
        f"{datetime.fromtimestamp(start, UTC):%Y-%m-%d}, readings every {step_s / 60:.0f} min; "
        f"{calls:,} room evaluations in {took:.0f} s ({calls / took:,.0f}/s)"
    )
    print()
    print(
        f"{'rule':<13} {'precision':>9} {'recall':>7} {'median days':>11} {'cases/1k/mo':>11} "
        f"{'changes/case':>12} {'max reopen/mo':>13}"
    )
    for rule, truth in TRUTH.items():
        flagged = {h for (h, name, _), found in cases.items() if name == rule and found}
        true_homes = {h for h, kind in enumerate(kinds) if kind is truth}
        tp = flagged & true_homes
        precision = len(tp) / len(flagged) if flagged else float("nan")
        recall = len(tp) / len(true_homes) if true_homes else float("nan")
        firsts = [
            min(
                c.opened_at
                for (hh, name, _), found in cases.items()
                if hh == h and name == rule
                for c in found
            )
            for h in tp
        ]
        median_days = (
            statistics.median((f - start) / 86400 for f in firsts) if firsts else float("nan")
        )
        all_cases = [c for (_, name, _), found in cases.items() if name == rule for c in found]
        per_k_month = len(all_cases) / (homes / 1000) / months
        changes = statistics.mean(len(c.changes) for c in all_cases) if all_cases else 0.0
        reopen_month = Counter(
            (id(c), int((at - start) // (30.44 * 86400)))
            for c in all_cases
            for what, at in c.changes
            if what == "reopened"
        )
        worst = max(reopen_month.values(), default=0)
        print(
            f"{rule:<13} {precision:>9.2f} {recall:>7.2f} {median_days:>11.1f} "
            f"{per_k_month:>11.1f} {changes:>12.2f} {worst:>13}"
        )
    summer = 0
    for (h, name, _), found in cases.items():
        if name != "damp_mould" or kinds[h] not in DRY:
            continue
        summer += sum(
            1
            for c in found
            for what, at in c.changes
            if what in ("opened", "reopened") and datetime.fromtimestamp(at, UTC).month in (6, 7, 8)
        )
    print()
    print(
        f"damp cases opened or reopened in June-August in homes the simulator keeps dry: {summer}"
    )
    rooms = Counter((name, room) for (_, name, room), found in cases.items() for _ in found)
    print("cases by rule and room:", dict(sorted(rooms.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homes", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--step-min", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2026-01-01T00:00:00+00:00")
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start).timestamp()
    np.seterr(all="ignore")
    run(args.homes, args.days, args.step_min * 60, args.seed, start)


if __name__ == "__main__":
    main()
