"""Environmental rules on simulated homes with known answers (the simulator's physics)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from alerts.findings import Action, Finding, Severity
from alerts.outdoor import Outdoor
from alerts.rules.environment import RoomState, on_readings
from alerts.thresholds import Thresholds
from hof.senml import Record
from simulator.dwelling import ROOMS, Archetype, Simulation, draw_dwellings
from simulator.weather import Weather

START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a January week in Leeds
STEP = 900.0
DAYS = 7
PER_KIND = 3


@pytest.fixture(scope="module")
def findings() -> dict[tuple[Archetype, str], list[Finding]]:
    return simulate_week()


def simulate_week() -> dict[tuple[Archetype, str], list[Finding]]:
    """Every finding the rules make for a week of four homes of each archetype."""
    mix = {kind: 1.0 for kind in Archetype}
    dwellings = draw_dwellings(PER_KIND * len(Archetype), seed=7, mix=mix)
    weather = Weather(7)
    sim = Simulation(dwellings, weather, seed=7, start=START - 2 * 86400)
    sim.advance(START)
    th = Thresholds()
    states = {
        (h, r): RoomState(f"H{h}", room)
        for h in range(dwellings.homes)
        for r, room in enumerate(ROOMS)
    }
    out: dict[tuple[Archetype, str], list[Finding]] = {}
    for k in range(1, int(DAYS * 86400 / STEP) + 1):
        c = sim.advance(START + k * STEP)
        t_ms = round(c.time * 1000)
        # The simulator's own weather, as an outdoor sensor of the estate would report it.
        outdoor = Outdoor(float(weather.temperature(c.time)), "estate sensor")
        for (h, r), state in states.items():
            records = [
                Record(state.home, "env", "temperature", t_ms, float(c.temperature[h, r])),
                Record(state.home, "env", "humidity", t_ms, float(c.humidity[h, r])),
                Record(state.home, "env", "co2", t_ms, float(c.co2[h, r])),
            ]
            for finding in on_readings(state, records, th, outdoor):
                key = (Archetype(int(dwellings.archetype[h])), ROOMS[r])
                out.setdefault(key, []).append(finding)
    return out


def _raised(found: list[Finding], rule: str) -> list[Finding]:
    return [f for f in found if f.rule.name == rule and f.action is Action.RAISE]


def test_well_run_bathrooms_with_daily_showers_raise_nothing(
    findings: dict[tuple[Archetype, str], list[Finding]],
) -> None:
    bathroom = findings.get((Archetype.WELL_RUN, "bathroom"), [])
    assert _raised(bathroom, "damp_mould") == []
    assert _raised(bathroom, "poor_ventilation") == []


def test_damp_homes_raise_a_damp_case_within_days(
    findings: dict[tuple[Archetype, str], list[Finding]],
) -> None:
    raised = [
        f for room in ROOMS for f in _raised(findings.get((Archetype.DAMP, room), []), "damp_mould")
    ]
    homes = {f.home for f in raised}
    assert len(homes) >= PER_KIND - 1, Counter(f.room for f in raised)
    first_days = sorted((f.at - START) / 86400 for f in raised)
    assert first_days[0] <= 2.0
    sample = raised[0]
    # The words name what raised it (a damp home's wall is wet before its third humid day).
    said = {"humidity": "humidity above", "surface_rh": "wall surface RH above"}
    for signal in sample.evidence["raised_by"]:
        assert said[signal] in sample.summary, sample.summary
    assert sample.evidence["dew_point"] < sample.evidence["temperature"]


def test_cold_homes_raise_excess_cold(
    findings: dict[tuple[Archetype, str], list[Finding]],
) -> None:
    raised = [
        f
        for room in ROOMS
        for f in _raised(findings.get((Archetype.COLD, room), []), "excess_cold")
    ]
    assert len({f.home for f in raised}) >= PER_KIND - 1
    assert {f.severity for f in raised} & {Severity.WATCH, Severity.SIGNIFICANT, Severity.SEVERE}


def test_findings_come_as_cases_not_a_storm(
    findings: dict[tuple[Archetype, str], list[Finding]],
) -> None:
    """A week is 672 readings a room; a condition gives a raise, escalations and clears, and
    a damp case a note of each humid day or night of condensation counted (at most one a
    signal a day)."""
    per_room: Counter[tuple[str, str | None, str]] = Counter(
        (f.home, f.room, f.rule.name)
        for found in findings.values()
        for f in found
        if f.action is not Action.NOTE
    )
    assert max(per_room.values()) <= 8, per_room.most_common(3)
    notes: Counter[tuple[str, str | None, str]] = Counter(
        (f.home, f.room, f.rule.name)
        for found in findings.values()
        for f in found
        if f.action is Action.NOTE
    )
    assert max(notes.values(), default=0) <= 3 * DAYS, notes.most_common(3)
    total_readings = PER_KIND * len(Archetype) * len(ROOMS) * DAYS * 86400 / STEP
    assert sum(per_room.values()) < 0.01 * total_readings
