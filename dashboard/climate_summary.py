"""The InfluxDB half of the estate summary: each home's room-hours too cold or too hot this
week, its worst room's mould index and its last reading, read a slice of homes at a time.

A week of every room of 50,000 homes is 33.6 million hourly means. Asked for in one InfluxQL
subquery, InfluxDB 1.x holds all of it at once (5,000 homes took 67 s and 1.7 GB there), so
here each query covers a slice of homes and returns hourly means, counted against the limits in
this process and kept per completed clock hour (one byte per home and hour, a numpy array).
InfluxDB's cost goes with the series a query touches (about 50 µs each), so a pass reads only
the hours that are due: each hour once when it ends, once more `recheck_h` later (points that
arrived late), and again when its last read is `rebuild_s` old (a gateway's queue delivered
after an outage); the mould index (written once an hour) when an hour was read; the last
reading each pass, from the last pass on. Memory stays bounded in both processes: a query's
answer by its slice, this process's counts by a byte per home and hour.

At start the week is read again at `fill_marks_s` after the first pass (1, 3, 10 and 30
minutes): history that lands just after the dashboard starts (a gateway's queue, `hof demo`'s
backfill of a day) was otherwise counted as empty until the day's rebuild, and the overview
said "0 hours too cold" and "Mould index: no data" beside a home page full of readings.
While `filling`, the caller runs passes at its quick pace, so the last reading keeps up too.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hof.influx import InfluxClient

__all__ = ["HOME_HOURS_PER_QUERY", "WEEK_H", "Climate", "ClimateTracker", "PassFigures"]

WEEK_H = 168
HOME_HOURS_PER_QUERY = 24_000
_HOUR_MS = 3_600_000

Counts = npt.NDArray[np.uint8]  # shape (2, homes): rooms too cold, rooms too hot in one hour


@dataclass(frozen=True, slots=True)
class Climate:
    """What InfluxDB said of each home at the end of a pass (absent: no data)."""

    cold_hours: Mapping[str, int] = field(default_factory=dict)
    hot_hours: Mapping[str, int] = field(default_factory=dict)
    mould: Mapping[str, tuple[float, str]] = field(default_factory=dict)  # (index, room)
    last_reading: Mapping[str, dt.datetime] = field(default_factory=dict)
    at: dt.datetime | None = None  # None: carried over from the table after a restart


@dataclass(frozen=True, slots=True)
class PassFigures:
    hours_read: int
    queries: int
    values: int
    seconds: float


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _homes_clause(homes: Sequence[str]) -> str:
    # Equalities joined by OR are index lookups in InfluxDB; a regex alternation of the same
    # homes is matched against every home in the index, once per query.
    return "(" + " OR ".join(f'"home"::tag = {_literal(h)}' for h in homes) + ")"


@dataclass
class ClimateTracker:
    """One dashboard's running counts; `run_pass` brings them up to date and returns a view."""

    cold_c: float
    hot_c: float
    recheck_h: int = 2
    rebuild_s: float = 86_400.0
    homes_per_query: int = 500
    mould_window_h: int = 48
    index: dict[str, int] = field(default_factory=dict)  # home -> column, only ever appended
    hours: dict[int, Counts] = field(default_factory=dict)  # hour start (epoch s) -> counts
    read_at: dict[int, float] = field(default_factory=dict)  # hour -> when read (epoch s)
    mould: dict[str, tuple[float, str]] = field(default_factory=dict)
    last_reading: dict[str, dt.datetime] = field(default_factory=dict)
    last_pass: dt.datetime | None = None
    fill_marks_s: tuple[float, ...] = (60.0, 180.0, 600.0, 1800.0)
    first_pass: float | None = None  # epoch s

    def filling(self, now: dt.datetime) -> bool:
        """True until the last of the start-up re-reads is done (or before the first pass)."""
        if self.first_pass is None:
            return True
        return now.timestamp() - self.first_pass <= max(self.fill_marks_s, default=0.0)

    def _fill_mark(self, t: float) -> float | None:
        """The latest start-up re-read mark at or before `t` (epoch s), while filling."""
        if self.first_pass is None or t - self.first_pass > max(self.fill_marks_s, default=0.0):
            return None
        passed = [self.first_pass + m for m in self.fill_marks_s if self.first_pass + m <= t]
        return max(passed) if passed else None

    def due(self, now: dt.datetime) -> list[int]:
        """The completed hours of the week that a pass at `now` should read: those not read
        yet, those read before `recheck_h` had passed since they ended (once more, for late
        points), and those read more than `rebuild_s` ago."""
        t = now.timestamp()
        end = int(t) // 3600 * 3600  # the current hour is not over: left out
        late = self.recheck_h * 3600
        mark = self._fill_mark(t)
        out = []
        for h in range(end - WEEK_H * 3600, end, 3600):
            read = self.read_at.get(h)
            ended = h + 3600
            if (
                read is None
                or (read < ended + late <= t)
                or t - read >= self.rebuild_s
                or (mark is not None and read < mark)
            ):
                out.append(h)
        return out

    async def run_pass(
        self, influx: InfluxClient, homes: Sequence[str], now: dt.datetime
    ) -> tuple[Climate, PassFigures]:
        """Read what is due; InfluxDB's cost is about 50 µs per series (home, device, room)
        and query, whatever the hours, so the hours due are read in one span."""
        began = time.perf_counter()
        if self.first_pass is None:
            self.first_pass = now.timestamp()
        for home in homes:
            self.index.setdefault(home, len(self.index))
        queries = values = hours = 0
        due = self.due(now)
        if due:
            # One span from the first hour due to the last: the hours between cost nothing more.
            start, end = due[0], due[-1] + 3600
            hours = (end - start) // 3600
            # At most ~24,000 home-hours an answer (~100,000 hourly means, a few MB of JSON).
            size = max(1, min(self.homes_per_query, HOME_HOURS_PER_QUERY // hours))
            # Counted into a fresh array and swapped in only when every slice has answered,
            # so a failure part way leaves the hours as they were (and due next pass).
            span = np.zeros((hours, 2, len(self.index)), np.uint16)
            for i in range(0, len(homes), size):
                values += await self._count_hours(influx, homes[i : i + size], start, end, span)
                queries += 1
            read = now.timestamp()
            for k, counts in enumerate(np.minimum(span, 255).astype(np.uint8)):
                self.hours[start + k * 3600] = counts
                self.read_at[start + k * 3600] = read
        slices = [
            homes[i : i + self.homes_per_query] for i in range(0, len(homes), self.homes_per_query)
        ]
        if due or self.last_pass is None:
            # The rules engine writes a room's index once a clock hour: a new hour, a new view.
            mould: dict[str, tuple[float, str]] = {}
            for chunk in slices:
                await self._mould(influx, chunk, now, mould)
                queries += 1
            self.mould = mould
        week_start = now - dt.timedelta(hours=WEEK_H)
        # The last reading since the last pass (an hour's margin), or since the oldest hour
        # this pass reads: the readings a rebuild finds late may be a home's newest.
        since = week_start
        if self.last_pass is not None:
            since = max(week_start, self.last_pass - dt.timedelta(hours=1))
        if due:
            since = min(since, dt.datetime.fromtimestamp(due[0], dt.UTC))
        last: dict[str, dt.datetime] = {}
        for chunk in slices:
            await self._last(influx, chunk, since, last)
            queries += 1
        for home, at in last.items():
            if home not in self.last_reading or at > self.last_reading[home]:
                self.last_reading[home] = at
        self.last_reading = {h: t for h, t in self.last_reading.items() if t >= week_start}
        self.last_pass = now
        figures = PassFigures(hours, queries, values, time.perf_counter() - began)
        return self._view(now), figures

    async def _count_hours(
        self,
        influx: InfluxClient,
        homes: Sequence[str],
        start: int,
        end: int,
        span: npt.NDArray[np.uint16],
    ) -> int:
        series = await influx.query(
            f"SELECT mean(temperature) FROM reading WHERE {_homes_clause(homes)} "
            f"AND time >= {start}s AND time < {end}s "
            'GROUP BY time(1h), "home"::tag, "room"::tag fill(none)'
        )
        slot: list[int] = []
        column: list[int] = []
        means: list[float] = []
        for s in series:
            j = self.index.get(s.get("tags", {}).get("home", ""))
            if j is None:
                continue
            for t, mean in s.get("values", []):
                if mean is not None:
                    slot.append(int(t) // _HOUR_MS - start // 3600)
                    column.append(j)
                    means.append(float(mean))
        if means:
            hour, home, mean = np.asarray(slot), np.asarray(column), np.asarray(means)
            cold, hot = mean < self.cold_c, mean > self.hot_c
            np.add.at(span[:, 0, :], (hour[cold], home[cold]), 1)
            np.add.at(span[:, 1, :], (hour[hot], home[hot]), 1)
        return len(means)

    async def _mould(
        self,
        influx: InfluxClient,
        homes: Sequence[str],
        now: dt.datetime,
        out: dict[str, tuple[float, str]],
    ) -> None:
        since = int(now.timestamp()) - self.mould_window_h * 3600
        series = await influx.query(
            f"SELECT last(mould_index) FROM mould WHERE {_homes_clause(homes)} "
            f'AND time > {since}s GROUP BY "home"::tag, "room"::tag'
        )
        for s in series:
            tags = s.get("tags", {})
            home, room = tags.get("home", ""), tags.get("room", "")
            value = _first_value(s)
            if home and value is not None and value > out.get(home, (-1.0, ""))[0]:
                out[home] = (float(value), room)

    async def _last(
        self,
        influx: InfluxClient,
        homes: Sequence[str],
        since: dt.datetime,
        out: dict[str, dt.datetime],
    ) -> None:
        series = await influx.query(
            f"SELECT last(temperature) FROM reading WHERE {_homes_clause(homes)} "
            f'AND time > {int(since.timestamp())}s GROUP BY "home"::tag'
        )
        for s in series:
            home = s.get("tags", {}).get("home", "")
            if home and s.get("values"):
                out[home] = dt.datetime.fromtimestamp(s["values"][0][0] / 1000, dt.UTC)

    def _view(self, now: dt.datetime) -> Climate:
        end = int(now.timestamp()) // 3600 * 3600
        for h in [h for h in self.hours if h < end - WEEK_H * 3600]:
            del self.hours[h], self.read_at[h]
        total = np.zeros((2, len(self.index)), np.uint32)
        for counts in self.hours.values():
            total[:, : counts.shape[1]] += counts
        names = list(self.index)
        cold = {names[j]: int(total[0, j]) for j in np.flatnonzero(total[0])}
        hot = {names[j]: int(total[1, j]) for j in np.flatnonzero(total[1])}
        return Climate(cold, hot, self.mould, dict(self.last_reading), at=now)


def _first_value(series: Mapping[str, Any]) -> float | None:
    values = series.get("values") or []
    if not values or values[0][1] is None:
        return None
    return float(values[0][1])
