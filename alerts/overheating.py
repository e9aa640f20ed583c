"""Overheating as CIBSE publishes it: TM59's bedroom criterion and TM52's adaptive criteria,
judged hour by hour over the periods they define.

CIBSE TM59 (2017), "Design methodology for the assessment of overheating risk in homes":
  (b) bedrooms: the operative temperature from 22:00 to 07:00 shall not exceed 26 °C for more
      than 1 % of annual hours (3,285 night hours a year: 32.85 h, so the 33rd hour fails).
CIBSE TM52 (2013), "The limits of thermal comfort: avoiding overheating in European
buildings", for the occupied hours of May to September (TM59's living room and kitchen
occupancy: 09:00-22:00), with ΔT = Top - Tmax rounded to a whole degree and the Category II
limit Tmax = 0.33 Trm + 21.8 (BS EN 15251: 18.8 + 3 K), Trm the running mean of the daily mean
outdoor temperature, Trm = (T-1 + 0.8 T-2 + 0.6 T-3 + 0.5 T-4 + 0.4 T-5 + 0.3 T-6 + 0.2 T-7)
/ 3.8 (TM52's approximation, α = 0.8):
  1. hours of exceedance: ΔT >= 1 K for no more than 3 % of occupied hours;
  2. daily weighted exceedance: We = Σ he × WF, WF = ΔT for ΔT > 0 (else 0), at most 6 in any
     one day;
  3. upper limit: ΔT shall not exceed 4 K in any hour.
A room that fails any two of the three is overheating (TM52 section 6.1.2). The sensor's air
temperature stands in for the operative temperature (no globe thermometer is fitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = [
    "NIGHT_HOURS_A_YEAR",
    "SEASON_OCCUPIED_HOURS",
    "Overheat",
    "Verdict",
    "running_mean",
    "t_max",
]

NIGHT_HOURS_A_YEAR = 365 * 9  # 22:00-07:00
SEASON_OCCUPIED_HOURS = (31 + 30 + 31 + 31 + 30) * 13  # May-September, 09:00-22:00
_WEIGHTS = (1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r:.40}")
    return float(value)


def _whole(value: object) -> int:
    number = _number(value)
    if number != int(number):
        raise ValueError(f"not a whole number: {value!r:.40}")
    return int(number)


def running_mean(daily_means: list[float | None]) -> float | None:
    """TM52's running mean from the last seven days' mean outdoor temperatures, newest first;
    None unless at least five of the seven are known (the weights are scaled to those)."""
    known = [(w, t) for w, t in zip(_WEIGHTS, daily_means, strict=False) if t is not None]
    if len(known) < 5:
        return None
    return sum(w * t for w, t in known) / sum(w for w, _ in known)


def t_max(trm: float) -> float:
    """TM52 / BS EN 15251 Category II upper comfort limit (°C)."""
    return 0.33 * trm + 21.8


@dataclass(frozen=True, slots=True)
class Verdict:
    """Where a room stands against its criterion: the severity it earns and why."""

    severity: str | None  # None, "watch" (one TM52 criterion failed) or "significant"
    words: str
    evidence: dict[str, object]


@dataclass
class Overheat:
    """One room's counts for the year (TM59) and the season (TM52), from hourly means."""

    bedroom: bool
    zone: str = "Europe/London"
    year: int = 0
    night_hours_over: int = 0
    occupied_hours: int = 0
    exceed_hours: int = 0
    worst_we: float = 0.0
    worst_dt: int | None = None
    day: str = ""
    day_we: float = 0.0
    no_trm_hours: int = 0
    # The start of the last hour counted (epoch s): an hour is counted once, so the counts
    # taken back after a restart (`from_fields`) and the replay of the hours since add up.
    last_start: float = -1.0

    def hour(self, start: float, mean_c: float, trm: float | None) -> None:
        """Count one clock hour (starting at `start`, epoch s) whose mean was `mean_c`; an
        hour at or before the last one counted is not counted again."""
        if start <= self.last_start:
            return
        self.last_start = start
        local = datetime.fromtimestamp(start, ZoneInfo(self.zone))
        if local.year != self.year:  # both criteria are this year's (TM52: this season's)
            fresh = Overheat(self.bedroom, self.zone, local.year, last_start=start)
            self.__dict__.update(fresh.__dict__)
        if self.bedroom:
            if (local.hour >= 22 or local.hour < 7) and mean_c > 26.0:
                self.night_hours_over += 1
            return
        if not (5 <= local.month <= 9 and 9 <= local.hour < 22):
            return
        if trm is None:
            self.no_trm_hours += 1
            return
        self.occupied_hours += 1
        dt = round(mean_c - t_max(trm))
        if dt >= 1:
            self.exceed_hours += 1
        day = local.date().isoformat()
        if day != self.day:
            self.day, self.day_we = day, 0.0
        self.day_we += max(dt, 0)
        self.worst_we = max(self.worst_we, self.day_we)
        self.worst_dt = dt if self.worst_dt is None else max(self.worst_dt, dt)

    def fields(self) -> dict[str, float | int | str]:
        """The counts, as the fields of the point the worker keeps in InfluxDB for a restart
        (its time is `last_start`)."""
        return {
            "year": self.year,
            "night_hours_over": self.night_hours_over,
            "occupied_hours": self.occupied_hours,
            "exceed_hours": self.exceed_hours,
            "worst_we": self.worst_we,
            "worst_dt": -999 if self.worst_dt is None else self.worst_dt,
            "day": self.day,
            "day_we": self.day_we,
            "no_trm_hours": self.no_trm_hours,
        }

    @classmethod
    def from_fields(
        cls, bedroom: bool, last_start: float, fields: dict[str, object]
    ) -> Overheat | None:
        """The counts `fields` kept, as of the hour starting at `last_start`; None if they are
        not whole (a point of another version, or written by hand)."""
        try:
            worst_dt = _whole(fields["worst_dt"])
            return cls(
                bedroom,
                year=_whole(fields["year"]),
                night_hours_over=_whole(fields["night_hours_over"]),
                occupied_hours=_whole(fields["occupied_hours"]),
                exceed_hours=_whole(fields["exceed_hours"]),
                worst_we=_number(fields["worst_we"]),
                worst_dt=None if worst_dt == -999 else worst_dt,
                day=str(fields["day"]),
                day_we=_number(fields["day_we"]),
                no_trm_hours=_whole(fields["no_trm_hours"]),
                last_start=last_start,
            )
        except (KeyError, ValueError):
            return None

    def severity(self) -> str | None:
        """The verdict's severity alone, as the rules grade the room at every hour: its words
        and evidence, built and thrown away at each, were a twentieth of the rules' cost."""
        if self.bedroom:
            return "significant" if self.night_hours_over > 0.01 * NIGHT_HOURS_A_YEAR else None
        failed = self._failed()
        return "significant" if len(failed) >= 2 else "watch" if failed else None

    def _failed(self) -> list[str]:
        """TM52's criteria this room fails, by name."""
        allowed = 0.03 * SEASON_OCCUPIED_HOURS
        criteria = {
            "hours of exceedance": self.exceed_hours > allowed,
            "daily weighted exceedance": self.worst_we > 6,
            "upper limit": self.worst_dt is not None and self.worst_dt > 4,
        }
        return [name for name, bad in criteria.items() if bad]

    def verdict(self) -> Verdict:
        if self.bedroom:
            allowed = 0.01 * NIGHT_HOURS_A_YEAR
            failed = self.severity() is not None
            words = (
                f"above 26 °C for {self.night_hours_over} night hours (22:00-07:00) this year, "
                f"more than TM59's 1 % ({allowed:.0f} h)"
                if failed
                else f"above 26 °C for {self.night_hours_over} night hours this year "
                f"(TM59 allows {allowed:.0f})"
            )
            return Verdict(
                self.severity(),
                words,
                {"tm59_night_hours_over_26": self.night_hours_over, "tm59_allowed": allowed},
            )
        allowed = 0.03 * SEASON_OCCUPIED_HOURS
        names = self._failed()
        evidence: dict[str, object] = {
            "tm52_exceed_hours": self.exceed_hours,
            "tm52_allowed_hours": round(allowed, 1),
            "tm52_worst_daily_we": self.worst_we,
            "tm52_worst_dt": self.worst_dt,
            "tm52_failed": names,
            "tm52_hours_without_running_mean": self.no_trm_hours,
        }
        words = (
            f"fails TM52's {' and '.join(names)} criteria this summer "
            f"({self.exceed_hours} occupied hours 1 K or more above the adaptive limit, "
            f"TM52 allows {allowed:.0f}; worst day's weighted exceedance {self.worst_we:g}, "
            f"limit 6; worst hour {self.worst_dt} K above, limit 4)"
        )
        return Verdict(self.severity(), words, evidence)
