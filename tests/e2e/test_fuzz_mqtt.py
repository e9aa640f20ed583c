"""A standing MQTT fuzz test (issue 11): one device's credential throws malformed messages of
every kind at the real broker, ingest and the rules engine (as processes); both stay up, nothing
bad is stored, and every message is counted.

Bounded and seeded: `HOF_FUZZ_SEED` (default 11) and `HOF_FUZZ_MESSAGES` (default 300) pick
the run; a failure names its seed, so it can be replayed.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from hofsupport import AlertsProcess, Device, IngestProcess, Watcher, influx_query, wait_until

from alerts.overheating import Overheat
from hof.settings import Settings
from hof.stack import Stack
from hof.vocabulary import NAMES, Kind

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("HOF_FUZZ_SEED", "11"))
MESSAGES = int(os.environ.get("HOF_FUZZ_MESSAGES", "300"))
HOME, DEVICE = "FUZZ-1", "env-f"
Pack = list[dict[str, Any]]


def _good_record(rng: random.Random, name: str) -> dict[str, Any]:
    spec = NAMES[name]
    if spec.kind is Kind.NUMBER:
        assert spec.low is not None
        assert spec.high is not None
        return {"n": name, "u": spec.unit, "v": round(rng.uniform(spec.low, spec.high), 2)}
    if spec.kind is Kind.BOOLEAN:
        return {"n": name, "vb": rng.random() < 0.5}
    assert spec.choices is not None
    return {"n": name, "vs": rng.choice(sorted(spec.choices))}


def _good_pack(rng: random.Random, at: float) -> Pack:
    names = rng.sample(sorted(NAMES), rng.randint(1, 4))
    pack = [_good_record(rng, n) for n in names]
    pack[0] = {"bn": f"{DEVICE}/", "bt": round(at, 3), **pack[0]}
    return pack


def _nested(rng: random.Random, depth: int) -> bytes:
    opener = rng.choice([b"[", b'{"a":', b'[{"n":'])
    return opener * depth


# Each turns a good pack into one the contract refuses, for a reason it names.
def _bad_record(rng: random.Random, pack: Pack) -> bytes:
    bad: dict[str, Any] = rng.choice(
        [
            {"n": rng.choice(["home", "device", "room", "time"]), "vs": "FUZZ-2"},
            {"n": "temperature", "u": "Far", "v": 64},
            {"n": "humidity", "u": "%RH", "v": 180},
            {"n": "temperature", "vs": "warm"},
            {"n": "fall", "vs": "maybe"},
            {"n": "note", "vs": "a\nb"},
            {"n": "temp erature", "v": 1},
            {"n": "co2", "u": "ppm"},
            {"n": "co2", "v": 1, "x_": 2},
            {"bn": "other/", "n": "co2", "v": 1},
            {"n": "co2", "v": 1, "t": 4_102_444_800},
            {"bver": 99, "n": "co2", "v": 1},
            {"n": "co2", "vd": "AAE="},
        ]
    )
    records = [*pack]
    records.insert(rng.randrange(len(records) + 1), bad)
    return json.dumps(records).encode()


def _malformed(rng: random.Random, pack: Pack) -> bytes:
    good = json.dumps(pack).encode()
    kind = rng.randrange(9)
    if kind == 0:
        return _bad_record(rng, pack)
    if kind == 1:  # binary, never UTF-8
        return b"\xff" + rng.randbytes(rng.randint(0, 200))
    if kind == 2:  # deeply nested, closed or not
        depth = rng.randint(20, 6000)
        return _nested(rng, depth) + (b"]" * depth if rng.random() < 0.5 else b"")
    if kind == 3:  # huge: past the contract's 16 KiB, under the broker's packet limit
        return b"[" + b" " * rng.randint(16_400, 100_000) + good + b"]"
    if kind == 4:  # truncated JSON
        return good[: rng.randrange(1, len(good))]
    if kind == 5:
        return rng.choice([b"", b"null", b"{}", b"[]", b"[1,2]", b'"[' + b"[" * 50 + b'"'])
    if kind == 6:
        return good.replace(b"}", b',"v":1}', 1) if b'"v"' in good else b"[NaN]"
    if kind == 7:
        return json.dumps(pack * 200).encode()[:16_000] + b"]"
    return b"[" + b",".join([good[1:-1]] * 501) + b"]"  # too many records, or too large


def _status(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b'{"state":' + b"[" * rng.randint(20, 3000),
            b"\xff\xfe" + rng.randbytes(50),
            b'{"state":"online","battery":"x","rssi":1e999}',
            b"[" * 3000 + b"]" * 3000,
            b'{"state":"online","fw":"1.0.0","battery":80}',
            b" " * 5000,
        ]
    )


def _config(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b'{"rooms":' + b"[" * 6000,
            json.dumps({"rooms": {DEVICE: "bed\nroom", "env-other": "kitchen"}}).encode(),
            json.dumps({"rooms": {DEVICE: "evil,home=FUZZ-2 temperature=99"}}).encode(),
            b"\xff",
        ]
    )


def test_malformed_messages_of_every_kind_harm_nothing(
    make_stack: Callable[[], tuple[Stack, Settings]],
) -> None:
    rng = random.Random(SEED)
    stack, settings = make_stack()
    state = stack.settings.state_dir
    quiet = {"HOF_LOG_LEVEL": "INFO"}
    ingest = IngestProcess(state, "ingest-fuzz", **quiet)
    alerts = AlertsProcess(
        state,
        "alerts-fuzz",
        HOF_ALERTS__HISTORY_HOURS="0",
        HOF_ALERTS__MOULD_HISTORY_DAYS="0",
        **quiet,
    )
    ingest.start()
    alerts.start()
    device = Device(stack, HOME, DEVICE)
    letters = Watcher(settings, f"hof/v1/{HOME}/+/deadletter")
    sent: dict[str, int] = {"reading": 0, "event": 0, "status": 0}
    good: list[tuple[str, Pack]] = []
    bad = 0
    try:
        start = time.time() - 3600
        for i in range(MESSAGES):
            pack = _good_pack(rng, start + i)
            roll = rng.random()
            channel = "event" if rng.random() < 0.3 else "reading"
            if roll < 0.12:
                device.publish("status", _status(rng), retain=rng.random() < 0.5)
                sent["status"] += 1
                continue
            if roll < 0.17:  # the broker refuses these for a device; harmless if it did not
                device.publish("config", _config(rng), retain=True)
                continue
            if roll < 0.21:  # topics the contract has no place for
                for topic in (f"{device.topic(channel)}/x", f"hof/v1/{HOME}/{DEVICE}/nope"):
                    device.client.publish(topic, b"[]", qos=1).wait_for_publish(10)
                continue
            sent[channel] += 1
            if roll < 0.30:
                good.append((channel, pack))
                device.publish(channel, json.dumps(pack))
            elif roll < 0.36:  # a good pack, but retained: refused
                bad += 1
                device.publish(channel, json.dumps(pack), retain=True)
            else:
                bad += 1
                device.publish(channel, _malformed(rng, pack))
        seed = f"seed {SEED}, {MESSAGES} messages"

        # Ingest counted every reading and event, refused every bad one and dead-lettered it.
        def refused() -> int:
            return sum(
                1
                for g in letters.json()
                if g["service"] == "ingest" and g["topic"].rsplit("/", 1)[1] in sent
            )

        assert wait_until(lambda: refused() >= bad, 30), (seed, refused(), bad)
        by_channel = ingest.by_label("hof_ingest_messages_total", "channel")
        assert by_channel.get("reading", 0) == sent["reading"], (seed, by_channel)
        assert by_channel.get("event", 0) == sent["event"], (seed, by_channel)
        assert ingest.metrics()["hof_ingest_rejected_total"] == bad, seed
        reasons = ingest.by_label("hof_ingest_rejected_total", "reason")
        assert "internal_error" not in reasons, (seed, reasons)
        assert refused() == bad, seed

        # The rules engine saw every message too, and judged nothing it could not read.
        def judged() -> dict[str, float]:
            return alerts.by_label("hof_alerts_messages_total", "channel")

        assert wait_until(lambda: judged() == {k: float(v) for k, v in sent.items() if v}, 20), (
            seed,
            judged(),
            sent,
            alerts.log_tail(60),
        )
        assert "internal_error" not in alerts.by_label("hof_alerts_ignored_total", "why"), seed

        # Stored: exactly the good packs' points, and nothing else anywhere.
        def points() -> int:
            return sum(
                len(s["values"])
                for m in ("reading", "event")
                for s in influx_query(settings, f"SELECT * FROM {m} WHERE \"home\"::tag = '{HOME}'")
            )

        assert wait_until(lambda: points() >= len(good), 10), seed
        time.sleep(0.3)  # anything stored late would show now
        assert points() == len(good), seed
        measurements = {
            v[0] for s in influx_query(settings, "SHOW MEASUREMENTS") for v in s["values"]
        }
        assert measurements <= {"reading", "event", "mould", "overheat_counts"}, seed
        fields = {v[0] for s in influx_query(settings, "SHOW FIELD KEYS") for v in s["values"]}
        assert not fields & {"home", "device", "room", "time"}, seed
        counts = set(Overheat(bedroom=True).fields())  # the rules' overheating counts
        assert fields <= set(NAMES) | {"mould_index", "surface_rh"} | counts, seed
        tags = {
            v[1]
            for s in influx_query(settings, 'SHOW TAG VALUES WITH KEY = "room"')
            for v in s["values"]
        }
        assert tags == set(), seed
        homes = {
            v[1]
            for s in influx_query(settings, 'SHOW TAG VALUES WITH KEY = "home"')
            for v in s["values"]
        }
        assert homes == {HOME}, seed

        # Both services are still up and answering.
        for service in (ingest, alerts):
            assert service.proc is not None
            assert service.proc.poll() is None, service.log_tail()
            assert service.metrics(), service.log_tail()
    finally:
        letters.close()
        device.close()
        alerts.stop()
        ingest.stop()
