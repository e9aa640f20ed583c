"""Issue 11, item 1: one reading named `home` blanked every home's data; now it is refused,
and no field can shadow a tag in the product's own queries."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from alerts.service import AlertsWorker
from dashboard.climate_summary import ClimateTracker
from dashboard.series import devices_seen, home_series, rooms_now
from hof.influx import InfluxClient
from hof.settings import Settings

Query = Callable[[str], list[dict[str, Any]]]


def _temperatures(query: Query, home: str) -> list[float]:
    series = query(f"SELECT temperature FROM reading WHERE \"home\"::tag = '{home}'")
    return [v[1] for s in series for v in s["values"] if v[1] is not None]


@pytest.mark.e2e
@pytest.mark.usefixtures("ingest_process")
def test_a_pack_named_like_a_tag_is_refused_and_other_homes_keep_their_data(
    device: Any, watcher: Any, home_id: str, query: Query, eventually: Any
) -> None:
    victim_home = f"{home_id}-victim"
    victim = device("env-v", home=victim_home)
    attacker = device("env-a")
    letters = watcher(f"hof/v1/{home_id}/+/deadletter")
    now = time.time()
    victim.publish("reading", [{"bn": "env-v/", "bt": now - 60, "n": "temperature", "v": 19.5}])
    assert eventually(lambda: _temperatures(query, victim_home) == [19.5])

    attacks: list[list[dict[str, Any]]] = [
        [{"n": "home", "vs": victim_home}, {"n": "temperature", "u": "Cel", "v": 99.0}],
        [{"n": "device", "vs": "env-v"}, {"n": "temperature", "u": "Cel", "v": 98.0}],
        [{"n": "room", "vs": "bedroom"}, {"n": "humidity", "u": "%RH", "v": 50.0}],
        [{"bn": "env-a/", "n": "time", "v": 1}],
    ]
    for i, pack in enumerate(attacks):
        pack[0] = {**pack[0], "bt": now - 30 + i}
        attacker.publish("reading", pack)
        attacker.publish("event", pack)
    assert eventually(lambda: len(letters.messages) == 2 * len(attacks))
    assert {letter["reason"] for letter in letters.json()} == {"bad_name"}
    assert all("reserved" in letter["detail"] for letter in letters.json())

    # Nothing of the attacker's is stored, no field took a tag's name, the victim is intact.
    for measurement in ("reading", "event"):
        assert query(f"SELECT * FROM {measurement} WHERE \"home\"::tag = '{home_id}'") == []
    fields = {v[0] for s in query("SHOW FIELD KEYS") for v in s["values"]}
    assert not fields & {"home", "device", "room", "time"}
    assert query(f"SELECT * FROM reading WHERE home = '{victim_home}'") != []  # untyped too
    assert _temperatures(query, victim_home) == [19.5]


# -- a field named like a tag, written straight to InfluxDB --------------------------------


@pytest.fixture
async def shadowed(settings: Settings) -> AsyncIterator[tuple[Settings, str]]:
    """A database of its own (the shadow would break other tests' untyped queries) holding two
    homes' readings and mould points, and a point whose *field* `home` names the first home."""
    database = f"shadow_{uuid.uuid4().hex[:8]}"
    async with InfluxClient(settings.influx) as admin:
        await admin.query(f'CREATE DATABASE "{database}"')
    mine = settings.model_copy(
        update={"influx": settings.influx.model_copy(update={"database": database})}
    )
    now = int(time.time() // 60 * 60)
    hour = now // 3600 * 3600
    lines = []
    for k in range(1, 4):  # three completed hours, cold in H-A's bedroom and warm in H-B's
        for home, device, room, t in (
            ("H-A", "env-1", "bedroom", 12.0),
            ("H-B", "env-2", "hall", 20.0),
        ):
            at = hour - k * 3600 + 600
            lines.append(
                f"reading,device={device},home={home},room={room} "
                f"temperature={t},humidity=60.0,battery=80.0,rssi=-90.0 {at}"
            )
            lines.append(f"mould,home={home},room={room} mould_index=1.5,surface_rh=80.0 {at}")
    # The attack as InfluxDB stored it before the fix: fields named home, device and room.
    lines.append(
        f'reading,device=evil,home=H-X,room=attic home="H-A",device="env-1",room="bedroom",'
        f"temperature=99.0,humidity=1.0 {now - 30}"
    )
    lines.append(f'mould,home=H-X,room=attic home="H-A",room="bedroom",mould_index=9.0 {now - 30}')
    async with InfluxClient(mine.influx) as influx:
        await influx.write(lines, precision="s")
    yield mine, database
    async with InfluxClient(settings.influx) as admin:
        await admin.query(f'DROP DATABASE "{database}"')


@pytest.mark.e2e
async def test_a_field_named_like_a_tag_shadows_no_query_of_the_product(
    shadowed: tuple[Settings, str],
) -> None:
    settings, _ = shadowed
    async with InfluxClient(settings.influx) as influx:
        series = await home_series(influx, "H-A", "24h")
        assert set(series.rooms) == {"bedroom"}
        assert {t for t in series.rooms["bedroom"]["temperature"] if t is not None} == {12.0}
        assert {m for m in series.rooms["bedroom"]["mould_index"] if m is not None} == {1.5}

        now = await rooms_now(influx, "H-A")
        assert [(r.room, r.device, r.temperature) for r in now] == [("bedroom", "env-1", 12.0)]

        seen = await devices_seen(influx, "H-A")
        assert set(seen) == {"env-1"}
        assert (seen["env-1"].room, seen["env-1"].battery) == ("bedroom", 80.0)

        tracker = ClimateTracker(cold_c=16.0, hot_c=26.0)
        climate, _ = await tracker.run_pass(influx, ["H-A", "H-B"], dt.datetime.now(dt.UTC))
        assert climate.cold_hours == {"H-A": 3}
        assert climate.mould["H-A"] == (1.5, "bedroom")
        assert set(climate.last_reading) == {"H-A", "H-B"}

        worker = AlertsWorker(settings)
        await worker._replay(influx, hours=6)
        assert set(worker.rooms) == {("H-A", "bedroom"), ("H-B", "hall"), ("H-X", "attic")}
        assert {d for _, d in worker.devices} == {"env-1", "env-2", "evil"}
