"""The outdoor air the rules use, from somewhere real: a sensor or a weather service.

CONTRACT.md: a device mapped to room `outdoor` measures outdoors; its temperature and humidity
are its home's outdoor air, and (for the homes without one) the estate's. A weather service's
hourly series (`alerts/weather.py`, temperature only) stands in where no sensor has reported
lately. When none of them knows, `at` says so (None) and the rules do not estimate a wall
surface: a guessed 5 °C all year made a July bedroom at 23 °C and 65 % a significant damp case.
The outdoor humidity lets the damp rule judge the air on the vapour the home itself adds
(ISO 13788's humidity classes): humid summer air indoors is not a damp home.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hof.climate import vapour_pressure

__all__ = ["FRESH_S", "OUTDOOR_ROOM", "Outdoor", "OutdoorTemperatures"]

OUTDOOR_ROOM = "outdoor"
FRESH_S = 3 * 3600.0  # an outdoor figure older than this says little about the hour now
_KEEP_HOURS = 24 * 35  # hourly means kept per source: a month for TM52's running mean


@dataclass(frozen=True, slots=True)
class Outdoor:
    """An outdoor temperature and where it came from (said in the case's evidence), and the
    outdoor relative humidity (%) where a source that is fresh reported one."""

    temperature: float
    source: str  # "home sensor", "estate sensor" or "weather service"
    humidity: float | None = None
    # Worked out once: every room of a home (of an estate, on its sensor) asks for it.
    _vapour: float | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.humidity is not None:
            vapour = float(vapour_pressure(self.temperature, self.humidity))
            object.__setattr__(self, "_vapour", vapour)

    @property
    def vapour_pressure(self) -> float | None:
        """The outdoor air's water vapour pressure (Pa), when its humidity is known."""
        return self._vapour


@dataclass
class _Hourly:
    """Hourly means of one source, bounded to the last `_KEEP_HOURS` clock hours."""

    sums: dict[int, tuple[float, int]] = field(default_factory=dict)

    def add(self, t: float, value: float) -> None:
        hour = int(t // 3600)
        total, n = self.sums.get(hour, (0.0, 0))
        self.sums[hour] = (total + value, n + 1)
        if len(self.sums) > _KEEP_HOURS:
            for old in sorted(self.sums)[: len(self.sums) - _KEEP_HOURS]:
                del self.sums[old]

    def set(self, hour: int, value: float) -> None:
        self.sums[hour] = (value, 1)
        if len(self.sums) > _KEEP_HOURS:
            for old in sorted(self.sums)[: len(self.sums) - _KEEP_HOURS]:
                del self.sums[old]

    def at(self, t: float) -> float | None:
        """The mean of the newest hour at or before `t`, if within FRESH_S of it."""
        hour = int(t // 3600)
        for back in range(int(FRESH_S // 3600) + 1):
            found = self.sums.get(hour - back)
            if found is not None:
                return found[0] / found[1]
        return None

    def mean(self, first_hour: int, last_hour: int) -> float | None:
        values = [s / n for h, (s, n) in self.sums.items() if first_hour <= h <= last_hour]
        return sum(values) / len(values) if values else None


@dataclass
class OutdoorTemperatures:
    """Outdoor temperatures by source; `at(home, t)` picks the best one that is fresh."""

    homes: dict[str, _Hourly] = field(default_factory=dict)
    estate: _Hourly = field(default_factory=_Hourly)
    weather: _Hourly = field(default_factory=_Hourly)
    # Relative humidity (%) by source, hourly means as for the temperatures.
    homes_rh: dict[str, _Hourly] = field(default_factory=dict)
    estate_rh: _Hourly = field(default_factory=_Hourly)

    def observe(self, home: str, t: float, value: float) -> None:
        """A temperature reading of an outdoor sensor of `home`."""
        self.homes.setdefault(home, _Hourly()).add(t, value)
        self.estate.add(t, value)

    def observe_humidity(self, home: str, t: float, value: float) -> None:
        """A humidity reading (%) of an outdoor sensor of `home`."""
        self.homes_rh.setdefault(home, _Hourly()).add(t, value)
        self.estate_rh.add(t, value)

    def observe_reading(self, home: str, name: str, t: float, value: object) -> None:
        """Any reading of an outdoor sensor of `home`: its temperature and humidity are the
        outdoor air's; anything else it reports is not."""
        if not isinstance(value, float):
            return
        if name == "temperature":
            self.observe(home, t, value)
        elif name == "humidity":
            self.observe_humidity(home, t, value)

    def forecast(self, hours: dict[int, float]) -> None:
        """A weather service's hourly temperatures (clock hour since the epoch -> °C)."""
        for hour, value in hours.items():
            self.weather.set(hour, value)

    def at(self, home: str, t: float) -> Outdoor | None:
        """The freshest source's temperature, with the humidity of the same source (or, when
        it reports none, of the next sensor that does: the estate's air is one air)."""
        own = self.homes.get(home)
        own_rh = self.homes_rh.get(home)
        for source, series, rh_series in (
            ("home sensor", own, own_rh),
            ("estate sensor", self.estate, self.estate_rh),
            ("weather service", self.weather, None),
        ):
            value = series.at(t) if series is not None else None
            if value is not None:
                rh = rh_series.at(t) if rh_series is not None else None
                if rh is None and source != "estate sensor":
                    rh = self.estate_rh.at(t)
                return Outdoor(value, source, rh)
        return None

    def daily_means(self, home: str, t: float, days: int) -> list[float | None]:
        """Mean outdoor temperature of each of the `days` whole days before `t`, newest first
        (for TM52's running mean); None for a day no source covers."""
        today = int(t // 86400)
        out: list[float | None] = []
        own = self.homes.get(home)
        for back in range(1, days + 1):
            first = (today - back) * 24
            value = None
            for series in (own, self.estate, self.weather):
                if series is not None and (value := series.mean(first, first + 23)) is not None:
                    break
            out.append(value)
        return out
