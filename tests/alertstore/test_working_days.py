"""Bank holidays in England and Wales and working-day arithmetic, with hypothesis."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hof.alertstore.workingdays import (
    add_working_days,
    bank_holidays,
    easter_sunday,
    is_working_day,
)

D = dt.date


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2000, D(2000, 4, 23)), (2019, D(2019, 4, 21)), (2024, D(2024, 3, 31)),
     (2025, D(2025, 4, 20)), (2026, D(2026, 4, 5)), (2038, D(2038, 4, 25)),
     (2285, D(2285, 3, 22))],
)  # fmt: skip
def test_easter(year: int, easter: dt.date) -> None:
    assert easter_sunday(year) == easter


# The GOV.UK lists for England and Wales.
GOV_UK = {
    2022: [D(2022, 1, 3), D(2022, 4, 15), D(2022, 4, 18), D(2022, 5, 2), D(2022, 6, 2),
           D(2022, 6, 3), D(2022, 8, 29), D(2022, 9, 19), D(2022, 12, 26), D(2022, 12, 27)],
    2023: [D(2023, 1, 2), D(2023, 4, 7), D(2023, 4, 10), D(2023, 5, 1), D(2023, 5, 8),
           D(2023, 5, 29), D(2023, 8, 28), D(2023, 12, 25), D(2023, 12, 26)],
    2020: [D(2020, 1, 1), D(2020, 4, 10), D(2020, 4, 13), D(2020, 5, 8), D(2020, 5, 25),
           D(2020, 8, 31), D(2020, 12, 25), D(2020, 12, 28)],
    2021: [D(2021, 1, 1), D(2021, 4, 2), D(2021, 4, 5), D(2021, 5, 3), D(2021, 5, 31),
           D(2021, 8, 30), D(2021, 12, 27), D(2021, 12, 28)],
    2026: [D(2026, 1, 1), D(2026, 4, 3), D(2026, 4, 6), D(2026, 5, 4), D(2026, 5, 25),
           D(2026, 8, 31), D(2026, 12, 25), D(2026, 12, 28)],
}  # fmt: skip


@pytest.mark.parametrize("year", sorted(GOV_UK))
def test_bank_holidays_match_gov_uk(year: int) -> None:
    assert sorted(bank_holidays(year)) == GOV_UK[year]


def test_christmas_fortnight_2026() -> None:
    # Fri 18 Dec 2026 + 10 working days: 21, 22, 23, 24, (25, 26->28 off), 29, 30, 31,
    # (1 Jan off), 4, 5, 6 January 2027.
    assert add_working_days(D(2026, 12, 18), 10) == D(2027, 1, 6)
    assert add_working_days(D(2026, 12, 18), 0) == D(2026, 12, 18)
    with pytest.raises(ValueError, match="0 or more"):
        add_working_days(D(2026, 12, 18), -1)


days = st.dates(min_value=D(1980, 1, 1), max_value=D(2200, 12, 31))


@given(days, st.integers(min_value=1, max_value=400))
def test_result_is_a_working_day_after_the_start(start: dt.date, n: int) -> None:
    end = add_working_days(start, n)
    assert is_working_day(end)
    assert end > start
    # Exactly n working days lie in (start, end].
    span = (end - start).days
    counted = sum(is_working_day(start + dt.timedelta(days=k)) for k in range(1, span + 1))
    assert counted == n


@given(days, st.integers(min_value=0, max_value=400))
def test_adding_n_twice_is_adding_2n(start: dt.date, n: int) -> None:
    assert add_working_days(add_working_days(start, n), n) == add_working_days(start, 2 * n)


@given(st.integers(min_value=1978, max_value=2300))
def test_every_year_has_its_holidays_on_weekdays(year: int) -> None:
    holidays = bank_holidays(year)
    assert len(holidays) >= 8
    assert all(day.weekday() < 5 and day.year == year for day in holidays)
