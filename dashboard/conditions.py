"""The estate summary each home is ranked by (`home_condition`), kept fresh in the background.

Two sources at two paces: the alert store (open cases, overdue clocks, devices offline) every
`refresh_s`, cheap SQL aggregates; InfluxDB (room-hours too cold or too hot this week, the
latest mould index, the last reading) every `climate_refresh_s`, because at 50,000 homes those
queries read a week of every room. Only rows that changed are written. A failing source is
logged and retried next round; the loop itself never dies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from dashboard.context import Context
from dashboard.db import reading, writing
from dashboard.need import need_of
from hof.alertstore import Category, Severity, State
from hof.alertstore.models import Alert
from hof.alertstore.queries import overdue_sql
from hof.influx import InfluxClient, InfluxError
from hof.registry import Home, HomeCondition

__all__ = [
    "Climate",
    "Refresher",
    "read_cases",
    "read_climate",
    "refresh_forever",
    "refresh_round",
    "summarise",
]

log = structlog.get_logger(__name__)
_BATCH = 1000


@dataclass
class Climate:
    """What InfluxDB says of each home (refreshed at the slower pace)."""

    cold_hours: dict[str, float] = field(default_factory=dict)
    hot_hours: dict[str, float] = field(default_factory=dict)
    mould: dict[str, tuple[float, str]] = field(default_factory=dict)  # home -> (index, room)
    last_reading: dict[str, dt.datetime] = field(default_factory=dict)
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Cases:
    damp_by_severity: dict[str, int]
    overdue: int = 0
    cold: int = 0
    heat: int = 0
    offline: int = 0
    low_battery: int = 0


def _per_home(series: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in series:
        home = s.get("tags", {}).get("home", "")
        if home and s.get("values"):
            out[home] = float(s["values"][0][1] or 0)
    return out


async def read_climate(influx: InfluxClient, cold_c: float, hot_c: float) -> Climate:
    hourly = (
        "SELECT mean(temperature) FROM reading WHERE time > now() - 7d "
        "GROUP BY time(1h), home, room fill(none)"
    )
    cold = await influx.query(
        f"SELECT count(mean) FROM ({hourly}) WHERE mean < {cold_c} GROUP BY home"
    )
    hot = await influx.query(
        f"SELECT count(mean) FROM ({hourly}) WHERE mean > {hot_c} GROUP BY home"
    )
    last = await influx.query(
        "SELECT last(temperature) FROM reading WHERE time > now() - 7d GROUP BY home"
    )
    mould = await influx.query(
        "SELECT last(mould_index) FROM mould WHERE time > now() - 2d GROUP BY home, room"
    )
    climate = Climate(_per_home(cold), _per_home(hot), at=time.monotonic())
    for s in last:
        home = s.get("tags", {}).get("home", "")
        if home and s.get("values"):
            climate.last_reading[home] = dt.datetime.fromtimestamp(s["values"][0][0] / 1000, dt.UTC)
    for s in mould:
        tags = s.get("tags", {})
        home, room = tags.get("home", ""), tags.get("room", "")
        if not home or not s.get("values") or s["values"][0][1] is None:
            continue
        value = float(s["values"][0][1])
        if value > climate.mould.get(home, (-1.0, ""))[0]:
            climate.mould[home] = (value, room)
    return climate


def read_cases(engine: Engine, now: dt.datetime) -> dict[str, Cases]:
    """Open alerts per home by kind, and damp cases past an Awaab's Law deadline."""
    open_alerts = (
        sa.select(Alert.home, Alert.category, Alert.severity, sa.func.count())
        .where(Alert.state != State.RESOLVED)
        .group_by(Alert.home, Alert.category, Alert.severity)
    )
    overdue = (
        sa.select(Alert.home, sa.func.count())
        .where(Alert.category == Category.DAMP_MOULD, overdue_sql(now))
        .group_by(Alert.home)
    )
    damp: dict[str, dict[str, int]] = defaultdict(dict)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with reading(engine) as session:
        for home, category, severity, n in session.execute(open_alerts):
            if category is Category.DAMP_MOULD:
                damp[home][Severity(severity).value] = int(n)
            counts[home][Category(category).value] += int(n)
        late = {home: int(n) for home, n in session.execute(overdue)}
    out: dict[str, Cases] = {}
    for home in set(damp) | set(counts) | set(late):
        c = counts.get(home, {})
        out[home] = Cases(
            dict(damp.get(home, {})),
            overdue=late.get(home, 0),
            cold=c.get(Category.COLD.value, 0),
            heat=c.get(Category.HEAT.value, 0),
            offline=c.get(Category.DEVICE_OFFLINE.value, 0),
            low_battery=c.get(Category.LOW_BATTERY.value, 0),
        )
    return out


