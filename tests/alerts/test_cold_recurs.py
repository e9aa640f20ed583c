"""Issue 12: the milder cold bands are judged by recurrence. A cold spell of a few days in a
home that is kept warm (heated off overnight and while out, the heating catching up) is a sign
to watch; a home below 16 °C for 12 h on 5 days of a fortnight is the hazard. The severe band
still raises on the hour, and a vulnerable tenant's home on the first day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from alerts.findings import Action, Finding, Severity
from alerts.overrides import Overrides, ThresholdBook
from alerts.rules.environment import RECURRENCE, RoomState, on_readings, seed_recurrence
from alerts.thresholds import Thresholds
from hof.senml import Record

H = 3600.0
START = datetime(2026, 1, 12, tzinfo=UTC).timestamp()
STEP = 1800.0


def _feed(
    state: RoomState,
    th: Thresholds,
    temperature: Callable[[int, float], float],
    days: int,
    first: int = 0,
    occupied: bool | None = True,
) -> list[Finding]:
    """Days `first`.. of readings every half hour at `temperature(day, hour)` (50 % RH); the
    cold rule's findings."""
    found: list[Finding] = []
    for day in range(first, first + days):
        for k in range(int(24 * H / STEP)):
            t = START + day * 86400 + k * STEP
            records = [
                Record(
                    state.home,
                    "env",
                    "temperature",
                    round(t * 1000),
                    temperature(day, k * STEP / H),
                ),
                Record(state.home, "env", "humidity", round(t * 1000), 50.0),
            ]
            found += [
                f
                for f in on_readings(state, records, th, occupied=occupied)
                if f.rule.name == "excess_cold"
            ]
    return found


def _days(
    state: RoomState, th: Thresholds, cold_days: int, warm_days: int = 0, first: int = 0
) -> list[Finding]:
    """Days of a living room below 16 °C from midnight to 14:00 and at 20 °C after (the
    heating unable to catch up until the afternoon), then warm days; someone at home."""

    def temperature(day: int, hour: float) -> float:
        return 14.0 if day < first + cold_days and hour < 14 else 20.0

    return _feed(state, th, temperature, cold_days + warm_days, first)


def test_a_cold_spell_of_three_days_is_watch_not_a_case_to_act_on() -> None:
    found = _days(RoomState("H1", "living_room"), Thresholds(), cold_days=3, warm_days=2)
    assert found, "the spell is a sign to watch"
    assert {f.severity for f in found} == {Severity.WATCH}, [(f.action, f.severity) for f in found]


def test_a_home_kept_cold_is_significant_on_its_fifth_cold_day_and_says_so() -> None:
    found = _days(RoomState("H1", "living_room"), Thresholds(), cold_days=6)
    significant = [f for f in found if f.severity is Severity.SIGNIFICANT]
    assert significant[0].action is Action.RAISE
    assert (significant[0].at - START) // 86400 == 4  # the fifth day
    assert "below 16 °C for 12 h of 24 on 5 of the last 14 days" in significant[0].summary
    assert significant[0].evidence["cold_days"] == 5
    assert len(significant[0].evidence[RECURRENCE]["cold"]) == 5  # type: ignore[index]


def test_severe_cold_is_not_judged_by_recurrence() -> None:
    state, th, found = RoomState("H1", "bedroom"), Thresholds(), []
    for k in range(32):  # 12 h warm, then the heating fails: 4 h at 8 °C
        t = START + k * STEP
        records = [
            Record("H1", "env", "temperature", round(t * 1000), 20.0 if k < 24 else 8.0),
            Record("H1", "env", "humidity", round(t * 1000), 50.0),
        ]
        found += on_readings(state, records, th, occupied=True)
    assert [(f.action, f.severity) for f in found if f.rule.name == "excess_cold"] == [
        (Action.RAISE, Severity.SEVERE)
    ]


def test_a_vulnerable_tenants_home_is_significant_on_the_first_day() -> None:
    book = ThresholdBook(
        Thresholds(), Overrides.model_validate({"homes": {"V": {"vulnerable": True}}})
    )
    found = _days(RoomState("V", "living_room"), book.for_home("V"), cold_days=1)
    assert Severity.SIGNIFICANT in {f.severity for f in found}


