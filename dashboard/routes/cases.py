"""Pages: damp and mould cases with Awaab's Law clocks; one case; its printable file."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.access import Principal, Role
from dashboard.actions import PERSON_OUTCOMES, addresses, visible_alert
from dashboard.api.models import AlertId
from dashboard.cases import CASE_CATEGORIES, case_list, clocks_of, evidence_rows
from dashboard.deps import Ctx, page_roles
from dashboard.printchart import svg_chart
from dashboard.series import home_series
from dashboard.templating import render
from hof.alertstore import AlertDetail, Duty

router = APIRouter(include_in_schema=False)
# Cases are housing officers' work; responders have the queue (and see these on home pages).
Officer = Annotated[Principal, Depends(page_roles(Role.HOUSING_OFFICER, Role.ADMIN))]
DUTY_WORDS = {
    Duty.INVESTIGATED: "Investigation finished",
    Duty.SUMMARY_SENT: "Written summary sent to the tenant",
    Duty.MADE_SAFE: "Made safe (safety works done)",
    Duty.FURTHER_WORKS_STARTED: "Further works started",
}


@router.get("/cases", response_class=HTMLResponse)
async def cases_page(
    request: Request,
    ctx: Ctx,
    who: Officer,
    state: Literal["open", "closed", "any"] = "open",
    overdue: bool = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    size = ctx.settings.dashboard.page_size
    rows, total = await run_in_threadpool(
        lambda: case_list(
            ctx, who, state=state, overdue_only=overdue, limit=size, offset=(page - 1) * size
        )
    )
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "view_cases", detail={"state": state, "page": page})
    )
    return render(
        request,
        "cases.html",
        who,
        title="Damp and mould cases",
        rows=rows,
        total=total,
        state=state,
        overdue=overdue,
        page=page,
        pages=max(1, -(-total // size)),
    )


async def _case(ctx: Ctx, who: Principal, alert_id: int) -> AlertDetail:
    detail = await run_in_threadpool(visible_alert, ctx, who, alert_id)
    if detail is None or detail.alert.category not in CASE_CATEGORIES:
        raise HTTPException(404, "There is no such case that you may see.")
    return detail


@router.get("/cases/{alert_id}", response_class=HTMLResponse)
async def case_page(request: Request, alert_id: AlertId, ctx: Ctx, who: Officer) -> HTMLResponse:
    detail = await _case(ctx, who, alert_id)
    a = detail.alert
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "view_case", home=a.home, subject=f"alert {a.id}")
    )
    homes = await run_in_threadpool(addresses, ctx, {a.home})
    done_duties = {
        Duty.INVESTIGATED: a.clocks.investigation_ended_at,
        Duty.SUMMARY_SENT: a.clocks.summary_sent_at,
        Duty.MADE_SAFE: a.clocks.works_done_at,
        Duty.FURTHER_WORKS_STARTED: a.clocks.further_works_started_at,
    }
    return render(
        request,
        "case.html",
        who,
        title=f"Case {a.id}",
        a=a,
        history=detail.history,
        address=homes.get(a.home, a.home),
        evidence=evidence_rows(a.evidence),
        clocks=clocks_of(a, dt.datetime.now(dt.UTC)),
        duties=[(d, DUTY_WORDS[d]) for d, done in done_duties.items() if done is None],
        outcomes=PERSON_OUTCOMES,
        done=request.query_params.get("done"),
        problem=request.query_params.get("problem"),
    )


@router.get("/cases/{alert_id}/print", response_class=HTMLResponse)
async def case_print(request: Request, alert_id: AlertId, ctx: Ctx, who: Officer) -> HTMLResponse:
    detail = await _case(ctx, who, alert_id)
    a = detail.alert
    series = await home_series(ctx.influx, a.home, "30d")
    conf = ctx.settings.dashboard
    charts = [
        (
            "Temperature (°C)",
            svg_chart(
                series,
                "temperature",
                "Temperature (°C)",
                "°C",
                [(conf.cold_c, f"{conf.cold_c:g} °C")],
            ),
        ),
        (
            "Relative humidity (%)",
            svg_chart(series, "humidity", "Relative humidity (%)", "%", [(70.0, "70 %")]),
        ),
    ]
    homes = await run_in_threadpool(addresses, ctx, {a.home})
    await run_in_threadpool(
        lambda: audit.record(ctx.engine, who, "export_case", home=a.home, subject=f"alert {a.id}")
    )
    return render(
        request,
        "case_print.html",
        who,
        title=f"Case {a.id}: {homes.get(a.home, a.home)}",
        a=a,
        history=detail.history,
        address=homes.get(a.home, a.home),
        evidence=evidence_rows(a.evidence),
        clocks=clocks_of(a, dt.datetime.now(dt.UTC)),
        charts=[(label, svg) for label, svg in charts if svg],
        printed_at=dt.datetime.now(dt.UTC),
    )