def _worst(by_severity: dict[str, int]) -> str | None:
    present = [Severity(s) for s, n in by_severity.items() if n]
    return max(present, key=lambda s: s.rank).value if present else None


def summarise(home: str, cases: Cases | None, climate: Climate, now: dt.datetime) -> dict[str, Any]:
    c = cases or Cases({})
    mould = climate.mould.get(home)
    cold, hot = climate.cold_hours.get(home, 0.0), climate.hot_hours.get(home, 0.0)
    need = need_of(
        damp_by_severity=c.damp_by_severity,
        overdue=c.overdue,
        mould_index=mould[0] if mould else None,
        cold_hours=cold,
        hot_hours=hot,
        cold_alerts=c.cold,
        heat_alerts=c.heat,
        offline=c.offline,
        low_battery=c.low_battery,
    )
    return {
        "home": home,
        "need": need.score,
        "risk": need.risk,
        "damp_cases": sum(c.damp_by_severity.values()),
        "damp_worst": _worst(c.damp_by_severity),
        "overdue_cases": c.overdue,
        "mould_index": round(mould[0], 2) if mould else None,
        "mould_room": mould[1] if mould else None,
        "cold_hours": cold,
        "hot_hours": hot,
        "heat_alerts": c.heat,
        "cold_alerts": c.cold,
        "devices_offline": c.offline,
        "low_battery": c.low_battery,
        "last_reading_at": climate.last_reading.get(home),
        "refreshed_at": now,
    }


def _upsert(engine: Engine) -> Any:
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(HomeCondition)
    columns = [c.name for c in HomeCondition.__table__.columns if c.name != "home"]
    return statement.on_conflict_do_update(
        index_elements=[HomeCondition.home],
        set_={name: statement.excluded[name] for name in columns},
    )


@dataclass
class Refresher:
    """One dashboard's summariser; remembers what it wrote so it writes only changes."""

    engine: Engine
    written: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    climate: Climate = field(default_factory=Climate)

    def write_round(self, now: dt.datetime) -> tuple[int, int]:
        """Recompute every home from the cases and the latest climate; (homes, rows written)."""
        cases = read_cases(self.engine, now)
        with reading(self.engine) as session:
            homes = list(session.scalars(sa.select(Home.id)))
        changed = []
        for home in homes:
            row = summarise(home, cases.get(home), self.climate, now)
            key = tuple(v for k, v in row.items() if k != "refreshed_at")
            if self.written.get(home) != key:
                changed.append((home, key, row))
        statement = _upsert(self.engine)
        for i in range(0, len(changed), _BATCH):
            chunk = changed[i : i + _BATCH]
            with writing(self.engine) as session:
                session.execute(statement, [row for _, _, row in chunk])
            for home, key, _ in chunk:
                self.written[home] = key
        return len(homes), len(changed)


async def refresh_round(ctx: Context, refresher: Refresher) -> dict[str, float]:
    """One round: climate from InfluxDB when due, then every home's summary."""
    conf = ctx.settings.dashboard
    started = time.monotonic()
    if started - refresher.climate.at >= conf.climate_refresh_s or refresher.climate.at == 0:
        try:
            refresher.climate = await read_climate(ctx.influx, conf.cold_c, conf.hot_c)
        except InfluxError as exc:
            log.warning("dashboard_climate_unavailable", error=str(exc))
    climate_s = time.monotonic() - started
    now = dt.datetime.now(dt.UTC)
    homes, written = await run_in_threadpool(refresher.write_round, now)
    took = time.monotonic() - started
    ctx.metrics.gauge("hof_dashboard_refresh_seconds", "last summary round").set(took)
    ctx.metrics.counter("hof_dashboard_refresh_rounds_total", "summary rounds").inc()
    return {"homes": homes, "written": written, "seconds": took, "climate_seconds": climate_s}


async def refresh_forever(ctx: Context) -> None:
    refresher = Refresher(ctx.engine)
    while True:
        try:
            figures = await refresh_round(ctx, refresher)
            if figures["written"]:
                log.info(
                    "dashboard_summary_refreshed", **{k: round(v, 3) for k, v in figures.items()}
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a database outage must not end the loop: retry next round
            log.error("dashboard_summary_failed", error=f"{type(exc).__name__}: {exc}")
            ctx.metrics.counter("hof_dashboard_refresh_errors_total", "failed rounds").inc()
        await asyncio.sleep(ctx.settings.dashboard.refresh_s)