def test_a_restart_takes_the_cold_days_back_from_the_open_case() -> None:
    """A restarted worker replays a day: the days counted are in the case's evidence (raised
    or noted), and the fifth day after a restart is as significant as without one."""
    th = Thresholds()
    before = _days(RoomState("H1", "living_room"), th, cold_days=4)
    last = before[-1]
    assert last.severity is Severity.WATCH
    assert len(last.evidence[RECURRENCE]["cold"]) == 4  # type: ignore[index]
    restarted = RoomState("H1", "living_room")
    assert seed_recurrence(restarted, last.evidence)
    after = _days(restarted, th, cold_days=1, first=4)
    assert Severity.SIGNIFICANT in {f.severity for f in after}
    forgot = _days(RoomState("H1", "living_room"), th, cold_days=1, first=4)
    assert Severity.SIGNIFICANT not in {f.severity for f in forgot}


def _held_at(
    state: RoomState, th: Thresholds, temp: float, days: int, first: int = 0
) -> list[Finding]:
    """Days of a kitchen held at `temp` all day and night (its thermostat, the heating unable
    to do better), occupancy not known: weekdays 09:00-16:00 are not counted."""
    return _feed(state, th, lambda _day, _hour: temp, days, first, occupied=None)


def test_a_room_kept_below_the_minimum_on_most_days_is_significant_and_says_so() -> None:
    """WHO's 18 °C for rooms in use: a kitchen held at 17.5 °C never reaches HHSRS's 16 °C,
    and it was a case to watch for ever (bench/cases: 122 rooms of 1,000 homes whose heating
    never held 18 °C, missed). Kept below the minimum on 10 days of a fortnight, it is one to
    act on."""
    found = _held_at(RoomState("H1", "kitchen"), Thresholds(), 17.5, days=12)
    significant = [f for f in found if f.severity is Severity.SIGNIFICANT]
    assert significant, [(f.action, f.severity, f.summary) for f in found]
    assert significant[0].action is Action.RAISE
    assert (significant[0].at - START) // 86400 == 9  # the tenth day
    assert "below 18 °C for 16 h of 24 on 10 of the last 14 days" in significant[0].summary
    assert significant[0].evidence["cold_minimum_days"] == 10
    assert len(significant[0].evidence[RECURRENCE]["cold_minimum"]) == 10  # type: ignore[index]


def test_a_fortnight_just_above_the_minimum_is_not_a_case() -> None:
    found = _held_at(RoomState("H1", "kitchen"), Thresholds(), 18.2, days=14)
    assert found == []


def test_a_room_below_the_minimum_on_a_few_days_is_watch() -> None:
    state, th = RoomState("H1", "kitchen"), Thresholds()
    found = _held_at(state, th, 17.5, days=6) + _held_at(state, th, 19.0, days=8, first=6)
    assert found
    assert {f.severity for f in found} == {Severity.WATCH}, [(f.action, f.severity) for f in found]


def test_a_restart_takes_the_days_below_the_minimum_back() -> None:
    th = Thresholds()
    before = _held_at(RoomState("H1", "kitchen"), th, 17.5, days=9)
    assert {f.severity for f in before} == {Severity.WATCH}
    restarted = RoomState("H1", "kitchen")
    assert seed_recurrence(restarted, before[-1].evidence)
    after = _held_at(restarted, th, 17.5, days=1, first=9)
    assert Severity.SIGNIFICANT in {f.severity for f in after}


def test_the_minimum_days_cannot_exceed_the_window() -> None:
    with pytest.raises(ValueError, match="cold_minimum_days"):
        Thresholds(cold_minimum_days=15)


def test_a_day_counts_only_when_its_band_is_met_not_while_it_is_still_held() -> None:
    """A day counts when below 16 °C for 12 h of 24 is met on it (the rule's own words). The
    band stays held until under 6 h (its clear figure), and the days it was merely held
    counted: a living room below 16 °C for 13 h on one day of a cold spell, then for 7 h each
    night as the heating went off, made 5 cold days and a case to act on (Awaab's Law clocks)
    in a home that met the band once (bench/cases: bathrooms and living rooms of well-heated,
    poorly insulated homes)."""

    def temperature(day: int, hour: float) -> float:
        cold = hour < 13 if day == 0 else 3 <= hour < 10
        return 14.0 if cold else 20.0

    found = _feed(RoomState("H1", "living_room"), Thresholds(), temperature, days=7)
    assert found, "the cold day is a sign to watch"
    assert {f.severity for f in found} == {Severity.WATCH}, [
        (f.action, f.severity, f.summary) for f in found
    ]
    assert found[-1].evidence["cold_days"] == 1


def test_a_shorter_cold_window_takes_every_day_of_it_by_default() -> None:
    """An estate that judges cold over 7 days (its own settings) is not refused for the
    default's 10: the minimum is every day of its window, unless it sets one itself."""
    assert Thresholds(cold_days=7).cold_minimum_days == 7
    assert Thresholds(cold_days=7, cold_minimum_days=5).cold_minimum_days == 5
    assert Thresholds().cold_minimum_days == 10
