"""A device's readings travel broker -> ingest -> InfluxDB, and bad input is dead-lettered."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ingest_process")]

Query = Callable[[str], list[dict[str, Any]]]


def _points(query: Query, home: str, measurement: str = "reading") -> list[dict[str, Any]]:
    series = query(f"SELECT * FROM {measurement} WHERE home = '{home}' GROUP BY *")
    rows = []
    for s in series:
        for values in s["values"]:
            row = dict(zip(s["columns"], values, strict=True))
            rows.append({**s.get("tags", {}), **{k: v for k, v in row.items() if v is not None}})
    return sorted(rows, key=lambda r: (r.get("device", ""), r["time"]))


def test_contract_example_pack_becomes_tagged_points(
    device: Any, home_id: str, query: Query, eventually: Any
) -> None:
    """The contract's own example pack, published by a third-party device, lands as it says."""
    env = device("env-3f2a1c")
    env.configure(json.dumps({"rooms": {"env-3f2a1c": "bedroom"}}))
    time.sleep(0.3)  # the worker learns rooms from the retained config as it arrives
    bt = int(time.time()) - 600
    env.publish(
        "reading",
        [
            {"bn": "env-3f2a1c/", "bt": bt, "n": "temperature", "u": "Cel", "v": 17.9},
            {"n": "humidity", "u": "%RH", "v": 78.5},
            {"n": "temperature", "u": "Cel", "v": 17.6, "t": 300},
            {"n": "humidity", "u": "%RH", "v": 80.1, "t": 300},
        ],
    )
    assert eventually(lambda: len(_points(query, home_id)) == 2)
    rows = _points(query, home_id)
    assert rows == [
        {
            "time": bt * 1000,
            "device": "env-3f2a1c",
            "home": home_id,
            "room": "bedroom",
            "temperature": 17.9,
            "humidity": 78.5,
        },
        {
            "time": (bt + 300) * 1000,
            "device": "env-3f2a1c",
            "home": home_id,
            "room": "bedroom",
            "temperature": 17.6,
            "humidity": 80.1,
        },
    ]


def test_same_pack_twice_is_stored_once(
    device: Any, home_id: str, query: Query, eventually: Any, ingest_process: Any
) -> None:
    env = device("env-1")
    bt = time.time() - 60
    pack = [
        {"bn": "env-1/", "bt": bt, "n": "temperature", "u": "Cel", "v": 21.25},
        {"n": "co2", "u": "ppm", "v": 612.0},
    ]
    env.publish("reading", pack)
    assert eventually(lambda: len(_points(query, home_id)) == 1)
    before = ingest_process.metrics()["hof_ingest_messages_total"]
    env.publish("reading", pack)
    assert eventually(lambda: ingest_process.metrics()["hof_ingest_messages_total"] > before)
    time.sleep(0.5)  # let the second copy's batch be written too
    rows = _points(query, home_id)
    assert len(rows) == 1
    assert rows[0]["temperature"] == 21.25
    assert rows[0]["co2"] == 612.0
    counted = query(f"SELECT count(temperature) FROM reading WHERE home = '{home_id}'")
    assert counted[0]["values"][0][1] == 1


def test_events_keep_their_kind(device: Any, home_id: str, query: Query, eventually: Any) -> None:
    pendant = device("tc-9")
    now = time.time()
    pendant.publish(
        "event",
        [
            {"bn": "tc-9/", "bt": now - 5, "n": "fall", "vs": "detected"},
            {"n": "button", "vs": "pressed", "t": 1},
            {"n": "leak", "vb": True, "t": 2},
            {"n": "battery", "u": "%EL", "v": 87, "t": 2},
        ],
    )
    assert eventually(lambda: len(_points(query, home_id, "event")) == 3)
    rows = _points(query, home_id, "event")
    assert rows[0]["fall"] == "detected"
    assert rows[1]["button"] == "pressed"
    assert rows[2]["leak"] is True
    assert rows[2]["battery"] == 87.0


def test_relative_times_resolve_at_receipt(
    device: Any, home_id: str, query: Query, eventually: Any
) -> None:
    """A device with no clock sends offsets; they become absolute times at the platform."""
    env = device("env-noclock")
    sent = time.time()
    env.publish(
        "reading",
        [
            {"n": "temperature", "u": "Cel", "v": 19.0},
            {"n": "temperature", "u": "Cel", "v": 19.5, "t": -300},
        ],
    )
    assert eventually(lambda: len(_points(query, home_id)) == 2)
    times = [row["time"] / 1000 for row in _points(query, home_id)]
    assert times[1] - times[0] == pytest.approx(300, abs=0.01)
    assert times[1] == pytest.approx(sent, abs=5)


