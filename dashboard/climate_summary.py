"""The InfluxDB half of the estate summary: each home's room-hours too cold or too hot this
week, its worst room's mould index and its last reading, read a slice of homes at a time.

A week of every room of 50,000 homes is 33.6 million hourly means. Asked for in one InfluxQL
subquery, InfluxDB 1.x holds all of it at once: 5,000 homes of hourly data took 67 s and
1.7 GB there, so the estate would not finish. Here each query covers `homes_per_query` homes
and at most `HOURS_PER_QUERY` clock hours and returns hourly means, counted against the limits
in this process; the counts are kept per completed clock hour (one byte per home and hour, a
numpy array), so a pass reads only the hours it has not read, the last `recheck_h` again (late
points), and any hour last read more than `rebuild_s` ago (points held back longer, such as a
gateway's queue after an outage). Memory stays flat in both processes as the estate grows.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hof.influx import InfluxClient

__all__ = ["HOURS_PER_QUERY", "WEEK_H", "Climate", "ClimateTracker", "PassFigures"]

WEEK_H = 168
HOURS_PER_QUERY = 24
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
    return "(" + " OR ".join(f"home = {_literal(h)}" for h in homes) + ")"


def _runs(hours: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive hours (epoch seconds, sorted) as [start, end) spans of at most a day."""
    i = 0
    while i < len(hours):
        j = i
        while (
            j + 1 < len(hours) and hours[j + 1] == hours[j] + 3600 and j + 1 - i < HOURS_PER_QUERY
        ):
            j += 1
        yield hours[i], hours[j] + 3600
        i = j + 1


@dataclass
class ClimateTracker:
    """One dashboard's running counts; `run_pass` brings them up to date and returns a view."""

    cold_c: float
    hot_c: float
    recheck_h: int = 3
    rebuild_s: float = 86_400.0
    homes_per_query: int = 500
    mould_window_h: int = 48
    index: dict[str, int] = field(default_factory=dict)  # home -> column, only ever appended
    hours: dict[int, Counts] = field(default_factory=dict)  # hour start (epoch s) -> counts
    read_at: dict[int, float] = field(default_factory=dict)  # hour -> when it was last read
    last_reading: dict[str, dt.datetime] = field(default_factory=dict)
    last_pass: dt.datetime | None = None

    def due(self, now: dt.datetime) -> list[int]:
        """The completed hours of the week that this pass should read."""
        end = int(now.timestamp()) // 3600 * 3600  # the current hour is not over: left out
        window = range(end - WEEK_H * 3600, end, 3600)
        recheck = end - self.recheck_h * 3600
        stale = time.monotonic() - self.rebuild_s
        return [
            h for h in window if h not in self.read_at or h >= recheck or self.read_at[h] < stale
        ]

    async def run_pass(
        self, influx: InfluxClient, homes: Sequence[str], now: dt.datetime
    ) -> tuple[Climate, PassFigures]:
        began = time.perf_counter()
        for home in homes:
            self.index.setdefault(home, len(self.index))
        slices = [
            homes[i : i + self.homes_per_query] for i in range(0, len(homes), self.homes_per_query)
        ]
        queries = values = 0
        due = self.due(now)
        for start, end in _runs(due):
            # Counted into a fresh array and swapped in only when every slice has answered,
            # so a failure part way leaves the hours as they were (and due next pass).
            span = np.zeros(((end - start) // 3600, 2, len(self.index)), np.uint16)
            for chunk in slices:
                values += await self._count_hours(influx, chunk, start, end, span)
                queries += 1
            read = time.monotonic()
            for k, counts in enumerate(np.minimum(span, 255).astype(np.uint8)):
                self.hours[start + k * 3600] = counts
                self.read_at[start + k * 3600] = read
        mould: dict[str, tuple[float, str]] = {}
        last: dict[str, dt.datetime] = {}
        week_start = now - dt.timedelta(hours=WEEK_H)
        # The last reading since the last pass (an hour's margin), or since the oldest hour
        # this pass reads: the readings a rebuild finds late may be a home's newest.
        since = week_start
        if self.last_pass is not None:
            since = max(week_start, self.last_pass - dt.timedelta(hours=1))
        if due:
            since = min(since, dt.datetime.fromtimestamp(due[0], dt.UTC))
        for chunk in slices:
            await self._mould(influx, chunk, now, mould)
            await self._last(influx, chunk, since, last)
            queries += 2
        for home, at in last.items():
            if home not in self.last_reading or at > self.last_reading[home]:
                self.last_reading[home] = at
        self.last_reading = {h: t for h, t in self.last_reading.items() if t >= week_start}
        self.last_pass = now
        figures = PassFigures(len(due), queries, values, time.perf_counter() - began)
        return self._view(now, mould), figures

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
            f"AND time >= {start}s AND time < {end}s GROUP BY time(1h), home, room fill(none)"
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
            f"AND time > {since}s GROUP BY home, room"
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
            f"AND time > {int(since.timestamp())}s GROUP BY home"
        )
        for s in series:
            home = s.get("tags", {}).get("home", "")
            if home and s.get("values"):
                out[home] = dt.datetime.fromtimestamp(s["values"][0][0] / 1000, dt.UTC)

    def _view(self, now: dt.datetime, mould: dict[str, tuple[float, str]]) -> Climate:
        end = int(now.timestamp()) // 3600 * 3600
        for h in [h for h in self.hours if h < end - WEEK_H * 3600]:
            del self.hours[h], self.read_at[h]
        total = np.zeros((2, len(self.index)), np.uint32)
        for counts in self.hours.values():
            total[:, : counts.shape[1]] += counts
        names = list(self.index)
        cold = {names[j]: int(total[0, j]) for j in np.flatnonzero(total[0])}
        hot = {names[j]: int(total[1, j]) for j in np.flatnonzero(total[1])}
        return Climate(cold, hot, mould, dict(self.last_reading), at=now)


def _first_value(series: Mapping[str, Any]) -> float | None:
    values = series.get("values") or []
    if not values or values[0][1] is None:
        return None
    return float(values[0][1])
