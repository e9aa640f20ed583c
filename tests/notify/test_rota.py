"""Who is on call: shifts in Europe/London wall-clock time across midnight and both BST changes."""

from __future__ import annotations

import datetime as dt

import pytest

from notify.rota import Override, Rota, Shift, on_call, rota_for

UTC = dt.UTC


def _rota() -> Rota:
    return Rota(
        name="north",
        patches=("North",),
        team_lead="jo",
        shifts=(
            Shift(start=dt.time(8), end=dt.time(20), people=("day1", "day2")),
            Shift(start=dt.time(20), end=dt.time(8), people=("night1", "night2")),
        ),
    )


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Winter (GMT = UTC): the boundaries at 08:00 and 20:00 UTC.
        (dt.datetime(2026, 1, 14, 7, 59, 59, tzinfo=UTC), "night1"),
        (dt.datetime(2026, 1, 14, 8, 0, tzinfo=UTC), "day1"),
        (dt.datetime(2026, 1, 14, 19, 59, tzinfo=UTC), "day1"),
        (dt.datetime(2026, 1, 14, 20, 0, tzinfo=UTC), "night1"),
        # Around midnight: the night shift runs on into the next day.
        (dt.datetime(2026, 1, 14, 23, 59, 59, tzinfo=UTC), "night1"),
        (dt.datetime(2026, 1, 15, 0, 0, tzinfo=UTC), "night1"),
        # Summer (BST = UTC+1): 07:30 UTC is 08:30 local, the day shift.
        (dt.datetime(2026, 7, 1, 7, 30, tzinfo=UTC), "day1"),
        (dt.datetime(2026, 7, 1, 19, 30, tzinfo=UTC), "night1"),
        # Spring change, Sunday 29 March 2026, 01:00 UTC: clocks go from 01:00 to 02:00.
        (dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "night1"),  # 00:59 GMT
        (dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "night1"),  # 02:00 BST
        (dt.datetime(2026, 3, 29, 6, 59, tzinfo=UTC), "night1"),  # 07:59 BST
        (dt.datetime(2026, 3, 29, 7, 0, tzinfo=UTC), "day1"),  # 08:00 BST: an hour earlier
        (dt.datetime(2026, 3, 28, 7, 30, tzinfo=UTC), "night1"),  # Saturday 07:30 GMT
        # Autumn change, Sunday 25 October 2026, 01:00 UTC: clocks go from 02:00 back to 01:00.
        (dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "night1"),  # 01:30 BST
        (dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "night1"),  # 01:30 GMT, again
        (dt.datetime(2026, 10, 25, 7, 30, tzinfo=UTC), "night1"),  # 07:30 GMT
        (dt.datetime(2026, 10, 25, 8, 0, tzinfo=UTC), "day1"),  # 08:00 GMT
        (dt.datetime(2026, 10, 24, 7, 30, tzinfo=UTC), "day1"),  # Saturday 08:30 BST
        (dt.datetime(2026, 10, 25, 19, 30, tzinfo=UTC), "day1"),  # 19:30 GMT
    ],
)
def test_on_call_follows_local_time(utc: dt.datetime, expected: str) -> None:
    assert on_call(_rota(), utc)[0] == expected


def test_order_is_on_call_then_next() -> None:
    assert on_call(_rota(), dt.datetime(2026, 1, 14, 12, tzinfo=UTC)) == ("day1", "day2")


def test_overnight_shift_on_named_days_covers_the_next_morning_only() -> None:
    rota = Rota(
        name="weekend",
        shifts=(Shift(days=("sat",), start=dt.time(20), end=dt.time(8), people=("w",)),),
    )
    saturday_night = dt.datetime(2026, 1, 17, 21, tzinfo=UTC)
    sunday_early = dt.datetime(2026, 1, 18, 3, tzinfo=UTC)
    sunday_night = dt.datetime(2026, 1, 18, 21, tzinfo=UTC)
    friday_night = dt.datetime(2026, 1, 16, 21, tzinfo=UTC)
    assert on_call(rota, saturday_night) == ("w",)
    assert on_call(rota, sunday_early) == ("w",)
    assert on_call(rota, sunday_night) == ()
    assert on_call(rota, friday_night) == ()


def test_an_override_replaces_the_shifts_in_local_time() -> None:
    rota = _rota().model_copy(
        update={
            "overrides": (
                Override(
                    start=dt.datetime(2026, 12, 24, 20),
                    end=dt.datetime(2026, 12, 25, 8),
                    people=("cover",),
                ),
            )
        }
    )
    assert on_call(rota, dt.datetime(2026, 12, 24, 19, 59, tzinfo=UTC))[0] == "day1"
    assert on_call(rota, dt.datetime(2026, 12, 25, 2, tzinfo=UTC)) == ("cover",)
    assert on_call(rota, dt.datetime(2026, 12, 25, 8, tzinfo=UTC))[0] == "day1"


def test_a_summer_override_is_in_bst() -> None:
    rota = _rota().model_copy(
        update={
            "overrides": (
                Override(
                    start=dt.datetime(2026, 7, 1, 9),
                    end=dt.datetime(2026, 7, 1, 10),
                    people=("cover",),
                ),
            )
        }
    )
    assert on_call(rota, dt.datetime(2026, 7, 1, 8, 30, tzinfo=UTC)) == ("cover",)  # 09:30 BST
    assert on_call(rota, dt.datetime(2026, 7, 1, 9, 30, tzinfo=UTC))[0] == "day1"  # 10:30 BST


def test_bad_rotas_are_refused() -> None:
    with pytest.raises(ValueError, match="IANA"):
        Rota(name="x", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="before it starts"):
        Override(start=dt.datetime(2026, 1, 2), end=dt.datetime(2026, 1, 1), people=("a",))
    with pytest.raises(ValueError, match="aware"):
        on_call(_rota(), dt.datetime(2026, 1, 1))


def test_rota_for_prefers_the_patch_then_everyone() -> None:
    north, everyone = _rota(), Rota(name="all")
    assert rota_for([everyone, north], "North") is north
    assert rota_for([everyone, north], "South") is everyone
    assert rota_for([north], "South") is None
