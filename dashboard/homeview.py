"""Everything the home page shows, gathered once for the page and the API alike."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from starlette.concurrency import run_in_threadpool

from dashboard.access import Principal, audiences_for, categories_for
from dashboard.context import Context
from dashboard.estate import HomeRow, find_home
from dashboard.fleet import DeviceStatus
from dashboard.series import RoomNow, rooms_now
from hof.alertstore import AlertFilter, AlertView, Category, HistoryEntry, State

__all__ = ["DeviceRow", "HomeAlert", "HomeView", "home_alerts", "home_devices", "load_home"]

ALERTS_SHOWN = 30


@dataclass(frozen=True, slots=True)
class HomeAlert:
    alert: AlertView
    history: tuple[HistoryEntry, ...]


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device: str
    room: str | None
    kind: str  # environmental / telecare
    state: str  # online / offline / unknown
    firmware: str | None
    battery: float | None
    rssi: float | None
    last_seen: dt.datetime | None
    offline_alert: bool


@dataclass(frozen=True, slots=True)
class HomeView:
    home: HomeRow
    rooms: list[RoomNow]
    alerts: list[HomeAlert]
    devices: list[DeviceRow]


def _visible(who: Principal, home: str) -> AlertFilter:
    return AlertFilter(homes=[home], audiences=audiences_for(who), categories=categories_for(who))


def home_alerts(ctx: Context, who: Principal, home: str) -> list[HomeAlert]:
    """Open alerts first (most urgent), then the latest resolved, each with its history."""
    store = ctx.store
    live = (State.OPEN, State.ACKNOWLEDGED, State.ASSIGNED)
    open_ = store.list(
        replace(_visible(who, home), states=live), order="urgent", limit=ALERTS_SHOWN
    ).items
    closed = store.list(
        replace(_visible(who, home), states=[State.RESOLVED]),
        order="newest",
        limit=max(1, ALERTS_SHOWN - len(open_)),
    ).items
    return [HomeAlert(a, store.get(a.id).history) for a in (*open_, *closed)]


def home_devices(
    ctx: Context, who: Principal, home: str, alerts: list[HomeAlert]
) -> list[DeviceRow]:
    offline = {
        a.alert.room
        for a in alerts
        if a.alert.category is Category.DEVICE_OFFLINE and a.alert.state is not State.RESOLVED
    }
    rows = []
    for s in ctx.fleet.of_home(home):
        if s.telecare and not who.sees_health:
            continue  # that a tenant has telecare is itself health data
        rows.append(_device_row(ctx, s, s.device in offline))
    return rows


def _device_row(ctx: Context, s: DeviceStatus, offline_alert: bool) -> DeviceRow:
    seen = s.reported_at or (s.received_at or None)
    return DeviceRow(
        device=s.device,
        room=ctx.fleet.room_of(s.home, s.device),
        kind="telecare" if s.telecare else "environmental",
        state="offline" if offline_alert else s.state,
        firmware=s.firmware,
        battery=s.battery,
        rssi=s.rssi,
        last_seen=dt.datetime.fromtimestamp(seen, dt.UTC) if seen else None,
        offline_alert=offline_alert,
    )


async def load_home(ctx: Context, who: Principal, home_id: str) -> HomeView | None:
    """The home if it is in this person's patches, with what they may see of it."""
    home = await run_in_threadpool(find_home, ctx.engine, who, home_id)
    if home is None:
        return None
    rooms = await rooms_now(ctx.influx, home_id)
    alerts = await run_in_threadpool(home_alerts, ctx, who, home_id)
    devices = home_devices(ctx, who, home_id, alerts)
    return HomeView(home, rooms, alerts, devices)
