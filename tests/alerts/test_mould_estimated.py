"""Issue 12: growth begun (VTT index 1) on an estimated wall is a sign, named in an open
case's words; on a probe's surface, or on the air's own conditions when nothing estimates the
wall, it is acted on."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from alerts.findings import Action, Finding, Severity
from alerts.mould import MouldState
from alerts.rules.environment import RoomState, on_readings
from alerts.thresholds import Thresholds
from hof.senml import Record

H = 3600.0
START = datetime(2026, 7, 30, tzinfo=UTC).timestamp()


def _bathroom(index: float, probe: bool, outdoor: float | None) -> tuple[RoomState, list[Finding]]:
    """A bathroom whose index stands just below `index`, then 6 h at 22 °C / 95 %: the wall
    wet enough that the index passes it within the hours."""
    state, th = RoomState("H1", "bathroom"), Thresholds()
    state.mould = MouldState(np.array([index - 0.005]), np.array([0.0]))
    found: list[Finding] = []
    for k in range(13):
        ms = round((START + k * 1800.0) * 1000)
        records = [
            Record("H1", "env", "temperature", ms, 22.0),
            Record("H1", "env", "humidity", ms, 95.0),
        ]
        if probe:
            records.append(Record("H1", "env", "surface_temperature", ms, 20.0))
        found += [
            f for f in on_readings(state, records, th, outdoor) if f.rule.name == "damp_mould"
        ]
    assert float(state.mould.m[0]) >= index, state.mould
    return state, found


def test_growth_begun_on_an_estimated_wall_opens_no_case() -> None:
    # Before 1 Dec 2026: significant, Awaab's Law clocks started on the estimate (bench/cases: a
    # well-run bathroom in July at an estimated surface RH of 78 %). Until `548254b` (2 Dec
    # 2026) a watch: 3 of the 12 summer damp cases left in the 490 dry homes of 1,000.
    state, found = _bathroom(1.0, probe=False, outdoor=15.0)
    assert state.signals["mould"].severity is None
    assert [f for f in found if f.action is Action.RAISE] == [], [f.summary for f in found]


def test_growth_begun_on_an_estimated_wall_is_named_in_an_open_case() -> None:
    """A case the humid days opened says the estimated wall's index too, as a sign."""
    state = RoomState("H1", "bathroom")
    day = int(START // 86400)
    state.humid_days = [day - 5, day - 3]  # two humid days already in the fortnight
    state.mould = MouldState(np.array([1.2]), np.array([0.0]))
    th, found = Thresholds(), []
    for k in range(48):  # a day at 22 °C / 80 %: the third humid day
        ms = round((START + k * 1800.0) * 1000)
        records = [
            Record("H1", "env", "temperature", ms, 22.0),
            Record("H1", "env", "humidity", ms, 80.0),
        ]
        found += [f for f in on_readings(state, records, th, 15.0) if f.rule.name == "damp_mould"]
    [raised] = [f for f in found if f.action is Action.RAISE]
    assert raised.severity is Severity.WATCH
    assert raised.evidence["raised_by"] == ["humidity"]
    assert "on the estimated wall (growth begun; a sign, not a case alone)" in raised.summary


@pytest.mark.parametrize(("probe", "outdoor"), [(True, 15.0), (False, None)])
def test_growth_begun_on_a_probe_or_the_air_is_acted_on(probe: bool, outdoor: float | None) -> None:
    state, found = _bathroom(1.0, probe=probe, outdoor=outdoor)
    assert state.signals["mould"].severity is Severity.SIGNIFICANT
    assert Severity.SIGNIFICANT in {f.severity for f in found if f.action is Action.RAISE}


def test_visible_growth_is_severe_on_an_estimated_wall_too() -> None:
    state, found = _bathroom(3.0, probe=False, outdoor=15.0)
    assert state.signals["mould"].severity is Severity.SEVERE
    assert Severity.SEVERE in {f.severity for f in found if f.action is Action.RAISE}
