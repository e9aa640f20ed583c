"""API: homes in the caller's patches, ranked by need, and one home's registry entry."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.api.models import MAX_ROW_ID
from dashboard.conditions import as_of
from dashboard.deps import ApiUser, Ctx
from dashboard.estate import EstateFilter, HomeRow, find_home, overview

router = APIRouter(tags=["homes"])


class HomeOut(BaseModel):
    id: str
    reference: str
    address: str
    postcode: str
    estate: str
    ward: str
    patch: str
    need: float
    risk: Literal["none", "low", "medium", "high"]
    damp_cases: int
    damp_worst: str | None
    overdue_cases: int
    mould_index: float | None
    mould_room: str | None
    cold_hours: float
    hot_hours: float
    devices_offline: int
    low_battery: int
    last_reading_at: dt.datetime | None = Field(
        description="The home's last temperature reading in the past week (null: none)"
    )
    changed_at: dt.datetime | None = Field(
        description="When this home's figures last changed (null: not summarised yet)"
    )

    @classmethod
    def of(cls, row: HomeRow) -> HomeOut:
        return cls.model_validate(row, from_attributes=True)


class CountsOut(BaseModel):
    homes: int
    with_damp_cases: int
    overdue: int
    high_risk: int
    devices_offline: int


class HomesOut(BaseModel):
    items: list[HomeOut]
    counts: CountsOut
    limit: int
    offset: int
    cases_as_of: dt.datetime | None = Field(
        description="When this server last counted open cases and alerts for every home"
    )
    readings_as_of: dt.datetime | None = Field(
        description="When this server last summarised InfluxDB (hours, mould index, readings)"
    )


@router.get(
    "/homes",
    response_model=HomesOut,
    summary="Homes in your patches, most in need first",
    description="Every role, within its patches (responders too: the need summary holds no "
    "health data, so it is the same for every role). Filter by estate, ward and risk; `q` "
    "matches the start of a property reference or postcode (with or without its space) or any "
    "part of an address, case-insensitively. `counts` cover every home that matches, not only "
    "this page. Audited as `list_homes`.",
)
async def list_homes(
    ctx: Ctx,
    who: ApiUser,
    estate: str = "",
    ward: str = "",
    risk: Literal["", "none", "low", "medium", "high"] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> HomesOut:
    f = EstateFilter(estate, ward, risk, q.strip())
    page = await run_in_threadpool(lambda: overview(ctx.engine, who, f, limit=limit, offset=offset))
    await run_in_threadpool(
        lambda: audit.record(
            ctx.engine, who, "list_homes", detail={**f.as_dict(), "offset": offset}
        )
    )
    cases_at, readings_at = as_of(ctx.metrics)
    return HomesOut(
        items=[HomeOut.of(r) for r in page.rows],
        counts=CountsOut.model_validate(page.counts, from_attributes=True),
        limit=limit,
        offset=offset,
        cases_as_of=cases_at,
        readings_as_of=readings_at,
    )


@router.get(
    "/homes/{home_id}",
    response_model=HomeOut,
    summary="One home: its registry entry and need summary",
    description="404 for a home outside your patches, as for one that does not exist. "
    "Audited as `view_home`.",
    responses={404: {"description": "No such home in your patches"}},
)
async def get_home(home_id: str, ctx: Ctx, who: ApiUser) -> HomeOut:
    row = await run_in_threadpool(find_home, ctx.engine, who, home_id)
    if row is None:
        raise HTTPException(404, f"no home {home_id} in your patches")
    await run_in_threadpool(lambda: audit.record(ctx.engine, who, "view_home", home=home_id))
    return HomeOut.of(row)
