"""A home's readings for charts and its rooms' latest values, from InfluxDB, downsampled there.

Each range has a bucket that keeps a series near or under 400 points (24 h of 5-minute means
is 288; a year of daily means is 365), so a year of a room's readings reaches the browser as
a few kilobytes, not millions of points. Dew point is computed from each bucket's mean
temperature and humidity. The mould index comes from the rules engine's hourly `mould`
points. Each device's last reading, battery and signal come from the periodic telemetry fields of
`reading` over the last `DEVICE_WINDOW`: never from `event` or movement fields, since when a
telecare or movement sensor last fired is activity data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hof.climate import dew_point
from hof.influx import InfluxClient
from hof.topic import is_valid_id

__all__ = [
    "DEVICE_WINDOW",
    "RANGES",
    "DeviceSeen",
    "Range",
    "RoomNow",
    "Series",
    "devices_seen",
    "home_series",
    "rooms_now",
    "thresholds",
]

Range = Literal["24h", "7d", "30d", "1y"]
# range -> (InfluxQL duration, bucket, bucket seconds)
RANGES: dict[str, tuple[str, str, int]] = {
    "24h": ("24h", "5m", 300),
    "7d": ("7d", "30m", 1800),
    "30d": ("30d", "2h", 7200),
    "1y": ("365d", "1d", 86400),
}


def thresholds(cold_c: float, hot_c: float) -> dict[str, list[dict[str, Any]]]:
    """The lines drawn on each chart, with the figures the rules and DOMAIN.md use."""
    return {
        "temperature": [
            {"value": cold_c, "label": f"Cold: below {cold_c:g} °C (WHO, UKHSA)"},
            {"value": hot_c, "label": f"Overheating: above {hot_c:g} °C (CIBSE TM59)"},
        ],
        "humidity": [{"value": 70.0, "label": "Damp: above 70 % for long (BS 5250)"}],
        "dew_point": [],
        "co2": [{"value": 1500.0, "label": "Stuffy: above 1,500 ppm"}],
        "mould_index": [
            {"value": 1.0, "label": "1: growth begins (microscopic)"},
            {"value": 3.0, "label": "3: visible mould"},
        ],
    }


@dataclass
class Series:
    """Column arrays per room: `time` in epoch seconds, then one list per quantity (None = gap)."""

    range: str
    bucket_s: int
    rooms: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)

    def points(self) -> int:
        return max((len(r["time"]) for r in self.rooms.values()), default=0)


def _literal(home: str) -> str:
    # Home ids are topic ids (letters, digits, '-', '_'): nothing to escape, but say so loudly.
    if not is_valid_id(home):
        raise ValueError(f"{home!r} is not a home id")
    return f"'{home}'"


def _round(values: list[Any], digits: int) -> list[float | None]:
    return [None if v is None else round(float(v), digits) for v in values]


async def home_series(influx: InfluxClient, home: str, range_: str) -> Series:
    duration, bucket, bucket_s = RANGES[range_]
    where = f'"home"::tag = {_literal(home)} AND time > now() - {duration}'
    climate = await influx.query(
        "SELECT mean(temperature), mean(humidity), mean(co2) FROM reading "
        f'WHERE {where} GROUP BY time({bucket}), "room"::tag fill(none)',
        epoch="s",
    )
    mould = await influx.query(
        f"SELECT max(mould_index) FROM mould WHERE {where} "
        f'GROUP BY time({bucket}), "room"::tag fill(none)',
        epoch="s",
    )
    out = Series(range_, bucket_s)
    for s in climate:
        room = s.get("tags", {}).get("room") or "unplaced"
        columns: list[tuple[Any, ...]] = list(zip(*s["values"], strict=True)) or [()] * 4
        t = np.array([np.nan if v is None else v for v in columns[1]], dtype=float)
        rh = np.array([np.nan if v is None else v for v in columns[2]], dtype=float)
        dp = dew_point(t, rh)
        out.rooms[room] = {
            "time": [float(x) for x in columns[0]],
            "temperature": _round(list(columns[1]), 2),
            "humidity": _round(list(columns[2]), 1),
            "dew_point": [None if np.isnan(x) else round(float(x), 2) for x in dp],
            "co2": _round(list(columns[3]), 0),
        }
    for s in mould:
        room = s.get("tags", {}).get("room") or "unplaced"
        values = s["values"]
        entry = out.rooms.setdefault(room, {"time": []})
        entry["mould_time"] = [float(v[0]) for v in values]
        entry["mould_index"] = _round([v[1] for v in values], 3)
    return out


@dataclass(frozen=True, slots=True)
class RoomNow:
    room: str
    device: str | None
    at: dt.datetime
    temperature: float | None
    humidity: float | None
    dew_point: float | None
    co2: float | None


async def rooms_now(influx: InfluxClient, home: str) -> list[RoomNow]:
    """Each room's latest reading in the last day (one point: a device's records share it)."""
    series = await influx.query(
        'SELECT temperature, humidity, co2, "device"::tag FROM reading '
        f'WHERE "home"::tag = {_literal(home)} AND time > now() - 1d GROUP BY "room"::tag '
        "ORDER BY time DESC LIMIT 1",
        epoch="s",
    )
    out = []
    for s in series:
        room = s.get("tags", {}).get("room") or "unplaced"
        columns = s["columns"]
        row = dict(zip(columns, s["values"][0], strict=True))
        t, rh = row.get("temperature"), row.get("humidity")
        out.append(
            RoomNow(
                room=room,
                device=row.get("device"),
                at=dt.datetime.fromtimestamp(row["time"], dt.UTC),
                temperature=t,
                humidity=rh,
                dew_point=round(float(dew_point(t, rh)), 1)
                if t is not None and rh is not None
                else None,
                co2=row.get("co2"),
            )
        )
    return sorted(out, key=lambda r: r.room)


DEVICE_WINDOW = "7d"  # devices report battery hourly; a week bounds the scan and still tells
TELEMETRY = ("temperature", "humidity", "co2", "pressure", "battery", "voltage", "rssi")


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    device: str
    room: str | None  # the room tag of its latest reading
    last_seen: dt.datetime | None
    battery: float | None
    battery_at: dt.datetime | None
    rssi_dbm: float | None  # SenML `rssi` is in dBW (the contract's names); shown in dBm


async def devices_seen(influx: InfluxClient, home: str) -> dict[str, DeviceSeen]:
    """Per device of the home: its latest reading's time, and its latest battery and signal."""
    where = f'"home"::tag = {_literal(home)} AND time > now() - {DEVICE_WINDOW}'
    latest, battery, rssi = await asyncio.gather(
        influx.query(
            # Periodic telemetry only: a sensor that reports movement when it happens would
            # otherwise tell its last movement as its "last seen" (activity data).
            f'SELECT {", ".join(TELEMETRY)}, "room"::tag FROM reading WHERE {where} '
            'GROUP BY "device"::tag ORDER BY time DESC LIMIT 1',
            epoch="s",
        ),
        influx.query(
            f'SELECT last(battery) FROM reading WHERE {where} GROUP BY "device"::tag', epoch="s"
        ),
        influx.query(
            f'SELECT last(rssi) FROM reading WHERE {where} GROUP BY "device"::tag', epoch="s"
        ),
    )

    def by_device(series: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out = {}
        for s in series:
            device = s.get("tags", {}).get("device")
            if device and s.get("values"):
                out[device] = dict(zip(s["columns"], s["values"][0], strict=True))
        return out

    seen, charge, signal = by_device(latest), by_device(battery), by_device(rssi)
    out = {}
    for device in seen.keys() | charge.keys() | signal.keys():
        last, level, dbw = seen.get(device, {}), charge.get(device, {}), signal.get(device, {})
        room = last.get("room")
        out[device] = DeviceSeen(
            device=device,
            room=room if isinstance(room, str) and room else None,
            last_seen=_at(last.get("time")),
            battery=None if level.get("last") is None else float(level["last"]),
            battery_at=_at(level.get("time")),
            rssi_dbm=None if dbw.get("last") is None else round(float(dbw["last"]) + 30.0, 1),
        )
    return out


def _at(epoch_s: Any) -> dt.datetime | None:
    return None if epoch_s is None else dt.datetime.fromtimestamp(float(epoch_s), dt.UTC)
