"""The SenML parser against RFC 8428 and CONTRACT.md, with examples and properties."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hof.errors import ContractError, Reason
from hof.senml import (
    RELATIVE_TIME_LIMIT,
    Limits,
    Record,
    _parse_exact,
    _parse_fast,
    encode_pack,
    parse_pack,
)
from hof.topic import Channel, Topic
from hof.vocabulary import NAMES, Kind

NOW = 1_763_841_900.0
TOPIC = Topic("LCC-004512", "env-3f2a1c", Channel.READING)


def parse(pack: Any, received_at: float = NOW, **kw: Any) -> list[Record]:
    payload = pack if isinstance(pack, bytes) else json.dumps(pack, separators=(",", ":")).encode()
    return parse_pack(TOPIC, payload, received_at=received_at, **kw)


def reason(pack: Any, **kw: Any) -> Reason:
    with pytest.raises(ContractError) as info:
        parse(pack, **kw)
    return info.value.reason


def test_contract_example() -> None:
    records = parse(
        [
            {"bn": "env-3f2a1c/", "bt": 1763841600, "n": "temperature", "u": "Cel", "v": 17.9},
            {"n": "humidity", "u": "%RH", "v": 78.5},
            {"n": "temperature", "u": "Cel", "v": 17.6, "t": 300},
            {"n": "humidity", "u": "%RH", "v": 80.1, "t": 300},
        ]
    )
    assert [(r.name, r.time_ms, r.value, r.unit) for r in records] == [
        ("temperature", 1763841600000, 17.9, "Cel"),
        ("humidity", 1763841600000, 78.5, "%RH"),
        ("temperature", 1763841900000, 17.6, "Cel"),
        ("humidity", 1763841900000, 80.1, "%RH"),
    ]
    assert {r.home for r in records} == {"LCC-004512"}
    assert {r.device for r in records} == {"env-3f2a1c"}


def test_base_fields_carry_forward_and_can_change() -> None:
    """RFC 8428 §4.1: base values apply to the record and all later ones until replaced."""
    records = parse(
        [
            {"bt": NOW - 100, "bu": "Cel", "bv": 20, "n": "temperature", "v": -2},
            {"n": "temperature", "v": 1, "t": 10},
            {"bt": NOW - 50, "bv": 0, "bu": "%RH", "n": "humidity", "v": 55},
        ]
    )
    assert [(r.value, r.unit, r.time_ms) for r in records] == [
        (18.0, "Cel", (NOW - 100) * 1000),
        (21.0, "Cel", (NOW - 90) * 1000),
        (55.0, "%RH", (NOW - 50) * 1000),
    ]


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (0, NOW),  # no time at all: now
        (-300, NOW - 300),  # relative, in the past
        (RELATIVE_TIME_LIMIT, NOW + RELATIVE_TIME_LIMIT),  # the contract: 2**28 is relative
        (RELATIVE_TIME_LIMIT + 1, None),  # absolute, 1978: refused as too early
        (NOW - 86400 * 3, NOW - 86400 * 3),  # absolute, days old (store-and-forward)
    ],
)
def test_time_resolution(t: float, expected: float | None) -> None:
    pack = [{"n": "co2", "u": "ppm", "v": 500, "t": t}]
    if expected is None or expected > NOW + 600:
        assert reason(pack) is Reason.BAD_TIME
    else:
        assert parse(pack)[0].time_ms == round(expected * 1000)


def test_missing_unit_takes_the_tables_unit_and_wrong_unit_is_refused() -> None:
    assert parse([{"n": "temperature", "v": 20}])[0].value == 20.0
    assert reason([{"n": "temperature", "u": "K", "v": 293}]) is Reason.UNKNOWN_UNIT
    assert reason([{"n": "motion", "u": "Cel", "vb": True}]) is Reason.UNKNOWN_UNIT


@pytest.mark.parametrize(
    ("pack", "why"),
    [
        (b"not json", Reason.NOT_JSON),
        (b'[{"n":"co2","v":1,"v":2}]', Reason.NOT_JSON),  # duplicate key
        (b'[{"n":"co2","v":Infinity}]', Reason.NOT_JSON),
        (b"[" * 100_00 + b"]" * 100_00, Reason.TOO_LARGE),
        (b"[" * 5000 + b"]" * 5000, Reason.TOO_DEEP),  # refused before the decoder recurses
        (b"[" * 3000, Reason.NOT_JSON),  # issue 11: RecursionError in json, never reached now
        (b"\xff\xfe[\x00]\x00", Reason.NOT_JSON),  # UTF-16: not UTF-8 (RFC 8259 §8.1)
        ({"n": "co2"}, Reason.NOT_SENML),
        ([], Reason.EMPTY_PACK),
        (["x"], Reason.NOT_SENML),
        ([{"n": "co2", "v": "5"}], Reason.NOT_SENML),
        ([{"n": "co2", "v": True}], Reason.NOT_SENML),
        ([{"n": "co2", "v": 10**400}], Reason.NOT_SENML),
        ([{"n": "motion", "vb": 1}], Reason.NOT_SENML),
        ([{"n": 5, "v": 1}], Reason.NOT_SENML),
        ([{"n": "co2", "v": 1, "vs": "x"}], Reason.BAD_FIELD),
        ([{"n": "co2", "vd": "AAE="}], Reason.BAD_FIELD),
        ([{"n": "co2", "s": 4}], Reason.BAD_FIELD),
        ([{"n": "co2", "v": 1, "foo_": 1}], Reason.BAD_FIELD),
        ([{"bver": 11, "n": "co2", "v": 1}], Reason.UNSUPPORTED_VERSION),
        ([{"bver": "10", "n": "co2", "v": 1}], Reason.NOT_SENML),
        ([{"v": 1}], Reason.BAD_NAME),
        ([{"n": "-dash", "v": 1}], Reason.BAD_NAME),
        ([{"n": "other/co2", "v": 1}], Reason.BAD_NAME),
        ([{"bn": "env-other/", "n": "co2", "v": 1}], Reason.BASE_NAME_MISMATCH),
        ([{"bn": "env-3f2a1c", "n": "co2", "v": 1}], Reason.BASE_NAME_MISMATCH),
        ([{"n": "co2", "u": "ppm"}], Reason.NO_VALUE),
        ([{"n": "temperature", "vs": "hot"}], Reason.WRONG_VALUE_TYPE),
        ([{"n": "fall", "vb": True}], Reason.WRONG_VALUE_TYPE),
        ([{"n": "humidity", "v": 100.5}], Reason.OUT_OF_RANGE),
        ([{"n": "co2", "v": -1}], Reason.OUT_OF_RANGE),
        ([{"n": "button", "vs": "held"}], Reason.OUT_OF_RANGE),
        ([{"bv": 1e308, "n": "x", "v": 1e308}], Reason.OUT_OF_RANGE),
        ([{"n": "co2", "v": 1, "t": NOW + 3600, "bt": 0}], Reason.BAD_TIME),
        ([{"n": "co2", "v": 1}, {"n": "co2", "v": 2}], Reason.DUPLICATE_RECORD),
        ([{"n": "note", "vs": "line\nbreak"}], Reason.OUT_OF_RANGE),
        ([{"n": "note", "vs": "nul\u0000"}], Reason.OUT_OF_RANGE),
    ],
)
def test_refusals_carry_their_reason(pack: Any, why: Reason) -> None:
    assert reason(pack) is why


@pytest.mark.parametrize("name", ["home", "device", "room", "time"])
@pytest.mark.parametrize("value", [{"vs": "SIM-000003"}, {"v": 1}, {"vb": True}])
def test_reserved_names_are_refused(name: str, value: dict[str, Any]) -> None:
    """Issue 11: a field named as a tag shadows the tag in InfluxQL; CONTRACT.md reserves them."""
    with pytest.raises(ContractError) as info:
        parse([{"n": "co2", "u": "ppm", "v": 500}, {"n": name, **value}])
    assert info.value.reason is Reason.BAD_NAME
    assert info.value.index == 1
    assert "reserved" in info.value.detail
    # ... as a whole name only, and with the base name too
    with pytest.raises(ContractError):
        parse([{"bn": "env-3f2a1c/", "n": name, **value}])
    assert parse([{"n": f"{name}_x", **value}])[0].name == f"{name}_x"
    assert parse([{"n": name.upper(), **value}])[0].name == name.upper()


def test_refusal_says_which_record_and_how() -> None:
    with pytest.raises(ContractError) as info:
        parse([{"n": "co2", "v": 400}, {"n": "humidity", "u": "%RH", "v": 140}])
    assert info.value.index == 1
    assert "humidity 140 %RH is outside 0..100" in str(info.value)


def test_limits() -> None:
    pack = [{"n": "co2", "v": 5, "t": -i} for i in range(501)]
    assert reason(pack) is Reason.TOO_MANY_RECORDS
    assert len(parse(pack[:500])) == 500
    assert reason([{"n": "co2", "v": 5}], limits=Limits(max_bytes=10)) is Reason.TOO_LARGE


def test_unknown_names_are_kept_as_they_are() -> None:
    (record,) = parse([{"n": "pm2_5", "u": "ug/m3", "v": 3.5}])
    assert (record.name, record.value, record.unit) == ("pm2_5", 3.5, "ug/m3")


# -- properties ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)
field_names = st.sampled_from(
    ["bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut", "x_"]
)
senml_like = st.lists(
    st.dictionaries(
        field_names,
        st.none()
        | st.booleans()
        | st.integers(-(2**40), 2**40)
        | st.floats()
        | st.sampled_from(
            ["temperature", "humidity", "Cel", "%RH", "env-3f2a1c/", "fall", "detected", ""]
        ),
        max_size=6,
    ),
    max_size=8,
)


@given(st.binary(max_size=300))
def test_no_bytes_raise_anything_but_contract_error(payload: bytes) -> None:
    with contextlib.suppress(ContractError):
        parse(payload)


@given(json_values)
def test_no_json_raises_anything_but_contract_error(value: Any) -> None:
    with contextlib.suppress(ContractError):
        parse(json.dumps(value).encode())


@given(senml_like)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_no_senml_like_pack_raises_anything_but_contract_error(pack: list[Any]) -> None:
    try:
        records = parse(json.dumps(pack).encode())
    except ContractError:
        return
    for record in records:
        assert Limits().min_time * 1000 <= record.time_ms <= (NOW + 600) * 1000
        assert not (isinstance(record.value, float) and not math.isfinite(record.value))


def _value_for(name: str) -> st.SearchStrategy[Any]:
    spec = NAMES[name]
    if spec.kind is Kind.NUMBER:
        assert spec.low is not None
        assert spec.high is not None
        return st.floats(spec.low, spec.high, allow_nan=False)
    if spec.kind is Kind.BOOLEAN:
        return st.booleans()
    assert spec.choices is not None
    return st.sampled_from(sorted(spec.choices))


records_strategy = st.lists(
    st.tuples(st.sampled_from(sorted(NAMES)), st.integers(-86_400_000 * 30, 0)).flatmap(
        lambda nt: _value_for(nt[0]).map(lambda v: (nt[0], nt[1], v))
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda r: (r[0], r[1]),
)


@given(records_strategy)
def test_encode_then_parse_round_trips(items: list[tuple[str, int, Any]]) -> None:
    base_ms = int(NOW * 1000)
    records = [
        Record(TOPIC.home, TOPIC.device, name, base_ms + offset, value, NAMES[name].unit)
        for name, offset, value in items
    ]
    assert parse(encode_pack(TOPIC.device, records)) == records


@given(st.floats(-(2**28), 2**28, allow_nan=False), st.floats(-1000, 1000, allow_nan=False))
def test_relative_time_is_receipt_plus_offset(bt: float, t: float) -> None:
    """RFC 8428 §4.5.3 as the contract profiles it: bt + t <= 2**28 counts from receipt."""
    resolved = bt + t
    pack = [{"bt": bt, "n": "co2", "v": 400, "t": t}]
    if resolved > 600:
        assert reason(pack) is Reason.BAD_TIME
    else:
        assert parse(pack)[0].time_ms == round((NOW + resolved) * 1000)


# -- the fast path: the same records as the exact path, or declined ----------------------------
# (issue 14: half of ingest's CPU went on the exact path's per-field Python; a contract pack
# now goes through msgspec, and anything unusual still gets the exact path's verdict)


def _fast(payload: bytes, received_at: float = NOW) -> list[Record] | None:
    return _parse_fast(TOPIC, payload, received_at, Limits())


def _exact(payload: bytes, received_at: float = NOW) -> list[Record] | ContractError:
    try:
        return _parse_exact(TOPIC, payload, received_at=received_at)
    except ContractError as exc:
        return exc


@pytest.mark.parametrize(
    "pack",
    [
        # the contract's example and the benchmark's packs: base name, base time, offsets
        [
            {"bn": "env-3f2a1c/", "bt": 1763841600, "n": "temperature", "u": "Cel", "v": 17.9},
            {"n": "humidity", "u": "%RH", "v": 78.5},
            {"n": "temperature", "u": "Cel", "v": 17.6, "t": 300},
            {"n": "humidity", "u": "%RH", "v": 80.1, "t": 300},
        ],
        [{"bn": "env-3f2a1c/", "bt": NOW, "n": "fall", "vs": "detected"}],
        [{"n": "motion", "vb": True, "t": -5}, {"n": "leak", "vb": False, "bver": 10}],
        [{"bt": NOW - 100, "bu": "Cel", "bv": 20, "n": "temperature", "v": -2, "ut": 60}],
        [{"n": "pm2_5", "u": "ug/m3", "v": 3.5, "bs": 1}],  # an unknown name, kept
    ],
)
def test_contract_packs_take_the_fast_path(pack: list[dict[str, Any]]) -> None:
    for separators in ((",", ":"), (", ", ": ")):
        payload = json.dumps(pack, separators=separators).encode()
        fast = _fast(payload)
        assert fast is not None
        assert fast == _exact(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'[{"n":"co2","v":1,"v":2}]',  # a duplicate key: msgspec would keep the last
        b'[{"n":"co2","v":1,"n":"humidity"}]',
        b'[{"n":"co2","v":1,"x":{"deep":[[[[1]]]]}}]',  # an unknown key (depth unseen)
        b'[{"n":"co2","v":1,"foo_":1}]',
        b'[{"n":"co2","v":1,"vd":"AAE="}]',
        b'[{"n":"co2","v":1,"u":null}]',  # an explicit null
        b'[{"n":"note","vs":"a\\u0000b"}]',  # an escape
        b'[{"n":"note","vs":"12:00"}]',  # a colon in a string: counted as a key, declined
        b'[{"n":"env-3f2a1c/co2","v":400}]',  # a prefixed name: the exact path strips it
        b'[{"n":"co2","v":1},{"n":"co2","v":2}]',
        b'[{"n":"humidity","v":100.5}]',
        b'[{"n":"co2","v":1e400}]',
        b'[{"n":"co2","v":true}]',
        b'[{"bver":true,"n":"co2","v":1}]',
        b'[{"n":"home","vs":"x"}]',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_the_fast_path_declines_what_it_cannot_vouch_for(payload: bytes) -> None:
    assert _fast(payload) is None
    expected = _exact(payload)
    try:
        got: list[Record] | ContractError = parse_pack(TOPIC, payload, received_at=NOW)
    except ContractError as exc:
        got = exc
    if isinstance(expected, ContractError):
        assert isinstance(got, ContractError)
        assert (got.reason, got.detail, got.index) == (
            expected.reason,
            expected.detail,
            expected.index,
        )
    else:
        assert got == expected


def _agree(payload: bytes, received_at: float = NOW) -> list[Record] | None:
    fast = _fast(payload, received_at)
    if fast is not None:
        assert fast == _exact(payload, received_at)
    return fast


@given(senml_like, st.sampled_from([(",", ":"), (", ", ": ")]))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_fast_and_exact_paths_agree_on_senml_like_packs(
    pack: list[Any], separators: tuple[str, str]
) -> None:
    with contextlib.suppress(ValueError):  # NaN from st.floats: not JSON at all
        _agree(json.dumps(pack, separators=separators, allow_nan=False).encode())


@given(records_strategy)
def test_fast_path_takes_every_encoded_pack(items: list[tuple[str, int, Any]]) -> None:
    base_ms = int(NOW * 1000)
    records = [
        Record(TOPIC.home, TOPIC.device, name, base_ms + offset, value, NAMES[name].unit)
        for name, offset, value in items
    ]
    assert _agree(encode_pack(TOPIC.device, records)) == records


@given(st.binary(max_size=300))
def test_fast_path_on_any_bytes_declines_or_agrees(payload: bytes) -> None:
    _agree(payload)


_VALID = json.dumps(
    [
        {"bn": "env-3f2a1c/", "bt": NOW - 600, "n": "temperature", "u": "Cel", "v": 17.9},
        {"n": "humidity", "u": "%RH", "v": 78.5, "t": 60},
        {"n": "pm2_5", "u": "ug/m3", "v": 3.5},
        {"n": "fall", "vs": "detected", "t": 120},
    ],
    separators=(",", ":"),
).encode()


@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=3
    )
)
@settings(max_examples=500)
def test_fast_path_on_a_mutated_pack_declines_or_agrees(edits: list[tuple[int, int]]) -> None:
    """Any byte of a good pack changed (whitespace, control bytes, quotes, digits, UTF-8)."""
    payload = bytearray(_VALID)
    for position, byte in edits:
        payload[position] = byte
    _agree(bytes(payload))
