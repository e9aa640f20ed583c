"""SenML (RFC 8428) JSON packs as CONTRACT.md profiles them: parse, validate, resolve, encode.

Parsing turns bytes from a topic into normalised `Record`s (home, device, name, time, value)
or raises `ContractError` with a reason code and a precise detail; nothing else escapes.

Two paths, one contract. The fast path decodes a pack with msgspec into typed structs (in C:
JSON syntax, UTF-8, the type of every field) and checks what is left (names, units, ranges,
times, duplicates) in one loop over the records. It only ever accepts: whatever it is not sure
of (a duplicate or unknown key, an escape, a check that fails) it declines, and the exact path
(`hof.devicejson`, then a check of every field) decides and says why. The two give the same
records for every pack the fast path accepts (tests/hof/test_senml.py compares them).
"""

from __future__ import annotations

import json
import math
import operator
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Final

import msgspec

from hof import devicejson
from hof.errors import ContractError, Reason
from hof.topic import Topic
from hof.vocabulary import NAMES, Kind

__all__ = [
    "DEFAULT_LIMITS",
    "RELATIVE_TIME_LIMIT",
    "RESERVED_NAMES",
    "Limits",
    "Record",
    "Value",
    "encode_pack",
    "parse_pack",
]

Value = float | bool | str

# CONTRACT.md: a resolved time of 2**28 or less is relative to the moment of receipt.
# (RFC 8428 makes exactly 2**28 absolute; the contract rules, and the difference is one instant
# in 1978.)
RELATIVE_TIME_LIMIT = 2**28
SENML_VERSION = 10

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-:./_]*")
# CONTRACT.md: the storage's tag keys and its time. A field of one of these names would shadow
# the tag in every InfluxQL query that does not say `::tag` (docs/storage.md).
RESERVED_NAMES = frozenset({"home", "device", "room", "time"})
# A string value is text for a display: no control characters (and so never a line break in
# line protocol, whatever the storage's version makes of one inside quotes).
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_BASE_FIELDS = {"bn", "bt", "bu", "bv", "bs", "bver"}
_RECORD_FIELDS = {"n", "u", "v", "vs", "vb", "t", "ut"}
_VALUE_FIELDS = ("v", "vb", "vs")
# RFC 8428 fields the contract does not use: refused rather than silently dropped.
_REFUSED_FIELDS = {"vd", "s"}


@dataclass(frozen=True, slots=True)
class Limits:
    """Size and time bounds; times are refused before `min_time` or beyond now + `max_future_s`."""

    max_bytes: int = 16 * 1024
    max_records: int = 500
    min_time: float = 1_420_070_400.0  # 2015-01-01: no earlier reading can be real.
    max_future_s: float = 600.0


DEFAULT_LIMITS = Limits()


class Record(msgspec.Struct, frozen=True, gc=False):
    """One measurement or event; its identity is (home, device, name, time_ms).

    A frozen msgspec struct rather than a frozen dataclass: built ten times faster (ingest
    builds one per record), equal, hashable and immutable all the same; it holds only strings
    and numbers, so the garbage collector need not track it.
    """

    home: str
    device: str
    name: str
    time_ms: int
    value: Value
    unit: str | None = None

    @property
    def time(self) -> float:
        """UTC epoch seconds."""
        return self.time_ms / 1000.0

    @property
    def key(self) -> tuple[str, str, str, int]:
        """The record's identity: the same key twice is the same record."""
        return (self.home, self.device, self.name, self.time_ms)


