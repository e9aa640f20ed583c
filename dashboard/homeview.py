"""Everything the home page shows, gathered once for the page and the API alike."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, replace

from starlette.concurrency import run_in_threadpool

from dashboard.access import Principal, audiences_for, categories_for
from dashboard.context import Context
from dashboard.estate import HomeRow, find_home
from dashboard.fleet import DeviceStatus
from dashboard.series import DeviceSeen, RoomNow, devices_seen, rooms_now
from hof.alertstore import AlertFilter, AlertView, Category, HistoryEntry, State

__all__ = ["DeviceRow", "HomeAlert", "HomeView", "home_alerts", "home_devices", "load_home"]

ALERTS_SHOWN = 30
# A device without a status message counts as online while its readings keep coming: the rules
# engine's default offline grace (alerts/thresholds.py, 10 minutes) with room for a late one.
REPORTING_S = 900.0


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
    rssi: float | None  # dBm
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


async def home_devices(ctx: Context, home: str) -> list[DeviceRow]:
    """The home's devices from their retained status and their readings of the last week.

    Telecare devices are listed for everyone who may see the home (their existence, battery and
    signal are device health, and their offline and battery alerts go to housing officers);
    their events (falls, help calls, movement) never come into it. Offline is judged as the
    rules engine judges it, from the last data (its open `device_offline` alerts), or from the
    device's last will; whoever looks, since device health is nobody's secret.
    """
    offline = await run_in_threadpool(_offline_devices, ctx, home)
    statuses = {s.device: s for s in ctx.fleet.of_home(home)}
    readings = await devices_seen(ctx.influx, home)
    return [
        _device_row(ctx, home, d, statuses.get(d), readings.get(d), d in offline)
        for d in sorted(statuses.keys() | readings.keys())
    ]


def _offline_devices(ctx: Context, home: str) -> set[str]:
    where = AlertFilter(
        homes=[home],
        categories=[Category.DEVICE_OFFLINE],
        states=(State.OPEN, State.ACKNOWLEDGED, State.ASSIGNED),
    )
    return {a.room for a in ctx.store.list(where, limit=200).items if a.room}


def _age_s(t: dt.datetime) -> float:
    return (dt.datetime.now(dt.UTC) - t).total_seconds()


def _stamp(t: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(t, dt.UTC) if t else None


def _device_row(
    ctx: Context,
    home: str,
    device: str,
    status: DeviceStatus | None,
    seen: DeviceSeen | None,
    offline_alert: bool,
) -> DeviceRow:
    # The device's own clock, never when the dashboard happened to receive a retained message.
    reported = _stamp(status.reported_at) if status else None
    read = seen.last_seen if seen else None
    last_seen = max((t for t in (reported, read) if t), default=None)
    status_newer = status is not None and (
        seen is None
        or seen.battery_at is None
        or (reported is not None and reported >= seen.battery_at)
    )
    battery = status.battery if status_newer and status and status.battery is not None else None
    if battery is None and seen is not None:
        battery = seen.battery
    rssi = status.rssi if status_newer and status and status.rssi is not None else None
    if rssi is None and seen is not None:
        rssi = seen.rssi_dbm
    state = status.state if status else "unknown"
    if offline_alert:
        state = "offline"
    elif state == "unknown" and read is not None and _age_s(read) < REPORTING_S:
        state = "online"  # no retained status (a third-party device), but it is reporting
    return DeviceRow(
        device=device,
        room=ctx.fleet.room_of(home, device) or (seen.room if seen else None),
        kind="telecare" if device.startswith("tc-") else "environmental",
        state=state,
        firmware=status.firmware if status else None,
        battery=battery,
        rssi=rssi,
        last_seen=last_seen,
        offline_alert=offline_alert,
    )


async def load_home(ctx: Context, who: Principal, home_id: str) -> HomeView | None:
    """The home if it is in this person's patches, with what they may see of it."""
    home = await run_in_threadpool(find_home, ctx.engine, who, home_id)
    if home is None:
        return None
    rooms, alerts, devices = await asyncio.gather(
        rooms_now(ctx.influx, home_id),
        run_in_threadpool(home_alerts, ctx, who, home_id),
        home_devices(ctx, home_id),
    )
    return HomeView(home, rooms, alerts, devices)
