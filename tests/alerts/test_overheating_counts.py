"""The TM59 / TM52 counts a worker keeps in InfluxDB for a restart: each hour counted once,
and the counts taken back whole or not at all (tests/e2e/test_rules_restart.py drives the
restart through the worker)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.overheating import Overheat

LONDON = ZoneInfo("Europe/London")


def _night_hour(day: int, hour: int) -> float:
    return datetime(2026, 7, day, hour, tzinfo=LONDON).timestamp()


def test_an_hour_is_counted_once_whatever_replays_it() -> None:
    counts = Overheat(bedroom=True)
    for hour in (22, 23, 0):
        counts.hour(_night_hour(6 if hour else 7, hour), 28.0, None)
    counts.hour(_night_hour(6, 23), 28.0, None)  # a replay of an hour already counted
    counts.hour(_night_hour(6, 22), 28.0, None)
    assert counts.night_hours_over == 3
    assert counts.last_start == _night_hour(7, 0)


def test_counts_taken_back_go_on_counting_from_their_last_hour() -> None:
    before = Overheat(bedroom=False)
    for hour in range(9, 22):
        before.hour(datetime(2026, 7, 6, hour, tzinfo=LONDON).timestamp(), 30.5, 20.0)
    fields = before.fields()
    after = Overheat.from_fields(False, before.last_start, dict(fields))
    assert after is not None
    assert after == before
    assert after.verdict() == before.verdict()
    after.hour(before.last_start, 30.5, 20.0)  # already in the counts
    assert after.occupied_hours == before.occupied_hours == 13


def test_counts_that_are_not_whole_are_not_taken_back() -> None:
    fields: dict[str, object] = dict(Overheat(bedroom=True, year=2026).fields())
    assert Overheat.from_fields(True, 0.0, fields) is not None
    for broken in (
        {**fields, "night_hours_over": "many"},
        {**fields, "year": 2026.5},
        {**fields, "worst_we": True},
        {k: v for k, v in fields.items() if k != "day"},
    ):
        assert Overheat.from_fields(True, 0.0, broken) is None
