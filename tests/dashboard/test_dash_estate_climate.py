"""The need summary's InfluxDB half against the real InfluxDB: room-hours out of band counted
per clock hour, new and recent hours re-read, the week rebuilt, and outages survived."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard.access import Principal, Role
from dashboard.climate_summary import WEEK_H, ClimateTracker
from dashboard.conditions import refresh_forever
from dashboard.context import Context
from dashboard.estate import EstateFilter, overview
from hof.alertstore import AlertStore, make_engine, migrate, store_url
from hof.influx import InfluxClient, InfluxUnavailable
from hof.registry import HomeCondition, HomeIn, upsert_homes
from hof.settings import Settings

HOUR = 3600


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _hour(now: dt.datetime) -> int:
    return int(now.timestamp()) // HOUR * HOUR


def _point(home: str, room: str, t: int, temperature: float) -> str:
    return f"reading,device=env-{room},home={home},room={room} temperature={temperature} {t * 1000}"


def _homes(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"CLM-{tag}-{i}" for i in range(n)]


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_a_pass_counts_room_hours_against_the_limits(settings: Settings) -> None:
    a, b, c = _homes(3)
    now = _now()
    hour = _hour(now)
    lines = [_point(a, "bedroom", hour - h * HOUR + 60, 15.0) for h in range(2, 7)]  # 5 cold
    lines += [_point(a, "kitchen", hour - h * HOUR, 30.0) for h in range(1, 4)]  # 3 hot
    # A mean of exactly 18 °C is not below 18: two points averaging it.
    lines += [
        _point(a, "hall", hour - 5 * HOUR, 17.0),
        _point(a, "hall", hour - 5 * HOUR + 60, 19.0),
    ]
    lines.append(_point(a, "bedroom", hour + 1, 10.0))  # the current hour is not over yet
    lines.append(_point(a, "bedroom", hour - (WEEK_H + 2) * HOUR, 10.0))  # before this week
    lines.append(_point(b, "bedroom", hour - 3 * HOUR, 21.0))
    lines += [
        f"mould,home={b},room=bathroom mould_index=3.25 {(hour - HOUR) * 1000}",
        f"mould,home={b},room=bedroom mould_index=0.5 {(hour - HOUR) * 1000}",
    ]
    async with InfluxClient(settings.influx) as influx:
        await influx.write(lines)
        tracker = ClimateTracker(cold_c=18.0, hot_c=26.0, homes_per_query=2)
        climate, figures = await tracker.run_pass(influx, [a, b, c], now)
    assert dict(climate.cold_hours) == {a: 5}
    assert dict(climate.hot_hours) == {a: 3}
    assert dict(climate.mould) == {b: (3.25, "bathroom")}
    assert climate.last_reading[a] == dt.datetime.fromtimestamp(hour + 1, dt.UTC)
    assert climate.last_reading[b] == dt.datetime.fromtimestamp(hour - 3 * HOUR, dt.UTC)
    assert c not in climate.last_reading
    # The week in one span, for two slices of homes; then mould and last reading for each.
    assert (figures.hours_read, figures.queries, figures.values) == (WEEK_H, 2 + 2 + 2, 10)


async def test_later_passes_read_new_and_late_hours_and_rebuild_the_week(
    settings: Settings,
) -> None:
    (home,) = _homes(1)
    hour = _hour(_now())
    now = dt.datetime.fromtimestamp(hour + HOUR // 2, dt.UTC)  # half past: the sums are exact
    tracker = ClimateTracker(cold_c=18.0, hot_c=26.0, recheck_h=2)
    async with InfluxClient(settings.influx) as influx:
        oldest = hour - WEEK_H * HOUR  # the first hour of this week
        await influx.write(
            [_point(home, "bedroom", hour - 20 * HOUR, 12.0), _point(home, "bedroom", oldest, 12.0)]
        )
        climate, figures = await tracker.run_pass(influx, [home], now)
        assert (climate.cold_hours, figures.hours_read) == ({home: 2}, WEEK_H)
        assert tracker.due(now) == []
        climate, figures = await tracker.run_pass(influx, [home], now)
        assert (figures.hours_read, figures.queries) == (0, 1)  # only the last reading

        # Points that arrive late: from 2 hours ago, caught when that hour is read again 2
        # hours after it ended; from 10 hours ago, left for the week's rebuild.
        await influx.write(
            [
                _point(home, "bedroom", hour - 2 * HOUR, 12.0),
                _point(home, "bedroom", hour - 10 * HOUR, 12.0),
                _point(home, "bedroom", hour + 60, 12.0),
            ]
        )
        # An hour on: the hour just ended, and the one ended 2 hours ago, are due (and read in
        # one span with the hour between); the hour that left the week no longer counts.
        later = now + dt.timedelta(hours=1)
        assert tracker.due(later) == [hour - 2 * HOUR, hour]
        climate, figures = await tracker.run_pass(influx, [home], later)
        assert (climate.cold_hours, figures.hours_read) == ({home: 3}, 3)
        assert oldest not in tracker.hours

        tracker.rebuild_s = 0.0
        climate, figures = await tracker.run_pass(influx, [home], later)
        assert (climate.cold_hours, figures.hours_read) == ({home: 4}, WEEK_H)
        assert climate.last_reading[home] == dt.datetime.fromtimestamp(hour + 60, dt.UTC)


async def test_an_unreachable_influxdb_leaves_its_hours_due(settings: Settings) -> None:
    (home,) = _homes(1)
    now = _now()
    tracker = ClimateTracker(cold_c=18.0, hot_c=26.0)
    down = settings.influx.model_copy(update={"url": _dead_url(), "timeout_s": 2.0})
    async with InfluxClient(down) as influx:
        with pytest.raises(InfluxUnavailable):
            await tracker.run_pass(influx, [home], now)
    assert len(tracker.due(now)) == WEEK_H
    async with InfluxClient(settings.influx) as influx:
        await influx.write([_point(home, "bedroom", _hour(now) - 30 * HOUR, 11.0)])
        climate, _ = await tracker.run_pass(influx, [home], now)
    assert climate.cold_hours == {home: 1}


async def test_the_summary_goes_on_while_influxdb_is_down(
    settings: Settings, tmp_path: Path
) -> None:
    conf = Settings(
        environment="test",
        state_dir=tmp_path,
        alertstore={"url": f"sqlite:///{tmp_path / 'platform.sqlite3'}"},
        influx=settings.influx.model_copy(update={"url": _dead_url(), "timeout_s": 1.0}),
        dashboard={"refresh_s": 0.1, "climate_refresh_s": 0.1},
    )
    migrate(store_url(conf))
    store = AlertStore.from_settings(conf)
    homes = _homes(3)
    upsert_homes(
        store.engine,
        [
            HomeIn(id=h, reference=h, address=f"{i} Test Row", patch="North")
            for i, h in enumerate(homes)
        ],
    )
    store.raise_or_update(
        home=homes[0],
        rule="damp_mould",
        rule_version=1,
        category="damp_mould",
        audience="housing_officer",
        severity="severe",
        summary="damp",
        room="bedroom",
    )
    async with InfluxClient(conf.influx) as influx:
        ctx = Context(conf, store, influx)
        task = asyncio.create_task(refresh_forever(ctx))
        await asyncio.sleep(1.5)
        alive = not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    with store.engine.connect() as conn:
        rows = dict(conn.execute(sa.select(HomeCondition.home, HomeCondition.need)).all())
    store.close()
    assert alive
    assert rows == {homes[0]: 80.0, homes[1]: 0.0, homes[2]: 0.0}
    assert ctx.metrics.counter("hof_dashboard_climate_errors_total", "").total() >= 2
    assert ctx.metrics.counter("hof_dashboard_refresh_rounds_total", "").total() >= 2


def test_a_home_is_listed_from_its_registration(tmp_path: Path) -> None:
    # The overview walks the need summary; a new home has an empty one until the next round.
    url = f"sqlite:///{tmp_path / 'platform.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    try:
        upsert_homes(engine, [HomeIn(id="NEW-1", reference="REF-NEW-1", address="1 New Row")])
        admin = Principal(1, "admin@example.org", "Admin", Role.ADMIN, ("*",), "api")
        page = overview(engine, admin, EstateFilter(q="REF-NEW"), limit=10, offset=0)
        assert [(r.id, r.risk) for r in page.rows] == [("NEW-1", "none")]
        assert page.counts.homes == 1
    finally:
        engine.dispose()
