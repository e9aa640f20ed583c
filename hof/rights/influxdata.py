"""A home's points in InfluxDB: count them, read them, drop them, and rewrite them without a
withdrawn stream's fields (InfluxDB 1.x deletes series and time ranges, never one field)."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from hof.consent import Stream, stream_of
from hof.influx import InfluxClient
from hof.topic import is_valid_id

__all__ = [
    "MEASUREMENTS",
    "Series",
    "count_points",
    "drop_home",
    "home_series",
    "purge_streams",
]

# Every measurement the platform writes (docs/storage.md): raw, hourly, the mould index and
# the rules' overheating counts.
MEASUREMENTS = ("reading", "event", "mould", "overheat_counts", "reading_hourly", "event_hourly")
_WRITE_CHUNK = 5000


def _home(home: str) -> str:
    if not is_valid_id(home):  # the id goes into InfluxQL: only the contract's ids
        raise ValueError(f"{home!r:.80} is not a home id")
    return home


@dataclass(frozen=True)
class Series:
    """One series' points of a measurement: tags, column names and rows (time first, in ms)."""

    measurement: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]


async def home_series(
    influx: InfluxClient, home: str, measurement: str, *, before_ms: int | None = None
) -> list[Series]:
    """Every point of `home` in `measurement` (before `before_ms`), grouped by series."""
    when = f" AND time < {before_ms}ms" if before_ms is not None else ""
    found = await influx.query(
        f'SELECT * FROM "{measurement}" WHERE "home"::tag = \'{_home(home)}\'{when} GROUP BY *'
    )
    return [
        Series(measurement, dict(s.get("tags", {})), list(s["columns"]), list(s["values"]))
        for s in found
    ]


async def count_points(influx: InfluxClient, home: str) -> dict[str, int]:
    """Points per measurement held for `home` (a point counted once however many fields)."""
    counts: dict[str, int] = {}
    for measurement in MEASUREMENTS:
        total = sum(len(s.values) for s in await home_series(influx, home, measurement))
        if total:
            counts[measurement] = total
    return counts


async def drop_home(influx: InfluxClient, home: str) -> dict[str, int]:
    """Delete every point of `home` in every measurement; returns what was there."""
    held = await count_points(influx, home)
    if held:
        await influx.query(f"DROP SERIES WHERE \"home\" = '{_home(home)}'")
    return held


def _key(text: str) -> str:
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        # Every number the platform writes is a float (ingest/lineprotocol.py); InfluxDB's
        # JSON prints 18.0 as 18, so write it back with its decimal point.
        return repr(number) if math.isfinite(number) else None
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _lines(series: Series, dropped: Collection[str]) -> list[str]:
    tags = "".join(f",{_key(k)}={_key(v)}" for k, v in sorted(series.tags.items()) if v)
    head = f"{_key(series.measurement)}{tags}"
    lines: list[str] = []
    for row in series.values:
        fields = [
            f"{_key(name)}={text}"
            for name, value in zip(series.columns[1:], row[1:], strict=True)
            if name not in dropped and (text := _value(value)) is not None
        ]
        if fields:
            lines.append(f"{head} {','.join(fields)} {int(row[0])}")
    return lines


def _raw_name(column: str) -> str:
    """The SenML name behind a column: an hourly aggregate's `mean_x` or `count_x` is `x`'s."""
    for prefix in ("mean_", "count_"):
        if column.startswith(prefix):
            return column.removeprefix(prefix)
    return column


def stream_fields(columns: Iterable[str], streams: Collection[Stream]) -> set[str]:
    return {c for c in columns if c != "time" and stream_of(_raw_name(c)) in streams}


async def purge_streams(
    influx: InfluxClient, home: str, streams: Collection[Stream], before_ms: int
) -> int:
    """Delete the fields of `streams` from `home`'s points before `before_ms`; returns how
    many values were removed. The other fields of those points are written back.

    InfluxDB 1.x cannot delete one field, so each affected measurement's points of the home
    before the cut-off are read, deleted, and rewritten without the withdrawn fields. Points
    after the cut-off are left alone (ingest drops the stream from the moment of withdrawal).
    """
    removed = 0
    for measurement in ("reading", "event", "reading_hourly", "event_hourly"):
        found = await home_series(influx, home, measurement, before_ms=before_ms)
        dropped: set[str] = set()
        for s in found:
            fields = stream_fields(s.columns, streams)
            hits = sum(
                1
                for row in s.values
                for name, value in zip(s.columns, row, strict=True)
                if name in fields and value is not None
            )
            if hits:
                dropped |= fields
                removed += hits
        if not dropped:
            continue
        lines = [line for s in found for line in _lines(s, dropped)]
        await influx.query(
            f'DELETE FROM "{measurement}" WHERE "home" = \'{_home(home)}\' AND time < {before_ms}ms'
        )
        for start in range(0, len(lines), _WRITE_CHUNK):
            await influx.write(lines[start : start + _WRITE_CHUNK])
    return removed
