"""API: alerts and cases you may see, acting on them, and a live stream of changes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.access import Principal, Role
from dashboard.actions import LIVE_STATES, Action, act, visible_alert, visible_filter
from dashboard.api.models import MAX_ROW_ID, AlertId, AlertOut, EscalationOut
from dashboard.context import Context
from dashboard.db import reading
from dashboard.deps import ApiUser, Ctx
from dashboard.escalation import escalation_of, notifications_for
from dashboard.live import sse_stream
from hof.alertstore import (
    AlertStoreError,
    AlertView,
    Category,
    Duty,
    HistoryEntry,
    Outcome,
    Severity,
    State,
    TransitionRefused,
)
from hof.registry.carers import homes_cared_for

router = APIRouter(tags=["alerts"])
# A named carer's stream looks again at their care relationships every this many live polls
# (30 s at the default 1 s poll): one that ended must not go on showing that home.
CARE_RECHECK_POLLS = 30
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such alert that you may see"},
    409: {"description": "The alert is not in a state that allows this (the detail says why)"},
}


def _outs(
    ctx: Context, alerts: Sequence[AlertView], history: tuple[HistoryEntry, ...] | None = None
) -> list[AlertOut]:
    """The alerts as the API shows them, each with the attempts the notifier recorded (one
    read of the store for the lot; blocking: call it in a worker thread)."""
    notes = notifications_for(ctx.engine, [a.id for a in alerts])
    out = []
    for a in alerts:
        esc = escalation_of(a, notes.get(a.id))
        escalation = EscalationOut.model_validate(esc, from_attributes=True) if esc else None
        out.append(AlertOut.of(a, history, escalation))
    return out


async def _out(
    ctx: Context, a: AlertView, history: tuple[HistoryEntry, ...] | None = None
) -> AlertOut:
    [one] = await run_in_threadpool(_outs, ctx, [a], history)
    return one


class AlertsPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


@router.get(
    "/alerts",
    response_model=AlertsPage,
    summary="Alerts you may see: open ones most urgent first, or any, newest first",
)
async def list_alerts(
    ctx: Ctx,
    who: ApiUser,
    state: Literal["open", "resolved", "any"] = "open",
    category: Annotated[list[Category] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    patch: Annotated[list[str] | None, Query(description="only these of your patches")] = None,
    home: str = "",
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> AlertsPage:
    states = {"open": LIVE_STATES, "resolved": (State.RESOLVED,), "any": ()}[state]
    where = visible_filter(
        who,
        categories=category or (),
        patches=patch or (),
        states=states,
        severities=severity or (),
        homes=[home] if home else (),
        overdue=overdue,
    )
    if where is None:  # only categories or patches this person may not see, or no patch at all
        return AlertsPage(items=[], total=0, limit=limit, offset=offset)
    page = await run_in_threadpool(
        lambda: ctx.store.list(
            where, order="urgent" if state == "open" else "newest", limit=limit, offset=offset
        )
    )
    await run_in_threadpool(
        lambda: audit.record(
            ctx.engine,
            who,
            "list_alerts",
            detail={"state": state, "home": home, "patch": patch or []},
        )
    )
    items = await run_in_threadpool(_outs, ctx, page.items)
    return AlertsPage(items=items, total=page.total, limit=limit, offset=offset)


def _cares_for_now(ctx: Context, who: Principal) -> tuple[str, ...]:
    with reading(ctx.engine) as session:
        return homes_cared_for(session, who.user_id)


async def _until_care_changes(
    ctx: Context, who: Principal, events: AsyncIterator[str]
) -> AsyncIterator[str]:
    """The stream, ended once the person's care relationships differ from those it started
    with: EventSource reconnects, and the new stream filters by the new ones. Checked after an
    event or heartbeat (15 s at most apart) once `CARE_RECHECK_POLLS` polls have passed."""
    every_s = CARE_RECHECK_POLLS * ctx.settings.dashboard.live_poll_s
    checked = time.monotonic()
    try:
        async for chunk in events:
            yield chunk
            if time.monotonic() - checked >= every_s:
                checked = time.monotonic()
                if await run_in_threadpool(_cares_for_now, ctx, who) != who.cares_for:
                    return
    finally:
        close = getattr(events, "aclose", None)  # an async generator: run its own finally now
        if close is not None:
            await close()


@router.get(
    "/alerts/stream",
    summary="Server-Sent Events: `change` for each change to an alert you may see",
    description="Events: `ready` once subscribed; `change` with {alert, home, action, category, "
    "severity, state}; `resync` when you fell behind (reload your list). A comment every 15 s "
    "keeps proxies from closing the stream. Reconnect with EventSource's own retry.",
    response_class=StreamingResponse,
)
async def stream(request: Request, ctx: Ctx, who: ApiUser) -> StreamingResponse:
    # Once per stream (EventSource reconnects included): the events name homes and, for
    # responders, health categories, so who watched and when belongs in the audit log.
    await run_in_threadpool(lambda: audit.record(ctx.engine, who, "watch_alerts"))
    events = sse_stream(ctx, who)
    return StreamingResponse(
        _until_care_changes(ctx, who, events) if who.role is Role.RESPONDER else events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertOut,
    summary="One alert or case with its evidence and whole history",
    responses=NOT_FOUND,
)
async def get_alert(alert_id: AlertId, ctx: Ctx, who: ApiUser) -> AlertOut:
    detail = await run_in_threadpool(visible_alert, ctx, who, alert_id)
    if detail is None:
        raise HTTPException(404, f"no alert {alert_id} that you may see")
    await run_in_threadpool(
        lambda: audit.record(
            ctx.engine, who, "view_alert", home=detail.alert.home, subject=f"alert {alert_id}"
        )
    )
    return await _out(ctx, detail.alert, detail.history)


async def _act(ctx: Context, who: Any, alert_id: int, action: Action, **kw: Any) -> AlertOut:
    try:
        view = await run_in_threadpool(lambda: act(ctx, who, alert_id, action, **kw))
    except TransitionRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    except (AlertStoreError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    if view is None:
        raise HTTPException(404, f"no alert {alert_id} that you may see")
    return await _out(ctx, view)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertOut,
    summary="I have seen it and am on it (stops escalation)",
    responses=NOT_FOUND,
)
async def acknowledge(alert_id: AlertId, ctx: Ctx, who: ApiUser) -> AlertOut:
    return await _act(ctx, who, alert_id, "acknowledge")


class AssignIn(BaseModel):
    to: str = Field(default="me", max_length=200, description="'me', a person or a team")
    team: bool = False


@router.post(
    "/alerts/{alert_id}/assign",
    response_model=AlertOut,
    summary="Give it to someone",
    responses=NOT_FOUND,
)
async def assign(alert_id: AlertId, body: AssignIn, ctx: Ctx, who: ApiUser) -> AlertOut:
    return await _act(ctx, who, alert_id, "assign", to=body.to, team=body.team)


class ResolveIn(BaseModel):
    outcome: Outcome
    note: str = Field(default="", max_length=2000)


@router.post(
    "/alerts/{alert_id}/resolve",
    response_model=AlertOut,
    summary="Close it with an outcome",
    responses=NOT_FOUND,
)
async def resolve(alert_id: AlertId, body: ResolveIn, ctx: Ctx, who: ApiUser) -> AlertOut:
    return await _act(ctx, who, alert_id, "resolve", outcome=body.outcome.value, note=body.note)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


@router.post(
    "/alerts/{alert_id}/notes", response_model=AlertOut, summary="Add a note", responses=NOT_FOUND
)
async def add_note(alert_id: AlertId, body: NoteIn, ctx: Ctx, who: ApiUser) -> AlertOut:
    return await _act(ctx, who, alert_id, "note", note=body.text)


class DutyIn(BaseModel):
    duty: Duty


@router.post(
    "/alerts/{alert_id}/duties",
    response_model=AlertOut,
    summary="Record an Awaab's Law duty as done (investigated, summary_sent, made_safe, "
    "further_works_started)",
    responses=NOT_FOUND,
)
async def record_duty(alert_id: AlertId, body: DutyIn, ctx: Ctx, who: ApiUser) -> AlertOut:
    return await _act(ctx, who, alert_id, "duty", duty=body.duty.value)
