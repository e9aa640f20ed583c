"""The storage layout in InfluxDB, as line protocol (see docs/storage.md).

Measurement `reading` or `event` (the topic's channel); tags `home`, `device` and, where the
device's config names one, `room`; one field per SenML name; the record's own time in ms.
Records of one device at one instant share a point, so a point is (measurement, tags, time)
and a redelivered record overwrites itself with the same value: storage is idempotent.

Escaping, as InfluxDB's line protocol has it: a measurement escapes comma and space; tag keys,
tag values and field keys escape comma, equals sign and space; a string field value escapes
double quote and backslash. Two things have no escape that every InfluxDB version reads the
same way, and are refused with ValueError rather than written: a line break or any other
control character anywhere (a line break ends a point, and what follows would be a point of
the sender's making), and a backslash outside a string value (InfluxDB 1.x keeps `\\` in a tag
as two characters where 2.x reads one, and a tag ending in one breaks the line). Nothing the
contract lets in has either: ids, names and rooms are checked where they enter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from hof.senml import Record, Value

__all__ = [
    "encode_pack",
    "encode_records",
    "escape_key",
    "escape_measurement",
    "escape_tag",
    "string_field",
]

_UNWRITABLE = re.compile(r"[\x00-\x1f\x7f\\]")
_PLAIN = re.compile(r"[^\x00-\x1f\x7f\\, =]+")  # nothing to escape, nothing to refuse
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ "})


def _writable(text: str, what: str) -> str:
    if not text:
        raise ValueError(f"an empty {what} cannot be written")
    if (bad := _UNWRITABLE.search(text)) is not None:
        raise ValueError(f"{what} {text!r:.80} holds {bad.group()!r}, which cannot be written")
    return text


def escape_key(text: str) -> str:
    """A tag key, tag value or field key: comma, equals sign and space escaped."""
    if _PLAIN.fullmatch(text) is not None:
        return text
    return _writable(text, "key").translate(_KEY)


escape_tag = escape_key


def escape_measurement(text: str) -> str:
    """A measurement name: comma and space escaped."""
    return _writable(text, "measurement").translate(_MEASUREMENT)


def string_field(text: str) -> str:
    """A string field value, quoted: double quote and backslash escaped, no control character."""
    if (bad := _CONTROL.search(text)) is not None:
        raise ValueError(f"string value holds {bad.group()!r}, which cannot be written")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # repr keeps a decimal point ("18.0"), so InfluxDB never types a number as integer.
        return repr(value)
    return string_field(value)


# Field keys as escaped, with their '=', remembered up to a bound: a few dozen names make
# nearly every field.
_FIELD_KEYS: dict[str, str] = {}
_MAX_FIELD_KEYS = 4096


def _field_key(name: str) -> str:
    key = escape_key(name) + "="
    if len(_FIELD_KEYS) < _MAX_FIELD_KEYS:
        _FIELD_KEYS[name] = key
    return key


def encode_records(
    measurement: str, records: Iterable[Record], rooms: Mapping[tuple[str, str], str]
) -> list[str]:
    """One line per (home, device, time), fields merged, in the order first seen.

    Records of one device after another (a pack, as the parser gives them) take the quick
    way, `encode_pack`; a mixture is grouped by device first.
    """
    devices: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        series = (record.home, record.device)
        same = devices.get(series)
        if same is None:
            devices[series] = [record]
        else:
            same.append(record)
    if len(devices) == 1:
        ((home, device), only) = devices.popitem()
        return encode_pack(measurement, home, device, only, rooms)
    lines: list[str] = []
    for (home, device), same in devices.items():
        lines += encode_pack(measurement, home, device, same, rooms)
    return lines


# Numbers as written, remembered up to a bound: a sensor's readings take a few hundred values
# (a tenth of a degree, a percent), and a dict lookup is a fifth of the cost of repr. (-0.0 and
# 0.0 are one key; the parser gives no -0.0, and InfluxDB reads both as zero.)
_FLOATS: dict[float, str] = {}
_MAX_FLOATS = 65_536


def _float_text(value: float) -> str:
    # repr keeps a decimal point ("18.0"), so InfluxDB never types a number as integer.
    text = repr(value)
    if len(_FLOATS) >= _MAX_FLOATS:
        _FLOATS.clear()
    _FLOATS[value] = text
    return text


# The tags of a series as written, remembered up to a bound: one entry per device (and room).
_SERIES: dict[tuple[str, str, str, str], str] = {}
_MAX_SERIES = 100_000


def _tags(measurement: str, home: str, device: str, room: str) -> str:
    tags = f"{escape_measurement(measurement)},device={escape_tag(device)},home={escape_tag(home)}"
    if room:
        tags += f",room={escape_tag(room)}"
    if len(_SERIES) >= _MAX_SERIES:
        _SERIES.clear()
    _SERIES[(measurement, home, device, room)] = tags
    return tags


def encode_pack(
    measurement: str,
    home: str,
    device: str,
    records: Sequence[Record],
    rooms: Mapping[tuple[str, str], str],
) -> list[str]:
    """The lines of one device's records (all of `home` and `device`): one per instant.

    The hot loop of ingest, one pass: each record's `key=value` text (field keys escaped once
    per name, the tags once per device), grouped by its time.
    """
    room = rooms.get((home, device)) or ""
    tags = _SERIES.get((measurement, home, device, room)) or _tags(measurement, home, device, room)
    keys, floats = _FIELD_KEYS, _FLOATS
    points: dict[int, list[str]] = {}
    last: int | None = None
    fields: list[str] = []
    for record in records:
        value = record.value
        if type(value) is float:  # nearly every field: no call for those, mostly
            text = floats.get(value) or _float_text(value)
        else:
            text = _field_value(value)
        field = (keys.get(record.name) or _field_key(record.name)) + text
        if record.time_ms != last:  # a pack lists an instant's records together, mostly
            last = record.time_ms
            same = points.get(last)
            if same is None:
                same = points[last] = []
            fields = same
        fields.append(field)
    return [f"{tags} {','.join(fields)} {time_ms}" for time_ms, fields in points.items()]
