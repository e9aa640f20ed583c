"""Rotas: who is on call for a patch at a moment, from shifts in local time and dated overrides.

Shifts are wall-clock times in the rota's IANA zone (Europe/London by default), so "08:00 to
20:00" means eight in the morning on both sides of a clock change: the night shift that spans
the spring change is an hour shorter and the autumn one an hour longer, as a real rota is. A
shift whose end is not after its start runs past midnight into the next day. An override (a
swap, a holiday cover) replaces the shifts for its span.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["WEEKDAYS", "Override", "Rota", "Shift", "on_call", "rota_for"]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Shift(BaseModel):
    """People on call on some weekdays between two local times, in order (first = on call)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: tuple[Weekday, ...] = WEEKDAYS
    start: dt.time
    end: dt.time  # not after `start`: the shift ends the next day
    people: tuple[str, ...] = Field(min_length=1)

    def covers(self, local: dt.datetime) -> bool:
        day = WEEKDAYS[local.weekday()]
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        t = local.time()
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        # Overnight: from `start` on one of `days` until `end` the next morning.
        return (day in self.days and t >= self.start) or (yesterday in self.days and t < self.end)


class Override(BaseModel):
    """A dated span (local wall-clock times) with other people on call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: dt.datetime
    end: dt.datetime
    people: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("override times are local wall-clock times: give no zone")
        if self.end <= self.start:
            raise ValueError(f"override ends ({self.end}) before it starts ({self.start})")
        return self


class Rota(BaseModel):
    """One team's on-call rota for some patches ("*" for every patch)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    patches: tuple[str, ...] = ("*",)
    timezone: str = "Europe/London"
    team_lead: str | None = None
    shifts: tuple[Shift, ...] = ()
    overrides: tuple[Override, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/London)") from exc
        return value

    def people(self) -> set[str]:
        named = {p for s in self.shifts for p in s.people}
        named |= {p for o in self.overrides for p in o.people}
        return named | ({self.team_lead} if self.team_lead else set())


def on_call(rota: Rota, at: dt.datetime) -> tuple[str, ...]:
    """Who is on call on `rota` at the moment `at` (aware), in order; () when nobody is."""
    if at.tzinfo is None:
        raise ValueError("on_call needs an aware time")
    local = at.astimezone(ZoneInfo(rota.timezone)).replace(tzinfo=None)
    for override in rota.overrides:
        if override.start <= local < override.end:
            return override.people
    seen: list[str] = []
    for shift in rota.shifts:
        if shift.covers(local):
            seen += [p for p in shift.people if p not in seen]
    return tuple(seen)


def rota_for(rotas: Sequence[Rota], patch: str | None) -> Rota | None:
    """The rota for a patch: one naming it, else one for every patch ("*")."""
    for rota in rotas:
        if patch is not None and patch in rota.patches:
            return rota
    for rota in rotas:
        if "*" in rota.patches:
            return rota
    return None
