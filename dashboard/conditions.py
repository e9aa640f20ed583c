"""The estate summary each home is ranked by (`home_condition`), kept fresh in the background.

Two loops at two paces. Every `refresh_s`, cheap SQL aggregates over the alert store (open
cases by severity, overdue clocks, cold and heat alerts, devices offline, low batteries) are
joined with the latest climate view and every home's row is recomputed; only rows that changed
are written, in batches. Every `climate_refresh_s`, a pass over InfluxDB (see climate_summary)
brings the room-hours, mould index and last readings up to date, and the next summary round
follows at once. A failing source is logged and retried on the next turn; neither loop dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from dashboard.climate_summary import Climate, ClimateTracker, PassFigures
from dashboard.context import Context
from dashboard.db import reading, writing
from dashboard.need import need_of
from hof.alertstore import Category, Severity, State
from hof.alertstore.models import Alert
from hof.alertstore.queries import overdue_sql
from hof.influx import InfluxError
from hof.metrics import Registry
from hof.registry import Home, HomeCondition, insert_for
from hof.waiting import within

__all__ = [
    "Cases",
    "Refresher",
    "as_of",
    "carried_over",
    "climate_pass",
    "home_ids",
    "read_cases",
    "refresh_forever",
    "summarise",
    "summary_round",
]

log = structlog.get_logger(__name__)
_BATCH = 1000
SUMMARY_AT = "hof_dashboard_summary_at_seconds"
CLIMATE_AT = "hof_dashboard_climate_at_seconds"


@dataclass(frozen=True, slots=True)
class Cases:
    """A home's open alerts that count towards its need (never telecare: see need.py)."""

    damp_by_severity: dict[str, int]
    overdue: int = 0
    cold: int = 0
    heat: int = 0
    offline: int = 0
    low_battery: int = 0


def read_cases(engine: Engine, now: dt.datetime) -> dict[str, Cases]:
    """Open alerts per home by kind, and damp cases past an Awaab's Law deadline."""
    counted = [
        Category.DAMP_MOULD,
        Category.COLD,
        Category.HEAT,
        Category.DEVICE_OFFLINE,
        Category.LOW_BATTERY,
    ]
    open_alerts = (
        sa.select(Alert.home, Alert.category, Alert.severity, sa.func.count())
        .where(Alert.state != State.RESOLVED, Alert.category.in_(counted))
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
    cold, hot = climate.cold_hours.get(home, 0), climate.hot_hours.get(home, 0)
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
        "cold_hours": float(cold),
        "hot_hours": float(hot),
        "heat_alerts": c.heat,
        "cold_alerts": c.cold,
        "devices_offline": c.offline,
        "low_battery": c.low_battery,
        "last_reading_at": climate.last_reading.get(home),
        "refreshed_at": now,
    }


def _upsert(engine: Engine) -> Any:
    statement = insert_for(engine)(HomeCondition)
    columns = [c.name for c in HomeCondition.__table__.columns if c.name != "home"]
    return statement.on_conflict_do_update(
        index_elements=[HomeCondition.home],
        set_={name: statement.excluded[name] for name in columns},
    )


def carried_over(engine: Engine) -> Climate:
    """The climate figures already in the table, so a restart does not zero them meanwhile."""
    query = sa.select(
        HomeCondition.home,
        HomeCondition.cold_hours,
        HomeCondition.hot_hours,
        HomeCondition.mould_index,
        HomeCondition.mould_room,
        HomeCondition.last_reading_at,
    ).where(
        sa.or_(
            HomeCondition.cold_hours > 0,
            HomeCondition.hot_hours > 0,
            HomeCondition.mould_index.is_not(None),
            HomeCondition.last_reading_at.is_not(None),
        )
    )
    cold: dict[str, int] = {}
    hot: dict[str, int] = {}
    mould: dict[str, tuple[float, str]] = {}
    last: dict[str, dt.datetime] = {}
    with reading(engine) as session:
        for home, c, h, index, room, at in session.execute(query):
            if c:
                cold[home] = int(c)
            if h:
                hot[home] = int(h)
            if index is not None:
                mould[home] = (float(index), room or "")
            if at is not None:
                last[home] = at
    return Climate(cold, hot, mould, last, at=None)


def home_ids(engine: Engine) -> list[str]:
    with reading(engine) as session:
        return list(session.scalars(sa.select(Home.id).order_by(Home.id)))


