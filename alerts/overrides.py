"""Per-home, per-room and per-tenant settings: a TOML file of overrides on the estate's
thresholds, loaded by the rules engine (`HOF_ALERTS__OVERRIDES_FILE`).

    [homes."LCC-004512"]
    vulnerable = true              # a tenant known to be vulnerable to cold: raise earlier
    inactivity_by_hour = 15        # a night worker: "no movement by 15:00", from 11:00
    morning_from_hour = 11

    walls = "poor"                 # the stock record's wall class: fRsi 0.6

    [homes."LCC-004512".rooms.bedroom]
    f_rsi = 0.55                   # a surveyed cold corner

Any field of `Thresholds` may be given for a home (top level of its table) or a room (under
`rooms.<room>`); a room inherits its home's, a home the estate's. `walls` names the wall
class a landlord's stock record gives (`hof.climate.WALL_F_RSI`), where the fRsi is not known
as a figure. Every home and room is resolved and validated when the file is loaded, so a bad
file refuses to start.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alerts.thresholds import Band, BandedRule, Thresholds
from hof.climate import WALL_F_RSI, Walls
from hof.errors import ConfigError
from hof.settings import readable

__all__ = [
    "VULNERABLE_COLD",
    "HomeOverrides",
    "Overrides",
    "ThresholdBook",
    "load_overrides",
    "load_thresholds",
    "unmatched",
]

_WALLS = "walls"

# A tenant vulnerable to cold (65 and over, or a condition a cold home worsens): WHO 2018 and
# UKHSA advise 20-21 °C for older people rather than 18 °C, and HHSRS puts the most vulnerable
# at the greatest risk of each band; so each band is a step warmer and met sooner.
VULNERABLE_COLD = BandedRule(
    above=False,
    bands=[
        Band(severity="watch", limit=20.0, hours=12.0),
        Band(severity="significant", limit=18.0, hours=9.0),
        Band(severity="severe", limit=12.0, hours=1.0),
    ],
    clear_hours=6.0,
)
# And a day of it is enough: the cold rule's recurrence (below 16 °C on 5 days of a
# fortnight, for a home judged on the dwelling) would leave such a tenant cold for a week.
VULNERABLE_COLD_RECURS = {"watch": 1, "significant": 1}


class HomeOverrides(BaseModel):
    """One home's settings; the other keys are `Thresholds` fields."""

    model_config = ConfigDict(extra="allow")

    vulnerable: bool = False
    walls: Walls | None = None
    rooms: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        return _with_walls({**(self.model_extra or {}), _WALLS: self.walls})

    def room_fields(self, room: str) -> dict[str, Any]:
        return _with_walls(dict(self.rooms[room]))

    @model_validator(mode="after")
    def _known_names(self) -> HomeOverrides:
        known = set(Thresholds.model_fields) | {_WALLS}
        home = {**(self.model_extra or {}), _WALLS: self.walls}
        for where, names in [("home", home), *self.rooms.items()]:
            unknown = set(names) - known
            if unknown:
                raise ValueError(f"{where}: not a threshold: {', '.join(sorted(unknown))}")
            walls = names.get(_WALLS)
            if walls is not None and walls not in WALL_F_RSI:
                raise ValueError(f"{where}: walls {walls!r} is not one of {', '.join(WALL_F_RSI)}")
            if walls is not None and "f_rsi" in names:
                raise ValueError(f"{where}: give walls or f_rsi, not both")
        return self


def unmatched(overrides: Overrides, rooms: Mapping[tuple[str, str], str]) -> list[str]:
    """What the per-home settings name that no device is placed in, given the estate's
    (home, device) -> room: a misspelt home id or room name applies to nothing, and a
    vulnerable tenant's warmer cold bands with it, without a word. A home whose sensors are
    not installed yet is named too: the setting applies when they are."""
    homes: dict[str, set[str]] = {}
    for (home, _), room in rooms.items():
        homes.setdefault(home, set()).add(room)
    said = []
    for home, table in overrides.homes.items():
        placed = homes.get(home)
        if placed is None:
            said.append(
                f"home {home!r}: no device of that home is in a room (a misspelt home id, or "
                "sensors not installed yet)"
            )
            continue
        for room in sorted(set(table.rooms) - placed):
            said.append(
                f"home {home!r} room {room!r}: no device is in that room (its rooms: "
                f"{', '.join(sorted(placed))})"
            )
    return said


def _with_walls(fields: dict[str, Any]) -> dict[str, Any]:
    """The thresholds a table sets, its wall class given as the class's fRsi."""
    walls = fields.pop(_WALLS, None)
    if walls is not None:
        fields["f_rsi"] = WALL_F_RSI[walls]
    return fields


class Overrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    homes: dict[str, HomeOverrides] = Field(default_factory=dict)


def load_overrides(path: Path) -> Overrides:
    """The per-home settings file; one that cannot be read or is wrong is a ConfigError that
    names the file and each key (`hof alerts` says it in a line a key, not a traceback)."""
    try:
        with path.open("rb") as f:
            return Overrides.model_validate(tomllib.load(f))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"per-home settings {path}: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(readable(f"per-home settings {path}", exc)) from exc


def load_thresholds(path: Path) -> Thresholds:
    """The estate's thresholds file (`HOF_ALERTS__THRESHOLDS_FILE`), as `load_overrides`."""
    try:
        return Thresholds.model_validate_json(path.read_text())
    except OSError as exc:
        raise ConfigError(f"thresholds {path}: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(readable(f"thresholds {path}", exc)) from exc


@dataclass
class ThresholdBook:
    """The thresholds that apply to each home and room: the estate's, overridden."""

    estate: Thresholds
    overrides: Overrides = field(default_factory=Overrides)
    _homes: dict[str, Thresholds] = field(default_factory=dict)
    _rooms: dict[tuple[str, str], Thresholds] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for home, table in self.overrides.homes.items():
            self.for_home(home)
            for room in table.rooms:
                self.for_room(home, room)

    def for_home(self, home: str) -> Thresholds:
        table = self.overrides.homes.get(home)
        if table is None:
            return self.estate
        found = self._homes.get(home)
        if found is None:
            base: dict[str, Any] = self.estate.model_dump()
            if table.vulnerable:
                base["cold"] = VULNERABLE_COLD.model_dump()
                base["cold_recurs"] = dict(VULNERABLE_COLD_RECURS)
            found = self._homes[home] = Thresholds.model_validate({**base, **table.fields()})
        return found

    def for_room(self, home: str, room: str) -> Thresholds:
        table = self.overrides.homes.get(home)
        if table is None or room not in table.rooms:
            return self.for_home(home)
        found = self._rooms.get((home, room))
        if found is None:
            base = self.for_home(home).model_dump()
            found = Thresholds.model_validate({**base, **table.room_fields(room)})
            self._rooms[(home, room)] = found
        return found
