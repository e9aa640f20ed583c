"""Rooms from retained configs: bounded, own device only, room names that are ids."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hof.devicestatus import parse_status
from hof.errors import ContractError, Reason
from hof.rooms import RoomMap
from hof.topic import is_valid_id

TOPIC = "hof/v1/LCC-1/env-1/config"


def learn(body: Any, topic: str = TOPIC) -> RoomMap:
    rooms = RoomMap()
    rooms.learn(topic, body if isinstance(body, bytes) else json.dumps(body).encode())
    return rooms


def test_a_config_places_its_own_device() -> None:
    assert learn({"interval_s": 300, "rooms": {"env-1": "bedroom"}}) == {
        ("LCC-1", "env-1"): "bedroom"
    }


def test_a_config_cannot_place_another_device() -> None:
    """Issue 11, item 4: one device's config relabelled its neighbours' rooms."""
    assert learn({"rooms": {"env-2": "kitchen", "env-1": "hall"}}) == {("LCC-1", "env-1"): "hall"}


@pytest.mark.parametrize(
    "room",
    [
        "bed\nroom",
        "bed room",
        "bed,room=x",
        "bed=room",
        'bed"room',
        "bed\\room",
        "bedroom\n" + "evil,home=LCC-2 temperature=99",
        "",
        "x" * 65,
        "_leading",
        17,
        None,
        ["bedroom"],
    ],
)
def test_a_room_that_is_not_an_id_is_ignored(room: Any) -> None:
    """Issue 11, item 4: a room with a line break injected line protocol."""
    assert learn({"rooms": {"env-1": room}}) == {}


def test_the_crash_loop_config_is_refused_not_raised() -> None:
    """Issue 11, item 2: 6 KB of nesting raised RecursionError in ingest and the rules engine."""
    with pytest.raises(ContractError) as info:
        learn(b'{"rooms":' + b"[" * 6000)
    assert info.value.reason is Reason.NOT_JSON
    with pytest.raises(ContractError) as info:
        learn(b"[" * 3000 + b"]" * 3000)
    assert info.value.reason is Reason.TOO_DEEP


def test_a_cleared_config_unplaces_the_device() -> None:
    rooms = learn({"rooms": {"env-1": "bedroom"}})
    rooms.learn(TOPIC, b"")
    assert rooms == {}


@given(st.binary(max_size=300))
def test_no_bytes_raise_anything_but_contract_error(payload: bytes) -> None:
    try:
        rooms = learn(payload)
    except ContractError:
        return
    assert all(is_valid_id(room) for room in rooms.values())


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
        max_leaves=15,
    )
)
def test_no_json_raises_anything_but_contract_error(value: Any) -> None:
    for body in (value, {"rooms": value}, {"rooms": {"env-1": value}}):
        with contextlib.suppress(ContractError):
            learn(body)


@given(st.binary(max_size=300))
def test_no_status_raises_anything_but_contract_error(payload: bytes) -> None:
    try:
        report = parse_status(payload)
    except ContractError:
        return
    assert report.state in ("online", "offline", "unknown")


def test_status_fields_of_the_wrong_kind_are_left_out() -> None:
    report = parse_status(b'{"state":"online","fw":7,"battery":"full","rssi":-61,"ts":1e400}')
    assert (report.online, report.firmware, report.battery, report.rssi, report.ts) == (
        True,
        None,
        None,
        -61.0,
        None,
    )
    with pytest.raises(ContractError):
        parse_status(b"[" * 3000)
