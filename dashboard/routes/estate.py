"""Page: the estate overview for housing officers (and admins)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.access import Principal, Role
from dashboard.conditions import as_of
from dashboard.deps import Ctx, page_roles
from dashboard.estate import RISKS, EstateFilter, EstatePage, options, overview
from dashboard.templating import render

router = APIRouter(include_in_schema=False)
Officer = Annotated[Principal, Depends(page_roles(Role.HOUSING_OFFICER, Role.ADMIN))]


@router.get("/estate", response_class=HTMLResponse)
async def estate_page(
    request: Request,
    ctx: Ctx,
    who: Officer,
    estate: str = "",
    ward: str = "",
    risk: str = "",
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    size = ctx.settings.dashboard.page_size
    f = EstateFilter(estate, ward, risk if risk in RISKS else "", q.strip())

    def read() -> tuple[EstatePage, tuple[list[str], list[str]]]:
        audit.record(ctx.engine, who, "view_estate", detail={**f.as_dict(), "page": page})
        found = overview(ctx.engine, who, f, limit=size, offset=(page - 1) * size)
        return found, options(ctx.engine, who)

    result, (estates, wards) = await run_in_threadpool(read)
    pages = max(1, -(-result.counts.homes // size))
    query = f.as_dict()
    cases_at, readings_at = as_of(ctx.metrics)
    return render(
        request,
        "estate.html",
        who,
        title="Homes",
        result=result,
        f=f,
        estates=estates,
        wards=wards,
        risks=RISKS,
        page=page,
        pages=pages,
        cases_at=cases_at,
        readings_at=readings_at,
        cold_c=f"{ctx.settings.dashboard.cold_c:g}",
        hot_c=f"{ctx.settings.dashboard.hot_c:g}",
        link=lambda n: "/estate?" + urlencode({**query, "page": n}),
    )
