"""Page: fleet health (offline, low battery, firmware versions) in the person's patches."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.deps import Ctx, PageUser
from dashboard.devices import WHY, FleetFilter, fleet_summary
from dashboard.estate import options
from dashboard.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/devices", response_class=HTMLResponse)
async def devices_page(
    request: Request,
    ctx: Ctx,
    who: PageUser,
    why: Annotated[str, Query(max_length=20)] = "",
    estate: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    where = FleetFilter(why=why if why in WHY else "", estate=estate)
    size = ctx.settings.dashboard.page_size
    summary = await run_in_threadpool(fleet_summary, ctx, who, where, size, (page - 1) * size)
    estates, _ = await run_in_threadpool(options, ctx.engine, who)
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "view_devices", detail=where.as_dict())
    )
    pages = max(1, -(-summary.total_attention // size))
    return render(
        request,
        "devices.html",
        who,
        title="Devices",
        s=summary,
        where=where,
        why_options=WHY,
        estates=estates,
        page=page,
        pages=pages,
        query=urlencode(where.as_dict()),
        as_of=dt.datetime.fromtimestamp(summary.as_of, dt.UTC),
        connected=ctx.fleet.connected or ctx.fleet.count > 0,
    )