def _number(record: dict[str, Any], field: str, index: int) -> float | None:
    if field not in record:
        return None
    value = record[field]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ContractError(
            Reason.NOT_SENML, f"{field} must be a number, got {value!r:.40}", index=index
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ContractError(Reason.NOT_SENML, f"{field} is not finite", index=index)
    return number


def _string(record: dict[str, Any], field: str, index: int) -> str | None:
    if field not in record:
        return None
    value = record[field]
    if not isinstance(value, str):
        raise ContractError(
            Reason.NOT_SENML, f"{field} must be a string, got {value!r:.40}", index=index
        )
    return value


def parse_pack(
    topic: Topic,
    payload: bytes,
    *,
    received_at: float,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Record]:
    """Parse one SenML pack published on `topic`, resolving times against `received_at`.

    The whole pack is refused if any record breaks the contract (CONTRACT.md, "Bad input").
    """
    records = _parse_fast(topic, payload, received_at, limits)
    if records is not None:
        return records
    return _parse_exact(topic, payload, received_at=received_at, limits=limits)


def _parse_exact(
    topic: Topic, payload: bytes, *, received_at: float, limits: Limits = DEFAULT_LIMITS
) -> list[Record]:
    """The exact path: every field of every record checked, a refusal saying why."""
    pack = devicejson.loads(payload, max_bytes=limits.max_bytes)
    if not isinstance(pack, list):
        raise ContractError(Reason.NOT_SENML, f"a pack is a JSON array, got {type(pack).__name__}")
    if not pack:
        raise ContractError(Reason.EMPTY_PACK, "the pack has no records")
    if len(pack) > limits.max_records:
        raise ContractError(
            Reason.TOO_MANY_RECORDS, f"{len(pack)} records, the limit is {limits.max_records}"
        )

    device_prefix = f"{topic.device}/"
    base_name = ""
    base_time = 0.0
    base_unit: str | None = None
    base_value = 0.0
    records: list[Record] = []
    seen: set[tuple[str, int]] = set()

    for index, raw in enumerate(pack):
        if not isinstance(raw, dict):
            raise ContractError(Reason.NOT_SENML, "a record is a JSON object", index=index)
        for field in raw:
            if field.endswith("_"):
                raise ContractError(
                    Reason.BAD_FIELD,
                    f"must-understand field {field!r:.40} is not supported",
                    index=index,
                )
            if field in _REFUSED_FIELDS:
                raise ContractError(
                    Reason.BAD_FIELD, f"field {field!r:.40} is not used by contract v1", index=index
                )

        if "bver" in raw:
            version = raw["bver"]
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ContractError(
                    Reason.NOT_SENML, "bver must be a positive integer", index=index
                )
            if version > SENML_VERSION:
                raise ContractError(
                    Reason.UNSUPPORTED_VERSION,
                    f"SenML version {version} is newer than {SENML_VERSION}",
                    index=index,
                )
        if (bn := _string(raw, "bn", index)) is not None:
            if bn != device_prefix:
                raise ContractError(
                    Reason.BASE_NAME_MISMATCH,
                    f"bn is {bn!r:.80}; on this topic it must be {device_prefix!r}",
                    index=index,
                )
            base_name = bn
        if (bt := _number(raw, "bt", index)) is not None:
            base_time = bt
        if (bu := _string(raw, "bu", index)) is not None:
            base_unit = bu
        if (bv := _number(raw, "bv", index)) is not None:
            base_value = bv
        _number(raw, "bs", index)
        _number(raw, "ut", index)

        name = _resolve_name(base_name + (_string(raw, "n", index) or ""), device_prefix, index)
        unit = _string(raw, "u", index)
        if unit is None:
            unit = base_unit
        value = _value(raw, base_value, index)
        offset = _number(raw, "t", index) or 0.0
        time_ms = _resolve_time(base_time + offset, received_at, limits, index)
        _check_known(name, unit, value, index)

        if (name, time_ms) in seen:
            raise ContractError(
                Reason.DUPLICATE_RECORD, f"{name} at {time_ms} ms appears twice", index=index
            )
        seen.add((name, time_ms))
        records.append(Record(topic.home, topic.device, name, time_ms, value, unit))
    return records


def _resolve_name(full: str, device_prefix: str, index: int) -> str:
    if not full:
        raise ContractError(Reason.BAD_NAME, "the record has no name", index=index)
    name = full.removeprefix(device_prefix)
    if not name or "/" in name or _NAME_RE.fullmatch(name) is None:
        raise ContractError(Reason.BAD_NAME, f"{full!r:.80} is not a valid name", index=index)
    if name in RESERVED_NAMES:
        raise ContractError(
            Reason.BAD_NAME,
            f"{name!r} is reserved (the storage's tag keys and time: "
            f"{', '.join(sorted(RESERVED_NAMES))})",
            index=index,
        )
    return name


def _value(raw: dict[str, Any], base_value: float, index: int) -> Value:
    present = [field for field in _VALUE_FIELDS if field in raw]
    if not present:
        raise ContractError(Reason.NO_VALUE, "the record has no v, vb or vs", index=index)
    if len(present) > 1:
        raise ContractError(Reason.BAD_FIELD, f"more than one value: {present}", index=index)
    field = present[0]
    value = raw[field]
    if field == "v":
        number = _number(raw, "v", index)
        assert number is not None
        total = number + base_value
        if not math.isfinite(total):
            raise ContractError(Reason.OUT_OF_RANGE, "v + bv is not finite", index=index)
        return total
    if field == "vb" and not isinstance(value, bool):
        raise ContractError(
            Reason.NOT_SENML, f"vb must be true or false, got {value!r:.40}", index=index
        )
    if field == "vs" and not isinstance(value, str):
        raise ContractError(
            Reason.NOT_SENML, f"vs must be a string, got {value!r:.40}", index=index
        )
    if field == "vs" and (control := _CONTROL_RE.search(value)) is not None:
        raise ContractError(
            Reason.OUT_OF_RANGE,
            f"vs holds a control character (U+{ord(control.group()):04X})",
            index=index,
        )
    return bool(value) if field == "vb" else str(value)


def _resolve_time(resolved: float, received_at: float, limits: Limits, index: int) -> int:
    if not math.isfinite(resolved):
        raise ContractError(Reason.BAD_TIME, "bt + t is not finite", index=index)
    absolute = received_at + resolved if resolved <= RELATIVE_TIME_LIMIT else resolved
    if absolute < limits.min_time:
        raise ContractError(
            Reason.BAD_TIME, f"time {absolute:.3f} is before {limits.min_time:.0f}", index=index
        )
    if absolute > received_at + limits.max_future_s:
        raise ContractError(
            Reason.BAD_TIME,
            f"time {absolute:.3f} is {absolute - received_at:.0f} s in the future",
            index=index,
        )
    return round(absolute * 1000)


def _kind_of(value: Value) -> Kind:
    if isinstance(value, bool):
        return Kind.BOOLEAN
    return Kind.STRING if isinstance(value, str) else Kind.NUMBER


def _check_known(name: str, unit: str | None, value: Value, index: int) -> None:
    spec = NAMES.get(name)
    if spec is None:
        return  # Unknown names are kept as they are, not acted on.
    kind = _kind_of(value)
    if kind is not spec.kind:
        raise ContractError(
            Reason.WRONG_VALUE_TYPE,
            f"{name} takes {spec.kind.value}, got {kind.value}",
            index=index,
        )
    if unit is not None and unit != spec.unit:
        expected = f"unit {spec.unit!r}" if spec.unit else "no unit"
        raise ContractError(
            Reason.UNKNOWN_UNIT, f"{name} takes {expected}, got {unit!r:.40}", index=index
        )
    if isinstance(value, float):
        assert spec.low is not None
        assert spec.high is not None
        if not spec.low <= value <= spec.high:
            raise ContractError(
                Reason.OUT_OF_RANGE,
                f"{name} {value:g} {spec.unit} is outside {spec.low:g}..{spec.high:g}",
                index=index,
            )
    if isinstance(value, str) and spec.choices is not None and value not in spec.choices:
        raise ContractError(
            Reason.OUT_OF_RANGE,
            f"{name} is one of {sorted(spec.choices)}, got {value!r:.40}",
            index=index,
        )


# -- the fast path ------------------------------------------------------------------------------


class _Wire(msgspec.Struct, gc=False):
    """One record as msgspec decodes it: the contract's fields, typed; absent is None.

    An unknown key is skipped by msgspec and an explicit null reads as absent, so neither can
    be seen here; both are caught by counting keys (`_parse_fast`), and declined.
    """

    bn: str | None = None
    bt: float | None = None
    bu: str | None = None
    bv: float | None = None
    bs: float | None = None
    bver: int | None = None
    n: str | None = None
    u: str | None = None
    v: float | None = None
    vs: str | None = None
    vb: bool | None = None
    t: float | None = None
    ut: float | None = None


_WIRE_FIELDS: Final = len(_Wire.__struct_fields__)
_decode_wire = msgspec.json.Decoder(list[_Wire]).decode
_astuple = msgspec.structs.astuple


@dataclass(frozen=True, slots=True)
class _Check:
    """What the fast path checks of one name: its kind, unit, range and choices."""

    kind: Kind | None  # None: a name the table does not hold (any finite value, any unit)
    unit: str | None
    low: float
    high: float
    choices: frozenset[str] | None


_ANY_NUMBER = sys.float_info.max  # the bounds of a finite float: an unknown name's range
_UNKNOWN = _Check(None, None, -_ANY_NUMBER, _ANY_NUMBER, None)
_CHECKS: dict[str, _Check] = {
    name: _Check(
        spec.kind,
        spec.unit,
        spec.low if spec.low is not None else -_ANY_NUMBER,
        spec.high if spec.high is not None else _ANY_NUMBER,
        frozenset(spec.choices) if spec.choices is not None else None,
    )
    for name, spec in NAMES.items()
}
# Unknown names seen valid, remembered up to a bound (a sender cannot grow it without end).
_MAX_REMEMBERED_NAMES = 4096


def _check_for(name: str) -> _Check | None:
    """The checks of a bare name, or None if it is not a valid one (no '/', reserved, ...)."""
    check = _CHECKS.get(name)
    if check is not None:
        return check
    if "/" in name or name in RESERVED_NAMES or _NAME_RE.fullmatch(name) is None:
        return None
    if len(_CHECKS) < len(NAMES) + _MAX_REMEMBERED_NAMES:
        _CHECKS[name] = _UNKNOWN
    return _UNKNOWN


def _parse_fast(
    topic: Topic, payload: bytes, received_at: float, limits: Limits
) -> list[Record] | None:
    """The pack's records if it plainly meets the contract; None to leave it to `_parse_exact`.

    Declines, rather than refuses, anything it is not sure of, so it never needs to say why.
    Keys are counted without a Python call per field: JSON has one ':' after every key and
    none elsewhere outside strings, so when the pack's ':' count equals the number of fields
    the structs hold, there is no duplicate key, no unknown key, no explicit null and no ':'
    in a string. No key unknown means no nesting deeper than a record: the depth is bounded.
    """
    if len(payload) > limits.max_bytes or b"\\" in payload:
        return None  # escapes: the exact path reads them exactly as json does
    try:
        wire = _decode_wire(payload)
    except msgspec.DecodeError:  # not JSON, or a field of the wrong type: say which, there
        return None
    count = len(wire)
    if not 0 < count <= limits.max_records:
        return None
    rows = list(map(_astuple, wire))
    absent = sum(map(tuple.count, rows, repeat(None, count)))
    if payload.count(b":") != count * _WIRE_FIELDS - absent:
        return None
    return _rows(topic, rows, received_at, limits)


def _rows(
    topic: Topic, rows: list[tuple[Any, ...]], received_at: float, limits: Limits
) -> list[Record] | None:
    """`_parse_fast`'s checks, a record at a time (a column at a time, with map and C
    builtins, measured twice as slow on packs of 20): its records, or None to decline."""
    count = len(rows)
    home, device = topic.home, topic.device
    prefix = device + "/"
    base_time = 0.0
    base_unit: str | None = None
    base_value = 0.0
    earliest, latest = limits.min_time, received_at + limits.max_future_s
    relative = RELATIVE_TIME_LIMIT
    records: list[Record] = []
    append, new_record, numbers = records.append, Record, _NUMBERS
    instant: float | None = None
    time_ms = 0
    for bn, bt, bu, bv, _bs, bver, n, u, v, vs, vb, t, _ut in rows:
        if bn is not None or bt is not None or bu is not None or bv is not None or bver is not None:
            if bn is not None and bn != prefix:
                return None
            if bver is not None and (type(bver) is not int or not 1 <= bver <= SENML_VERSION):
                return None
            if bt is not None:
                base_time = bt
            if bu is not None:
                base_unit = bu
            if bv is not None:
                base_value = bv
        # bs and ut need only be numbers, which msgspec has seen to.
        if u is None:
            u = base_unit
        value: Value
        if v is not None and vb is None and vs is None:
            # A number, the common case: one lookup says whether the name takes a number in
            # this unit, and between which bounds (which also refuse inf). The record keeps
            # the lookup's own name and unit: one copy of each for every record held.
            known = numbers.get((n, u)) if n is not None else None
            if known is None and (known := _number_bounds(n, u)) is None:
                return None
            low, high, n, u = known
            number = v + base_value
            if not low <= number <= high:
                return None
            value = number
        elif (other := _other_value(n, u, v, vs, vb)) is not None:
            value = other
        else:
            return None
        resolved = base_time + t if t is not None else base_time
        # Records come an instant at a time: an instant's checks and its round (a tenth of
        # the loop) once, its int shared by its records.
        if resolved != instant:
            instant = resolved
            if resolved <= relative:
                resolved += received_at
            if not earliest <= resolved <= latest:
                return None
            time_ms = round(resolved * 1000)
        append(new_record(home, device, n, time_ms, value, u))
    if len(set(map(_identity, records))) != count:
        return None  # a record twice (name and time): the exact path says which
    return records


_identity = operator.attrgetter("name", "time_ms")
# (name, unit) -> the bounds of a number of that name in that unit; only pairs the fast path
# accepts, remembered up to a bound (a sender cannot grow it without end).
_NUMBERS: dict[tuple[str, str | None], tuple[float, float, str, str | None]] = {}


def _number_bounds(
    name: str | None, unit: str | None
) -> tuple[float, float, str, str | None] | None:
    """The bounds of a number of `name` in `unit` (and the name and unit, interned), or None
    if the fast path must decline."""
    if name is None or (check := _check_for(name)) is None:
        return None  # a base name alone makes no valid name; or n with '/', reserved, ...
    if check.kind not in (None, Kind.NUMBER):
        return None
    if unit is not None and check.kind is not None and unit != check.unit:
        return None
    known = (check.low, check.high, sys.intern(name), None if unit is None else sys.intern(unit))
    if len(_NUMBERS) < len(NAMES) * 4 + _MAX_REMEMBERED_NAMES:
        _NUMBERS[(name, unit)] = known
    return known


def _other_value(
    name: str | None, unit: str | None, v: float | None, vs: str | None, vb: bool | None
) -> Value | None:
    """A boolean or string record's value if the fast path accepts it, else None."""
    if name is None or (check := _check_for(name)) is None:
        return None
    if unit is not None and check.kind is not None and unit != check.unit:
        return None
    if v is not None:
        return None  # with vb or vs: more than one value
    if vb is not None:
        if vs is not None or (check.kind is not None and check.kind is not Kind.BOOLEAN):
            return None
        return vb
    if vs is not None:
        if check.kind is not None and check.kind is not Kind.STRING:
            return None
        if _CONTROL_RE.search(vs) is not None:
            return None
        if check.choices is not None and vs not in check.choices:
            return None
        return vs
    return None


def encode_pack(device: str, records: Sequence[Record] | Iterable[Record]) -> bytes:
    """Encode records of one device as a compact SenML pack with absolute times.

    The first record carries `bn` and `bt`; later ones a `t` offset, as the contract's example.
    """
    items = list(records)
    if not items:
        raise ValueError("a pack needs at least one record")
    base_ms = items[0].time_ms
    out: list[dict[str, Any]] = []
    for i, record in enumerate(items):
        if record.device != device:
            raise ValueError(f"record of {record.device!r} in a pack for {device!r}")
        entry: dict[str, Any] = {}
        if i == 0:
            entry["bn"] = f"{device}/"
            entry["bt"] = base_ms / 1000
        entry["n"] = record.name
        if record.unit is not None:
            entry["u"] = record.unit
        entry[_kind_of(record.value).value] = record.value
        if record.time_ms != base_ms:
            entry["t"] = (record.time_ms - base_ms) / 1000
        out.append(entry)
    return json.dumps(out, separators=(",", ":"), allow_nan=False).encode()
