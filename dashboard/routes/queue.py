"""Page: the responder's live alert queue (and its rows, for the page script to swap in)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.access import Principal, Role
from dashboard.actions import PERSON_OUTCOMES, addresses, live_alerts
from dashboard.context import Context
from dashboard.deps import Ctx, page_roles
from dashboard.escalation import escalations, notifications_for
from dashboard.templating import render

router = APIRouter(include_in_schema=False)
Responder = Annotated[Principal, Depends(page_roles(Role.RESPONDER, Role.ADMIN))]
QUEUE_ROWS = 200


async def _rows(ctx: Context, who: Principal) -> dict[str, Any]:
    page = await run_in_threadpool(lambda: live_alerts(ctx, who, limit=QUEUE_ROWS))
    homes = await run_in_threadpool(addresses, ctx, {a.home for a in page.items})
    notes = await run_in_threadpool(notifications_for, ctx.engine, [a.id for a in page.items])
    now = dt.datetime.now(dt.UTC)
    return {
        "alerts": page.items,
        "total": page.total,
        "homes": homes,
        # What the notifier did for each alert, as recorded: never a ladder from the clock.
        "escalation": escalations(page.items, notes),
        "outcomes": PERSON_OUTCOMES,
        "now": now,
    }


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(request: Request, ctx: Ctx, who: Responder) -> HTMLResponse:
    values = await _rows(ctx, who)
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "view_queue", detail={"alerts": values["total"]})
    )
    return render(
        request,
        "queue.html",
        who,
        title="Alert queue",
        done=request.query_params.get("done"),
        problem=request.query_params.get("problem"),
        **values,
    )


@router.get("/queue/rows", response_class=HTMLResponse)
async def queue_rows(request: Request, ctx: Ctx, who: Responder) -> HTMLResponse:
    # Part of the queue view already audited when the page was opened: not audited again on
    # every live refresh, or one open screen would write an event a second.
    return render(request, "queue_rows.html", who, **(await _rows(ctx, who)))
