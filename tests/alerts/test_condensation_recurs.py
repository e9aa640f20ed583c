"""Issue 12: a night of condensation on a cold wall is a sign to watch; it is a hazard when it
recurs (ISO 13788 and BS 5250 judge a surface over a month, not a night).

bench/cases: every acted-on damp case in a home the simulator keeps dry that was looked into
was the condensation band met on one night (a day's washing dried in a bedroom), while the
month's mean surface RH stayed 69-76 %; it was `severe` (an Awaab's Law emergency) at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alerts_support import BY_RECURRENCE, damp_findings

from alerts.findings import Action, Finding, Severity
from alerts.outdoor import Outdoor
from alerts.rules.environment import RoomState
from alerts.thresholds import Thresholds

H = 3600.0
# Monday 12 January 2026, midnight UTC (London is on UTC in January).
START = datetime(2026, 1, 12, tzinfo=UTC).timestamp()
OUTSIDE = Outdoor(5.0, "estate sensor")


def _bedroom(wet_nights: set[int], days: int) -> list[Finding]:
    """A bedroom at 18 °C: 60 % RH (its wall, fRsi 0.75 with 5 °C outside, about 76 %), and on
    each night in `wet_nights` 95 % from 01:00 to 08:00 (washing drying: the wall estimated
    wet for 7 h, the air's own RH above 70 % for 7 h of 24)."""

    def rh(day: int, hour: float) -> float:
        return 95.0 if day in wet_nights and 1.0 <= hour < 8.0 else 60.0

    return damp_findings(RoomState("H1", "bedroom"), START, days, 18.0, rh, OUTSIDE, BY_RECURRENCE)


def _morning(at: float, day: int) -> bool:
    """Whether `at` is when the night's sixth wet hour is judged (07:00-07:30 of `day`)."""
    return START + day * 86400 + 7 * H <= at <= START + day * 86400 + 7.5 * H


def test_one_night_of_condensation_is_a_watch_not_an_emergency() -> None:
    """Before: `severe` at 07:00 ("above 99 % for 6.0 of the last 24 hours")."""
    found = _bedroom({1}, 6)
    raised = [f for f in found if f.action is Action.RAISE]
    assert raised, "the night's condensation is still seen"
    assert {f.severity for f in raised} == {Severity.WATCH}
    assert _morning(raised[0].at, 1)
    assert "(condensation) for 6.0 of the last 24 hours, on 1 of the last 14 nights" in (
        raised[0].summary
    )
    assert raised[0].evidence["raised_by"] == ["condensation"]
    assert raised[0].evidence["condensation_nights"] == 1


def test_condensation_on_three_nights_of_a_fortnight_is_significant() -> None:
    found = _bedroom({0, 4, 9}, 12)
    raised = [(f.at, f.severity) for f in found if f.action is Action.RAISE]
    assert [s for at, s in raised if _morning(at, 9)] == [Severity.SIGNIFICANT]
    assert max(s.rank for _, s in raised) == Severity.SIGNIFICANT.rank
    # Before the third night, nothing worse than watch.
    assert all(s is Severity.WATCH for at, s in raised if at < START + 9 * 86400)


def test_condensation_most_nights_is_severe_and_one_case() -> None:
    found = _bedroom(set(range(7)), 9)
    raised = [f for f in found if f.action is Action.RAISE]
    assert [f.severity for f in raised][-1] is Severity.SEVERE
    # The seventh night counts once its wall is wet while the band is met (on consecutive
    # nights, from the band the night before).
    assert START + 6 * 86400 < raised[-1].at <= START + 6 * 86400 + 7.5 * H
    assert "on 7 of the last 14 nights" in raised[-1].summary
    # Up through the bands, never a clear and a reopening.
    assert Action.CLEAR not in {f.action for f in found}


def test_one_long_wet_night_counts_once() -> None:
    """The band stays met for most of the day after: the noon it passes is no second night."""
    found = _bedroom({1}, 4)
    assert max(f.evidence["condensation_nights"] for f in found) == 1


def test_nights_age_out_of_the_fortnight() -> None:
    """Three wet nights, then a dry fortnight: the case steps down; it clears a fortnight
    later (`damp_clear_hold_h`)."""
    found = _bedroom({0, 1, 2}, 36)
    assert [f.severity for f in found if f.action is Action.RAISE][:2] == [
        Severity.WATCH,
        Severity.SIGNIFICANT,
    ]
    assert found[-1].action is Action.CLEAR


def test_recurrence_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="condensation_recurs"):
        Thresholds(condensation_recurs={"severe": 15})
    with pytest.raises(ValueError, match="unknown severity"):
        Thresholds(condensation_recurs={"dire": 3})


def test_isolated_wet_nights_are_one_watch_case_not_a_reopening_each() -> None:
    """A wet night a week (a summer bedroom in bench/cases had one every 3-5 days): the watch
    went with the band a day later, its case cleared after the 72 h hold and reopened with
    the next wet night (4 times in an August). The fortnight's nights keep one watch open."""
    found = _bedroom({0, 7, 14, 21, 28}, 35)
    assert [f.action for f in found if f.action is Action.CLEAR] == []
    assert {f.severity for f in found} == {Severity.WATCH}
