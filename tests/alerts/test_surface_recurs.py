"""Issue 12: a day on which the wall's surface RH stays high is a sign to watch; it is a hazard
when it recurs (ISO 13788 judges a surface by its monthly mean RH, not by a day).

bench/cases, after the air's humidity was judged by recurrence (tests/alerts/
test_humidity_recurs.py): acted-on damp cases of homes the simulator keeps dry were raised by
the surface band (estimated wall surface RH above 85 % for 20 of 24 h, significant) on the
first humid day of a fortnight, while the hidden wall's best month stayed at 76-78 %.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alerts_support import damp_findings

from alerts.findings import Action, Finding, Severity
from alerts.outdoor import Outdoor
from alerts.rules.environment import RoomState
from alerts.thresholds import Thresholds

H = 3600.0
# Monday 12 January 2026, midnight UTC.
START = datetime(2026, 1, 12, tzinfo=UTC).timestamp()
# 0 °C outside: a bedroom at 16 °C has its wall (fRsi 0.75) estimated at 12 °C. At 67 % the
# air never reaches the air's own 70 % band, but the wall is at about 87 % RH (condensation
# needs 99 %); at 55 % the wall is at about 71 %.
OUTSIDE = Outdoor(0.0, "estate sensor")


def _bedroom(damp_days: set[int], days: int, state: RoomState | None = None) -> list[Finding]:
    """A bedroom at 16 °C and 55 %, and on each day in `damp_days` 67 % from 02:00 to 23:00
    (21 h of the estimated wall above 85 %)."""

    def rh(day: int, hour: float) -> float:
        return 67.0 if day in damp_days and 2.0 <= hour < 23.0 else 55.0

    room = state or RoomState("H1", "bedroom")
    return damp_findings(room, START, days, 16.0, rh, OUTSIDE)


def _at_22(at: float, day: int) -> bool:
    """Whether `at` is when the day's 20th hour above 85 % is judged (22:00-22:30 of `day`)."""
    return START + day * 86400 + 22 * H <= at <= START + day * 86400 + 22.5 * H


def test_one_day_of_a_damp_wall_is_a_watch_not_a_case_with_clocks() -> None:
    """Before: `significant` at 22:00 ("estimated wall surface RH above 85 % for 20.0 of the
    last 24 hours")."""
    found = _bedroom({1}, 6)
    raised = [f for f in found if f.action is Action.RAISE]
    assert raised, "the damp wall is still seen"
    assert {f.severity for f in raised} == {Severity.WATCH}
    assert raised[0].evidence["raised_by"] == ["surface_rh"]
    # Both surface bands (80 % and 85 %) are met at 22:00, their 20th hour: the words name
    # the worst, and the one day of the fortnight it was met on, which makes it a watch.
    assert _at_22(raised[0].at, 1)
    assert (
        "estimated wall surface RH above 85 % for 20.0 of the last 24 hours; above 85 % for "
        "20 h of 24 on 1 of the last 14 days" in raised[0].summary
    )
    assert raised[0].evidence["surface_humid_days"] == 1
    assert "humidity above" not in raised[0].summary


def test_a_damp_wall_on_three_days_of_a_fortnight_is_significant() -> None:
    found = _bedroom({0, 5, 10}, 12)
    raised = [f for f in found if f.action is Action.RAISE]
    assert [f.severity for f in raised] == [Severity.WATCH, Severity.SIGNIFICANT]
    significant = raised[-1]
    assert _at_22(significant.at, 10)
    assert significant.evidence["surface_humid_days"] == 3
    assert significant.evidence["surface_days"] == 14
    assert significant.evidence["raised_by"] == ["surface_rh"]
    assert (
        "estimated wall surface RH above 85 % for 20.0 of the last 24 hours; above 85 % for "
        "20 h of 24 on 3 of the last 14 days" in significant.summary
    )


def test_the_watch_of_one_damp_day_is_kept_for_the_fortnight() -> None:
    """The band goes the next morning; the day keeps the case at watch, one case, until it
    leaves the fortnight (and the case then clears after its hold)."""
    found = _bedroom({0}, 20)
    assert [f.severity for f in found if f.action is Action.RAISE] == [Severity.WATCH]
    assert [f.action for f in found].count(Action.CLEAR) == 1
    [cleared] = [f for f in found if f.action is Action.CLEAR]
    assert cleared.at > START + 14 * 86400


def test_one_damp_day_counts_once() -> None:
    """The band stays met into the next day: that midnight is no second day."""
    state = RoomState("H1", "bedroom")
    _bedroom({1}, 4, state)
    assert state.signals["surface_rh_band"].severity is None  # it has gone by day 3
    assert len(state.surface_humid_days) == 1


def test_a_wall_damp_every_day_is_still_significant_within_three_days() -> None:
    found = _bedroom(set(range(5)), 5)
    raised = [f for f in found if f.action is Action.RAISE]
    assert raised[-1].severity is Severity.SIGNIFICANT
    assert raised[-1].at < START + 3 * 86400


@pytest.mark.parametrize("signal", ["surface", "humidity", "condensation"])
def test_recurrence_settings_are_validated(signal: str) -> None:
    """One validator for every signal judged by recurrence (`_recurring`)."""
    days, recurs = f"{signal}_days", f"{signal}_recurs"
    with pytest.raises(ValueError, match=recurs):
        Thresholds.model_validate({recurs: {"significant": 15}})
    with pytest.raises(ValueError, match="unknown severity"):
        Thresholds.model_validate({recurs: {"dire": 3}})
    shorter = Thresholds.model_validate({days: 7, recurs: {"significant": 2}})
    assert getattr(shorter, days) == 7
