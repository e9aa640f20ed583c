"""Page: the estate overview for housing officers (and admins)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.access import Principal, Role
from dashboard.deps import Ctx, page_roles
from dashboard.estate import RISKS, EstateFilter, options, overview
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
    result = await run_in_threadpool(
        lambda: overview(ctx.engine, who, f, limit=size, offset=(page - 1) * size)
    )
    estates, wards = await run_in_threadpool(options, ctx.engine, who)
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "view_estate", detail={**f.as_dict(), "page": page})
    )
    pages = max(1, -(-result.counts.homes // size))
    query = f.as_dict()
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
        link=lambda n: "/estate?" + urlencode({**query, "page": n}),
    )
