"""The days a damp case counted are noted on the case, and a restarted worker takes them back
(issue 12: a restart replayed a day of history and forgot the fortnight, so the third humid day
of a fortnight after a restart made a watch, not a significant case;
tests/e2e/test_rules_restart.py drives it through the worker and its store)."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts_support import BY_RECURRENCE, damp_findings

from alerts.findings import Action, Finding, Severity
from alerts.outdoor import Outdoor
from alerts.rules.environment import RECURRENCE, RoomState, seed_recurrence

START = datetime(2026, 7, 14, tzinfo=UTC).timestamp()  # Tuesday 14 July 2026, midnight UTC
OUTSIDE = Outdoor(17.0, "estate sensor", 60.0)  # the room's 78 % is the home's own vapour


def _room(humid: set[int], days: int, state: RoomState, start: float = START) -> list[Finding]:
    """A living room at 20 °C and 55 %, 78 % from 04:00 to 23:00 on each day in `humid`."""

    def rh(day: int, hour: float) -> float:
        return 78.0 if day in humid and 4.0 <= hour < 23.0 else 55.0

    return damp_findings(state, start, days, 20.0, rh, OUTSIDE, BY_RECURRENCE)


def test_each_day_counted_is_noted_on_the_case_with_its_date() -> None:
    found = _room({0, 5}, 7, RoomState("H1", "living_room"))
    raised = [f for f in found if f.action is Action.RAISE]
    notes = [f for f in found if f.action is Action.NOTE]
    # The watch case is raised when the first day counts, at 22:00 (18 h above 75 %: this
    # estate's setting makes one day a watch), and names it; the second day is a note that
    # names both.
    assert [f.severity for f in raised + notes] == [Severity.WATCH, Severity.WATCH]
    assert raised[0].evidence[RECURRENCE] == {"humidity": ["2026-07-14"]}
    assert notes[0].evidence[RECURRENCE] == {"humidity": ["2026-07-14", "2026-07-19"]}
    assert notes[0].evidence["humid_days"] == 2


def test_a_fresh_room_seeded_from_the_case_grades_as_the_one_that_counted() -> None:
    before = RoomState("H1", "living_room")
    found = _room({0, 5}, 7, before)
    restarted = RoomState("H1", "living_room")
    assert seed_recurrence(restarted, found[-1].evidence)
    assert restarted.humid_days == before.humid_days
    # The third humid day, ten days in: significant, as it is without the restart.
    after = _room({3}, 4, restarted, START + 7 * 86400)
    raised = [f for f in after if f.action is Action.RAISE]
    assert raised[-1].severity is Severity.SIGNIFICANT
    assert raised[-1].evidence["humid_days"] == 3


def test_a_seed_keeps_the_days_the_room_holds_and_passes_over_what_is_not_a_date() -> None:
    state = RoomState("H1", "bedroom")
    state.humid_days[:] = [20650]
    evidence: dict[str, object] = {
        RECURRENCE: {
            "humidity": ["2026-07-14", "not a date", 7, None],
            "condensation": "2026-07-14",
        }
    }
    assert seed_recurrence(state, evidence)
    assert state.humid_days == [20648, 20650]
    assert state.condensation_nights == []
    assert seed_recurrence(state, {RECURRENCE: {"condensation": ["2026-07-15"]}})
    assert state.condensation_nights == [20649]
    assert not seed_recurrence(state, evidence)  # nothing new the second time
    assert not seed_recurrence(state, {"summary": "no days"})
    assert not seed_recurrence(state, {RECURRENCE: ["2026-07-14"]})
