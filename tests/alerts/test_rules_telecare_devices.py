"""Telecare events raise at once and withdraw on cancel; devices go offline from silence."""

from __future__ import annotations

import pytest

from alerts.findings import Action, Audience, Severity
from alerts.rules.devices import DeviceState, on_battery, on_telemetry, on_tick
from alerts.rules.telecare import on_event
from alerts.thresholds import Thresholds
from hof.senml import Record

T = 1_767_225_600.0


def rec(name: str, value: float | bool | str) -> Record:
    return Record("LCC-1", "tc-1", name, int(T * 1000), value)


@pytest.mark.parametrize(
    ("name", "value", "action", "rule", "audience"),
    [
        ("fall", "detected", Action.RAISE, "fall", Audience.RESPONDER),
        ("fall", "cancelled", Action.WITHDRAW, "fall", Audience.RESPONDER),
        ("button", "pressed", Action.RAISE, "help_button", Audience.RESPONDER),
        ("button", "cancelled", Action.WITHDRAW, "help_button", Audience.RESPONDER),
        ("leak", True, Action.RAISE, "water_leak", Audience.BOTH),
        ("leak", False, Action.CLEAR, "water_leak", Audience.BOTH),
        ("smoke", True, Action.RAISE, "smoke", Audience.BOTH),
        ("tamper", True, Action.RAISE, "tamper", Audience.HOUSING_OFFICER),
    ],
)
def test_events(name: str, value: object, action: Action, rule: str, audience: Audience) -> None:
    finding = on_event("LCC-1", "hall", rec(name, value))  # type: ignore[arg-type]
    assert finding is not None
    assert (finding.action, finding.rule.name, finding.rule.audience) == (action, rule, audience)
    assert finding.at == T
    assert finding.summary


def test_fall_says_where() -> None:
    finding = on_event("LCC-1", "living_room", rec("fall", "detected"))
    assert finding is not None
    assert finding.summary == "Fall detected by tc-1 in the living room."
    assert finding.severity is Severity.EMERGENCY


def test_other_records_are_not_telecare() -> None:
    assert on_event("LCC-1", None, rec("motion", True)) is None
    assert on_event("LCC-1", None, rec("temperature", 20.0)) is None


def test_offline_from_silence_not_connection_and_clears_on_telemetry() -> None:
    th = Thresholds(offline_grace_s=600)
    state = DeviceState("LCC-1", "env-1")
    assert on_tick(state, T, th) is None  # never heard from: nothing to miss yet
    on_telemetry(state, T)
    assert on_tick(state, T + 599, th) is None
    raised = on_tick(state, T + 601, th)
    assert raised is not None
    assert raised.action is Action.RAISE
    assert "10 minutes" in raised.summary
    assert on_tick(state, T + 700, th) is None  # raised once
    cleared = on_telemetry(state, T + 800)
    assert cleared is not None
    assert cleared.action is Action.CLEAR


def test_battery_has_hysteresis() -> None:
    th = Thresholds()
    state = DeviceState("LCC-1", "env-1")
    results = [on_battery(state, pct, T, th) for pct in (30, 16, 14, 14, 20, 24, 26, 14)]
    actions = [r.action if r else None for r in results]
    assert actions == [None, None, Action.RAISE, None, None, None, Action.CLEAR, Action.RAISE]


def test_inactivity_counts_silence_in_the_homes_own_data_time() -> None:
    from alerts.rules.activity import ActivityState, on_data, on_motion
    from alerts.rules.activity import on_tick as activity_tick

    th = Thresholds(inactivity_hours=12, inactivity_by_hour=None)
    state = ActivityState("LCC-1")
    on_motion(state, T)
    on_data(state, T + 6 * 3600)
    # a day later by the wall clock, but the home's data (a replay) has only reached +6 h
    assert activity_tick(state, T + 86400, th) is None
    on_data(state, T + 12.5 * 3600)  # other sensors keep reporting; nobody moves
    found = activity_tick(state, T + 86400, th)
    assert found is not None
    assert found.action is Action.RAISE
    assert "12.5 hours" in found.summary
    assert activity_tick(state, T + 86400, th) is None  # once
    on_motion(state, T + 13 * 3600)
    on_data(state, T + 20 * 3600)
    assert activity_tick(state, T + 86400, th) is None


def test_no_movement_by_ten_in_the_morning() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from alerts.rules.activity import ActivityState, on_data, on_motion
    from alerts.rules.activity import on_tick as activity_tick

    london = ZoneInfo("Europe/London")
    evening = datetime(2026, 1, 14, 22, 30, tzinfo=london).timestamp()
    th = Thresholds(inactivity_hours=14, inactivity_by_hour=10)
    state = ActivityState("LCC-1")
    on_motion(state, evening)  # last movement: going to bed
    on_data(state, datetime(2026, 1, 15, 9, 55, tzinfo=london).timestamp())
    assert activity_tick(state, evening + 86400, th) is None  # before 10:00
    on_data(state, datetime(2026, 1, 15, 10, 5, tzinfo=london).timestamp())
    found = activity_tick(state, evening + 86400, th)  # 11.6 h: under 14, but the morning failed
    assert found is not None
    assert found.summary.startswith("No movement seen this morning by 10:00: none for 11.6 hours")
    other = ActivityState("LCC-2")
    on_motion(other, datetime(2026, 1, 15, 7, 40, tzinfo=london).timestamp())
    on_data(other, datetime(2026, 1, 15, 10, 5, tzinfo=london).timestamp())
    assert activity_tick(other, evening + 86400, th) is None  # up and about at 07:40


def test_a_cancel_counts_only_on_event_and_only_from_the_device_that_raised() -> None:
    from alerts.rules.telecare import cancel_refusal, withdraw_refusal
    from hof.topic import Channel

    cancel = rec("fall", "cancelled")
    assert cancel_refusal(cancel, Channel.EVENT) is None
    assert cancel_refusal(cancel, Channel.READING) == "cancel_not_on_event"
    assert cancel_refusal(rec("fall", "detected"), Channel.READING) is None  # never lose a fall
    finding = on_event("LCC-1", None, cancel)
    assert finding is not None
    assert withdraw_refusal({"device": "tc-1"}, finding) is None
    assert withdraw_refusal({"device": "cord-2"}, finding) == "cancel_other_device"
    assert withdraw_refusal({}, finding) == "cancel_other_device"
    assert withdraw_refusal({"device": "tc-1", "devices": ["tc-1"]}, finding) is None
    assert withdraw_refusal({"device": "tc-1", "devices": ["cord-2", "tc-1"]}, finding) == (
        "cancel_other_device"
    )


def test_an_open_fall_remembers_every_device_that_raised_it() -> None:
    from alerts.rules.telecare import with_raisers

    raised = on_event("LCC-1", None, rec("fall", "detected"))
    assert raised is not None
    assert with_raisers(dict(raised.evidence), [])["devices"] == ["tc-1"]
    merged = with_raisers(dict(raised.evidence), [{"device": "cord-2"}, {"devices": ["a", "b"]}])
    assert merged["devices"] == ["a", "b", "cord-2", "tc-1"]
    leak = on_event("LCC-1", None, rec("leak", True))
    assert leak is not None
    assert "devices" not in with_raisers(dict(leak.evidence), [{"device": "x"}])
