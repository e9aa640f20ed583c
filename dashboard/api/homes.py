"""API: homes in the caller's patches, ranked by need, and one home's registry entry."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from dashboard import audit
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
    last_reading_at: dt.datetime | None
    refreshed_at: dt.datetime | None

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


@router.get(
    "/homes",
    response_model=HomesOut,
    summary="Homes in your patches, most in need first",
    description="Filter by estate, ward and risk; search `q` matches a property reference "
    "exactly, or part of an address or postcode. `counts` cover every home that matches.",
)
async def list_homes(
    ctx: Ctx,
    who: ApiUser,
    estate: str = "",
    ward: str = "",
    risk: Literal["", "none", "low", "medium", "high"] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HomesOut:
    f = EstateFilter(estate, ward, risk, q.strip())
    page = await run_in_threadpool(lambda: overview(ctx.engine, who, f, limit=limit, offset=offset))
    await run_in_threadpool(
        lambda: audit.record(
            ctx.engine, who, "list_homes", detail={**f.as_dict(), "offset": offset}
        )
    )
    return HomesOut(
        items=[HomeOut.of(r) for r in page.rows],
        counts=CountsOut.model_validate(page.counts, from_attributes=True),
        limit=limit,
        offset=offset,
    )


@router.get(
    "/homes/{home_id}",
    response_model=HomeOut,
    summary="One home: its registry entry and need summary",
    responses={404: {"description": "No such home in your patches"}},
)
async def get_home(home_id: str, ctx: Ctx, who: ApiUser) -> HomeOut:
    row = await run_in_threadpool(find_home, ctx.engine, who, home_id)
    if row is None:
        raise HTTPException(404, f"no home {home_id} in your patches")
    await run_in_threadpool(lambda: audit.record(ctx.engine, who, "view_home", home=home_id))
    return HomeOut.of(row)