@dataclass
class Refresher:
    """One dashboard's summariser; remembers what it wrote so it writes only changes."""

    engine: Engine
    climate: Climate | None = None  # replaced whole by each climate pass
    written: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def write_round(self, now: dt.datetime) -> tuple[int, int]:
        """Recompute every home from the cases and the latest climate; (homes, rows written)."""
        if self.climate is None:
            self.climate = carried_over(self.engine)
        climate = self.climate  # one view for the whole round, whatever a pass does meanwhile
        cases = read_cases(self.engine, now)
        changed = []
        homes = home_ids(self.engine)
        for home in homes:
            row = summarise(home, cases.get(home), climate, now)
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


async def summary_round(ctx: Context, refresher: Refresher) -> dict[str, float]:
    began = time.monotonic()
    homes, written = await run_in_threadpool(refresher.write_round, dt.datetime.now(dt.UTC))
    took = time.monotonic() - began
    m = ctx.metrics
    m.gauge("hof_dashboard_refresh_seconds", "duration of the last summary round").set(took)
    m.counter("hof_dashboard_refresh_rounds_total", "summary rounds").inc()
    m.counter("hof_dashboard_refresh_rows_total", "summary rows written").inc(written)
    m.gauge(SUMMARY_AT, "when the last summary round ended (unix time)").set(time.time())
    return {"homes": homes, "written": written, "seconds": took}


async def climate_pass(ctx: Context, tracker: ClimateTracker, refresher: Refresher) -> PassFigures:
    homes = await run_in_threadpool(home_ids, ctx.engine)
    climate, figures = await tracker.run_pass(ctx.influx, homes, dt.datetime.now(dt.UTC))
    refresher.climate = climate
    m = ctx.metrics
    m.gauge("hof_dashboard_climate_seconds", "duration of the last climate pass").set(
        figures.seconds
    )
    m.counter("hof_dashboard_climate_passes_total", "climate passes").inc()
    m.counter("hof_dashboard_climate_queries_total", "InfluxDB queries of climate passes").inc(
        figures.queries
    )
    m.gauge(CLIMATE_AT, "when the last climate pass ended (unix time)").set(time.time())
    return figures


def as_of(metrics: Registry) -> tuple[dt.datetime | None, dt.datetime | None]:
    """When this process last finished a summary round and a climate pass (None: not yet)."""
    out = []
    for name in (SUMMARY_AT, CLIMATE_AT):
        at = metrics.gauge(name, "").get()
        out.append(dt.datetime.fromtimestamp(at, dt.UTC) if at else None)
    return out[0], out[1]


async def _forever(
    what: str, ctx: Context, turn: Callable[[], Awaitable[Any]], wait: Callable[[], Awaitable[Any]]
) -> None:
    while True:
        try:
            figures = await turn()
            log.debug(f"dashboard_{what}_done", figures=figures)
        except asyncio.CancelledError:
            raise
        except InfluxError as exc:
            log.warning(f"dashboard_{what}_failed", error=str(exc))
            ctx.metrics.counter(f"hof_dashboard_{what}_errors_total", "failed turns").inc()
        except Exception as exc:  # a database outage must not end the loop: retry next turn
            log.error(f"dashboard_{what}_failed", error=f"{type(exc).__name__}: {exc}")
            ctx.metrics.counter(f"hof_dashboard_{what}_errors_total", "failed turns").inc()
        await wait()


async def refresh_forever(ctx: Context) -> None:
    conf = ctx.settings.dashboard
    refresher = Refresher(ctx.engine)
    tracker = ClimateTracker(
        cold_c=conf.cold_c,
        hot_c=conf.hot_c,
        recheck_h=conf.climate_recheck_h,
        rebuild_s=conf.climate_rebuild_s,
    )
    fresh = asyncio.Event()  # a climate pass ended: recompute the rows now, not at the next tick

    async def climate_turn() -> PassFigures:
        figures = await climate_pass(ctx, tracker, refresher)
        fresh.set()
        return figures

    async def summary_turn() -> dict[str, float]:
        fresh.clear()
        return await summary_round(ctx, refresher)

    async def until_fresh_or_due() -> None:
        with contextlib.suppress(TimeoutError):
            await within(fresh.wait(), conf.refresh_s)

    async def climate_wait() -> None:
        # At start, the quick pace until the start-up re-reads are done: history that lands
        # just after the dashboard starts is counted, and last readings keep up meanwhile.
        quick = tracker.filling(dt.datetime.now(dt.UTC))
        await asyncio.sleep(
            min(conf.refresh_s, conf.climate_refresh_s) if quick else conf.climate_refresh_s
        )

    async with asyncio.TaskGroup() as group:
        group.create_task(_forever("climate", ctx, climate_turn, climate_wait))
        group.create_task(_forever("summary", ctx, summary_turn, until_fresh_or_due))
