"""Page: fleet health (offline, low battery, firmware versions) in the person's patches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.deps import Ctx, PageUser
from dashboard.devices import fleet_summary
from dashboard.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/devices", response_class=HTMLResponse)
async def devices_page(
    request: Request,
    ctx: Ctx,
    who: PageUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    size = ctx.settings.dashboard.page_size
    summary = await run_in_threadpool(fleet_summary, ctx, who, size, (page - 1) * size)
    await run_in_threadpool(lambda: audit.record(ctx.engine, who, "view_devices"))
    pages = max(1, -(-summary.total_attention // size))
    return render(
        request,
        "devices.html",
        who,
        title="Devices",
        s=summary,
        page=page,
        pages=pages,
        connected=ctx.fleet.connected,
    )
