"""API: one home's rooms, chart series, alerts and devices; and the device fleet."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.access import Principal
from dashboard.api.models import AlertOut, EscalationOut
from dashboard.context import Context
from dashboard.deps import ApiUser, Ctx
from dashboard.devices import FleetFilter, FleetSummary, fleet_summary
from dashboard.escalation import Notifications, escalation_of, notifications_for
from dashboard.estate import find_home
from dashboard.homeview import DeviceRow, HomeAlert, home_alerts, home_devices
from dashboard.series import RANGES, home_series, rooms_now, thresholds

router = APIRouter(tags=["homes"])
NOT_YOURS: dict[int | str, dict[str, Any]] = {404: {"description": "No such home in your patches"}}


async def _home_or_404(ctx: Context, who: Principal, home_id: str) -> None:
    if await run_in_threadpool(find_home, ctx.engine, who, home_id) is None:
        raise HTTPException(404, f"no home {home_id} in your patches")


class RoomOut(BaseModel):
    room: str
    device: str | None
    at: dt.datetime
    temperature: float | None
    humidity: float | None
    dew_point: float | None
    co2: float | None


@router.get(
    "/homes/{home_id}/rooms",
    response_model=list[RoomOut],
    summary="Each room's latest reading (last 24 h)",
    responses=NOT_YOURS,
)
async def get_rooms(home_id: str, ctx: Ctx, who: ApiUser) -> list[RoomOut]:
    await _home_or_404(ctx, who, home_id)
    rooms = await rooms_now(ctx.influx, home_id)
    await run_in_threadpool(lambda: audit.record(ctx.engine, who, "view_readings", home=home_id))
    return [RoomOut.model_validate(r, from_attributes=True) for r in rooms]


class Threshold(BaseModel):
    value: float
    label: str


class SeriesOut(BaseModel):
    home: str
    range: str
    bucket_s: int
    rooms: dict[str, dict[str, list[float | None]]]
    thresholds: dict[str, list[Threshold]]


@router.get(
    "/homes/{home_id}/series",
    response_model=SeriesOut,
    summary="Chart data: per room, bucket means of temperature, humidity, dew point, CO2, and "
    "the mould index",
    description="Downsampled in InfluxDB: 24h in 5-minute buckets, 7d in 30 minutes, 30d in 2 "
    "hours, 1y in days. Times are epoch seconds; null is a gap. `mould_time` and "
    "`mould_index` are the rules engine's hourly index at the room's coldest surface.",
    responses=NOT_YOURS,
)
async def get_series(
    home_id: str,
    ctx: Ctx,
    who: ApiUser,
    range: Literal["24h", "7d", "30d", "1y"] = "24h",
) -> SeriesOut:
    await _home_or_404(ctx, who, home_id)
    series = await home_series(ctx.influx, home_id, range)
    conf = ctx.settings.dashboard
    await run_in_threadpool(
        lambda: audit.record(
            ctx.engine, who, "view_readings", home=home_id, detail={"range": range}
        )
    )
    return SeriesOut(
        home=home_id,
        range=range,
        bucket_s=RANGES[range][2],
        rooms=series.rooms,
        thresholds={
            k: [Threshold(**t) for t in v] for k, v in thresholds(conf.cold_c, conf.hot_c).items()
        },
    )


class AlertsOut(BaseModel):
    items: list[AlertOut]


def alert_out(
    ctx: Context, a: HomeAlert, now: dt.datetime, notes: Notifications | None = None
) -> AlertOut:
    esc = escalation_of(a.alert, notes)
    escalation = EscalationOut.model_validate(esc, from_attributes=True) if esc else None
    return AlertOut.of(a.alert, a.history, escalation)


@router.get(
    "/homes/{home_id}/alerts",
    response_model=AlertsOut,
    summary="The home's alerts and cases you may see, open first, with their history",
    responses=NOT_YOURS,
)
async def get_home_alerts(home_id: str, ctx: Ctx, who: ApiUser) -> AlertsOut:
    await _home_or_404(ctx, who, home_id)
    alerts = await run_in_threadpool(home_alerts, ctx, who, home_id)
    await run_in_threadpool(lambda: audit.record(ctx.engine, who, "view_alerts", home=home_id))
    now = dt.datetime.now(dt.UTC)
    notes = await run_in_threadpool(notifications_for, ctx.engine, [a.alert.id for a in alerts])
    return AlertsOut(items=[alert_out(ctx, a, now, notes.get(a.alert.id)) for a in alerts])


class DeviceOut(BaseModel):
    device: str
    room: str | None
    kind: str
    state: str
    firmware: str | None
    battery: float | None
    rssi: float | None
    last_seen: dt.datetime | None
    offline_alert: bool

    @classmethod
    def of(cls, row: DeviceRow) -> DeviceOut:
        return cls.model_validate(row, from_attributes=True)


@router.get(
    "/homes/{home_id}/devices",
    response_model=list[DeviceOut],
    summary="The home's installed devices: battery, signal (dBm), firmware, last heard from",
    description="From each device's retained `status` and its readings of the last 7 days. "
    "Telecare devices are listed for every role (device health); their events never are.",
    responses=NOT_YOURS,
)
async def get_home_devices(home_id: str, ctx: Ctx, who: ApiUser) -> list[DeviceOut]:
    await _home_or_404(ctx, who, home_id)
    devices = await home_devices(ctx, home_id)
    await run_in_threadpool(lambda: audit.record(ctx.engine, who, "view_devices", home=home_id))
    return [DeviceOut.of(d) for d in devices]


class AttentionOut(BaseModel):
    home: str
    address: str
    estate: str
    device: str
    kind: str
    room: str | None
    why: Literal["offline", "battery"]
    battery: float | None
    firmware: str | None


class FleetOut(BaseModel):
    devices: int
    online: int
    offline: int
    unknown: int
    low_battery: int
    firmware: dict[str, int]
    attention: list[AttentionOut]
    total_attention: int
    as_of: dt.datetime


@router.get(
    "/devices",
    response_model=FleetOut,
    tags=["devices"],
    summary="Fleet health in your patches, and the devices that need a visit",
    description="Counts and firmware versions from the devices' retained `status` (refreshed "
    "every few seconds); `attention` lists offline devices first, then battery below 20 %, "
    "filtered by `why` and `estate` and paged with `limit` and `offset`.",
)
async def get_fleet(
    ctx: Ctx,
    who: ApiUser,
    why: Literal["", "offline", "battery"] = "",
    estate: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> FleetOut:
    where = FleetFilter(why=why, estate=estate)
    summary: FleetSummary = await run_in_threadpool(fleet_summary, ctx, who, where, limit, offset)
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "view_devices", detail=where.as_dict())
    )
    return FleetOut(
        devices=summary.devices,
        online=summary.online,
        offline=summary.offline,
        unknown=summary.unknown,
        low_battery=summary.low_battery,
        firmware=dict(summary.firmware.most_common()),
        attention=[AttentionOut.model_validate(a, from_attributes=True) for a in summary.attention],
        total_attention=summary.total_attention,
        as_of=dt.datetime.fromtimestamp(summary.as_of, dt.UTC),
    )
