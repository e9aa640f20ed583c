"""The firmware's pure modules (SenML writer, config checks, fall detector) are plain Python:
here CPython and hypothesis explore them more widely than the board could."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from fw_support import FIRMWARE
from hypothesis import given, settings
from hypothesis import strategies as st

from hof.senml import parse_pack
from hof.topic import Topic


@pytest.fixture(scope="module")
def fw() -> Iterator[dict[str, ModuleType]]:
    """lib.senml, lib.config and fall, imported from firmware/ and forgotten afterwards."""
    sys.path.insert(0, str(FIRMWARE))
    try:
        modules = {
            name: importlib.import_module(name) for name in ("lib.senml", "lib.config", "fall")
        }
        yield modules
    finally:
        sys.path.remove(str(FIRMWARE))
        for name in ("lib.senml", "lib.config", "lib", "fall"):
            sys.modules.pop(name, None)


NAMES = [
    (b"temperature", b"Cel", 2),
    (b"humidity", b"%RH", 2),
    (b"co2", b"ppm", 0),
    (b"voltage", b"V", 3),
]


@settings(max_examples=200, deadline=None)
@given(
    readings=st.lists(
        st.tuples(st.integers(0, 3), st.integers(-4000, 10000), st.integers(0, 86400)),
        min_size=1,
        max_size=20,
        unique_by=lambda r: (r[0], r[2]),  # the contract refuses a (name, time) twice
    )
)
def test_packs_written_digit_by_digit_are_the_contracts_senml(
    fw: dict[str, ModuleType], readings: list[tuple[int, int, int]]
) -> None:
    w = fw["lib.senml"].PackWriter(4096)
    bt_ms = (int(time.time()) - 86400) * 1000 + 123
    w.start(b"env-1", bt_ms)
    expected: dict[tuple[str, int], float] = {}
    for kind, value, t in readings:
        name, unit, decimals = NAMES[kind]
        if name in (b"co2", b"voltage", b"humidity"):
            value = abs(value)
        w.number(name, unit, value, decimals, t * 1000)
        expected[(name.decode(), bt_ms + t * 1000)] = value / 10**decimals
    payload = bytes(w.finish())
    json.loads(payload)  # plain JSON
    records = parse_pack(Topic.parse("hof/v1/H-1/env-1/reading"), payload, received_at=time.time())
    got = {(r.name, r.time_ms): r.value for r in records}
    assert got.keys() == expected.keys()
    for key, got_value in got.items():
        assert got_value == pytest.approx(expected[key])


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"interval_s": 0}, "interval_s"),
        ({"interval_s": "300"}, "interval_s"),
        ({"interval_s": True}, "interval_s"),
        ({"rooms": {"tc-1": "living room"}}, "room"),
        ({"rooms": []}, "rooms"),
        ({"fall": {"impact_g": 50}}, "impact_g"),
        ({"fall": {"enabled": "yes"}}, "enabled"),
        ({"fall": {"freefall_min_ms": 500, "freefall_max_ms": 300}}, "freefall_min_ms"),
        ([1, 2], "object"),
    ],
)
def test_bad_config_is_refused_with_its_reason(
    fw: dict[str, ModuleType], config: Any, reason: str
) -> None:
    config_mod = fw["lib.config"]
    with pytest.raises(config_mod.ConfigError, match=reason):
        config_mod.check_remote(config, "tc-1")


def test_good_config_keeps_known_keys_and_ignores_the_rest(fw: dict[str, ModuleType]) -> None:
    changes = fw["lib.config"].check_remote(
        {
            "interval_s": 60,
            "rooms": {"tc-1": "hall", "env-2": "attic"},
            "fall": {"tilt_deg": 60},
            "x": 1,
        },
        "tc-1",
    )
    assert changes == {"interval_s": 60, "room": "hall", "fall": {"tilt_deg": 60}}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(*[st.integers(-16000, 16000)] * 3), max_size=600))
def test_the_detector_survives_any_input_and_cools_down(
    fw: dict[str, ModuleType], samples: list[tuple[int, int, int]]
) -> None:
    det = fw["fall"].FallDetector()
    alarms = [i for i, (x, y, z) in enumerate(samples) if det.update(x, y, z)]
    # never twice within the 30 s cool-down (1500 samples at 50 Hz)
    assert all(b - a >= 1500 for a, b in itertools.pairwise(alarms))
    assert det.state in (0, 1, 2, 3, 4)