def test_unknown_names_are_kept(device: Any, home_id: str, query: Query, eventually: Any) -> None:
    env = device("env-x")
    env.publish(
        "reading",
        [
            {"bn": "env-x/", "bt": time.time(), "n": "pm25", "u": "ug/m3", "v": 7.5},
            {"n": "firmware_note", "vs": "ok"},
        ],
    )
    assert eventually(lambda: len(_points(query, home_id)) == 1)
    row = _points(query, home_id)[0]
    assert row["pm25"] == 7.5
    assert row["firmware_note"] == "ok"


BAD: list[tuple[str, bytes | str, str]] = [
    ("not json", b"{temperature: 17}", "not_json"),
    ("not utf-8", b"\xff\xfe\x00garbage", "not_json"),
    ("object, not array", '{"n":"temperature","v":17}', "not_senml"),
    ("empty pack", "[]", "empty_pack"),
    ("record not an object", "[1,2,3]", "not_senml"),
    ("NaN", '[{"n":"temperature","u":"Cel","v":NaN}]', "not_json"),
    ("unknown unit", '[{"n":"temperature","u":"Far","v":64}]', "unknown_unit"),
    ("out of range", '[{"n":"humidity","u":"%RH","v":180}]', "out_of_range"),
    ("wrong value kind", '[{"n":"temperature","vs":"warm"}]', "wrong_value_type"),
    ("no value", '[{"n":"temperature","u":"Cel"}]', "no_value"),
    ("bad choice", '[{"n":"fall","vs":"maybe"}]', "out_of_range"),
    (
        "other device's bn",
        '[{"bn":"env-other/","n":"temperature","u":"Cel","v":17}]',
        "base_name_mismatch",
    ),
    ("bad name", '[{"n":"temp erature","u":"Cel","v":17}]', "bad_name"),
    ("far future", '[{"n":"temperature","u":"Cel","v":17,"t":4102444800}]', "bad_time"),
    ("before 2015", '[{"n":"temperature","u":"Cel","v":17,"t":1000000000}]', "bad_time"),
    ("must-understand field", '[{"n":"temperature","u":"Cel","v":17,"x_":1}]', "bad_field"),
    (
        "duplicate record",
        '[{"n":"co2","u":"ppm","v":500,"t":-5},{"n":"co2","u":"ppm","v":501,"t":-5}]',
        "duplicate_record",
    ),
    (
        "too many records",
        "[" + ",".join(f'{{"n":"co2","v":5,"t":{-i}}}' for i in range(501)) + "]",
        "too_many_records",
    ),
    ("too large", b"[" + b" " * 17000 + b"]", "too_large"),
    ("newer SenML", '[{"bver":11,"n":"co2","u":"ppm","v":500}]', "unsupported_version"),
]


def test_malformed_packs_are_dead_lettered_while_good_traffic_flows(
    device: Any, watcher: Any, home_id: str, query: Query, eventually: Any, ingest_process: Any
) -> None:
    env = device("env-bad")
    letters = watcher(f"hof/v1/{home_id}/+/deadletter")
    start = time.time() - 3600
    for i, (_, payload, _) in enumerate(BAD):
        env.publish("reading", payload)
        env.publish(
            "reading",
            [
                {
                    "bn": "env-bad/",
                    "bt": start + i * 60,
                    "n": "temperature",
                    "u": "Cel",
                    "v": 18.0 + i / 10,
                }
            ],
        )
    assert eventually(lambda: len(letters.messages) == len(BAD))
    assert eventually(lambda: len(_points(query, home_id)) == len(BAD))
    got = letters.json()
    assert [g["reason"] for g in got] == [reason for _, _, reason in BAD]
    for letter in got:
        assert letter["topic"] == f"hof/v1/{home_id}/env-bad/reading"
        assert letter["detail"]
        assert letter["service"] == "ingest"
    assert {t for t, _ in letters.messages} == {f"hof/v1/{home_id}/env-bad/deadletter"}
    temps = [row["temperature"] for row in _points(query, home_id)]
    assert temps == pytest.approx([18.0 + i / 10 for i in range(len(BAD))])
    rejected = ingest_process.by_label("hof_ingest_rejected_total", "reason")
    assert rejected.get("out_of_range", 0) >= 2


def test_retained_reading_replayed_to_a_new_worker_is_refused(
    device: Any, watcher: Any, home_id: str, eventually: Any, stack: Any, tmp_path: Any
) -> None:
    """A reading is never retained (CONTRACT.md): a replay of one is not new data."""
    from hofsupport import IngestProcess

    env = device("env-r")
    letters = watcher(f"hof/v1/{home_id}/+/deadletter")
    env.publish("reading", [{"n": "co2", "u": "ppm", "v": 700}], retain=True)
    fresh = IngestProcess(stack.settings.state_dir, "ingest-fresh", HOF_INGEST__SHARE_GROUP="fresh")
    fresh.start()
    try:
        assert eventually(lambda: any(b'"retained"' in p for _, p in letters.messages))
    finally:
        env.publish("reading", b"", retain=True)  # clear it, so no later subscriber sees it
        fresh.stop()
