"""Bank holidays in England and Wales, computed offline, and working-day arithmetic over them.

The rules (GOV.UK "UK bank holidays"; Banking and Financial Dealings Act 1971 and the annual
royal proclamations): New Year's Day, Good Friday, Easter Monday, the first and last Mondays of
May, the last Monday of August, Christmas Day and Boxing Day. A fixed-date holiday that falls on
a weekend moves to the next weekday that is not already a holiday (the "substitute day").
Proclamations have moved or added days; those are listed below as data.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

__all__ = [
    "ADDED_HOLIDAYS",
    "MOVED_HOLIDAYS",
    "add_working_days",
    "bank_holidays",
    "easter_sunday",
    "is_working_day",
]

# One-off extra bank holidays by proclamation.
ADDED_HOLIDAYS: frozenset[dt.date] = frozenset(
    {
        dt.date(1999, 12, 31),  # Millennium
        dt.date(2002, 6, 3),  # Golden Jubilee
        dt.date(2011, 4, 29),  # Royal wedding
        dt.date(2012, 6, 5),  # Diamond Jubilee
        dt.date(2022, 6, 3),  # Platinum Jubilee
        dt.date(2022, 9, 19),  # State funeral of Queen Elizabeth II
        dt.date(2023, 5, 8),  # Coronation of King Charles III
    }
)

# Regular holidays a proclamation moved: the rule's date -> the day actually given.
MOVED_HOLIDAYS: dict[dt.date, dt.date] = {
    dt.date(1995, 5, 1): dt.date(1995, 5, 8),  # early May moved for VE Day's 50th
    dt.date(2002, 5, 27): dt.date(2002, 6, 4),  # spring moved for the Golden Jubilee
    dt.date(2012, 5, 28): dt.date(2012, 6, 4),  # spring moved for the Diamond Jubilee
    dt.date(2020, 5, 4): dt.date(2020, 5, 8),  # early May moved for VE Day's 75th
    dt.date(2022, 5, 30): dt.date(2022, 6, 2),  # spring moved for the Platinum Jubilee
}


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _first_monday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(7 - first.weekday()) % 7)


def _last_monday(year: int, month: int) -> dt.date:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    last = following - dt.timedelta(days=1)
    return last - dt.timedelta(days=last.weekday())


@lru_cache(maxsize=512)
def bank_holidays(year: int) -> frozenset[dt.date]:
    """Every bank holiday in England and Wales in `year` (valid from 1978, the first early May)."""
    easter = easter_sunday(year)
    movable = [
        easter - dt.timedelta(days=2),
        easter + dt.timedelta(days=1),
        _first_monday(year, 5),
        _last_monday(year, 5),
        _last_monday(year, 8),
    ]
    days = {MOVED_HOLIDAYS.get(day, day) for day in movable}
    # Fixed dates in calendar order, so Boxing Day's substitute steps past Christmas Day's.
    for fixed in (dt.date(year, 1, 1), dt.date(year, 12, 25), dt.date(year, 12, 26)):
        day = fixed
        while day.weekday() >= 5 or day in days:
            day += dt.timedelta(days=1)
        days.add(day)
    days |= {day for day in ADDED_HOLIDAYS if day.year == year}
    return frozenset(days)


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday and not a bank holiday in England and Wales."""
    return day.weekday() < 5 and day not in bank_holidays(day.year)


def add_working_days(start: dt.date, n: int) -> dt.date:
    """The `n`th working day after `start` (`start` itself never counts); `start` when n is 0."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, not {n}")
    day = start
    while n:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day
