"""Bounded JSON for device input: size, depth and encoding refused before json recurses."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hof import devicejson
from hof.errors import ContractError, Reason


def reason(payload: bytes, **kw: Any) -> Reason:
    with pytest.raises(ContractError) as info:
        devicejson.loads(payload, **kw)
    return info.value.reason


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"[" * 3000, Reason.NOT_JSON),  # issue 11: RecursionError in json.loads
        (b"{" * 3000, Reason.NOT_JSON),
        (b'{"a":' * 3000, Reason.NOT_JSON),
        (b"[" * 3000 + b"]" * 3000, Reason.TOO_DEEP),
        (b'{"a":' * 17 + b"1" + b"}" * 17, Reason.TOO_DEEP),
        (b"[{" * 9 + b"}]" * 9, Reason.TOO_DEEP),  # 18 levels of two kinds
        (b"]][[", Reason.NOT_JSON),
        (b"[" * 20_000, Reason.TOO_LARGE),
        (b"\xff", Reason.NOT_JSON),
        ('["caf\u00e9"]'.encode("utf-16"), Reason.NOT_JSON),  # JSON on the wire is UTF-8
        (b"[NaN]", Reason.NOT_JSON),
        (b'{"a":1,"a":2}', Reason.NOT_JSON),
        (b"1" * 5000, Reason.NOT_JSON),  # an integer of 5,000 digits
    ],
)
def test_refused_with_a_reason(payload: bytes, why: Reason) -> None:
    assert reason(payload) is why


@pytest.mark.parametrize(
    "value",
    [
        [{"n": "temperature", "v": 1.5}],
        {"rooms": {"env-1": "bedroom"}, "fall": {"enabled": True}},
        {"text": "brackets [[[[ {{{{ in a string", "esc": 'a \\ back" slash ]]]'},
        ["\\", "\\\\", '"', '\\"'],
        [[[[[[[[[[[[[[[["sixteen levels"]]]]]]]]]]]]]]]],
        "just a string",
        17,
        None,
    ],
)
def test_what_json_can_hold_within_the_bounds_is_read(value: Any) -> None:
    assert devicejson.loads(json.dumps(value).encode()) == value


def test_strings_cannot_hide_depth() -> None:
    """Brackets inside strings do not count, and escapes cannot make a string end early."""
    payload = json.dumps(["[" * 100 + '\\"' + "{" * 100, "]" * 50]).encode()
    assert devicejson.loads(payload)[1] == "]" * 50
    hidden = b'["\\\\"' + b"[" * 40 + b"]" * 40 + b"]"  # the string ends after one backslash
    assert reason(hidden) is Reason.TOO_DEEP


def test_depth_is_checked_with_little_stack() -> None:
    """Refusing the crash-loop payload needs no recursion: it works with almost no stack left."""
    limit, depth, frame = sys.getrecursionlimit(), 0, sys._getframe()
    while frame.f_back is not None:
        depth, frame = depth + 1, frame.f_back
    try:
        sys.setrecursionlimit(depth + 30)
        assert reason(b"[" * 6000) is Reason.NOT_JSON
        assert reason(b"[" * 5000 + b"]" * 5000) is Reason.TOO_DEEP
    finally:
        sys.setrecursionlimit(limit)


def test_objects_only_where_an_object_is_due() -> None:
    assert devicejson.loads_object(b'{"state":"online"}', "status") == {"state": "online"}
    with pytest.raises(ContractError, match="a status is a JSON object"):
        devicejson.loads_object(b"[1]", "status")


@given(st.binary(max_size=400))
@settings(max_examples=300)
def test_no_bytes_raise_anything_but_contract_error(payload: bytes) -> None:
    with contextlib.suppress(ContractError):
        devicejson.loads(payload)


structural = st.lists(
    st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b",", b":", b"1", b'"a"', b"\\\\"]),
    max_size=300,
).map(b"".join)


@given(structural)
@settings(max_examples=500)
def test_bracket_soup_never_gets_past_the_depth_check_too_deep(payload: bytes) -> None:
    """Whatever the check lets through json reads without exceeding the bound."""
    try:
        value = devicejson.loads(payload, max_depth=8)
    except ContractError:
        return
    depth, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, list | dict):
            depth = max(depth, level)
            stack += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    assert depth <= 8


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_json_within_the_bounds_round_trips(value: Any) -> None:
    payload = json.dumps(value).encode()
    try:
        decoded = devicejson.loads(payload)
    except ContractError as exc:
        refused: Reason | None = exc.reason
    else:
        refused = None
        assert decoded == value
    assert refused in (None, Reason.TOO_DEEP, Reason.TOO_LARGE)
