"""The storage layout in InfluxDB, as line protocol (see docs/storage.md).

Measurement `reading` or `event` (the topic's channel); tags `home`, `device` and, where the
device's config names one, `room`; one field per SenML name; the record's own time in ms.
Records of one device at one instant share a point, so a point is (measurement, tags, time)
and a redelivered record overwrites itself with the same value: storage is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hof.senml import Record, Value

__all__ = ["encode_records", "escape_key", "escape_tag"]


def escape_key(text: str) -> str:
    """Escape a measurement-safe tag key, tag value or field key."""
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


escape_tag = escape_key


def _field_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # repr keeps a decimal point ("18.0"), so InfluxDB never types a number as integer.
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_records(
    measurement: str, records: Iterable[Record], rooms: Mapping[tuple[str, str], str]
) -> list[str]:
    """One line per (home, device, time), fields merged, in the order first seen."""
    points: dict[tuple[str, str, int], list[Record]] = {}
    for record in records:
        points.setdefault((record.home, record.device, record.time_ms), []).append(record)
    lines: list[str] = []
    for (home, device, time_ms), group in points.items():
        tags = f"{measurement},device={escape_tag(device)},home={escape_tag(home)}"
        room = rooms.get((home, device))
        if room:
            tags += f",room={escape_tag(room)}"
        fields = ",".join(f"{escape_key(r.name)}={_field_value(r.value)}" for r in group)
        lines.append(f"{tags} {fields} {time_ms}")
    return lines
