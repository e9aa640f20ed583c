"""Page forms that act on an alert (acknowledge, assign, resolve, note, duty), for the queue
and case pages alike. Without JavaScript they redirect back; page scripts get a 204."""

from __future__ import annotations

from typing import Annotated, cast
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dashboard.actions import Action, act
from dashboard.api.models import AlertId
from dashboard.deps import Ctx, PageUser, check_csrf
from hof.alertstore import AlertStoreError, TransitionRefused

router = APIRouter(include_in_schema=False)
ACTIONS = {"acknowledge", "assign", "resolve", "note", "duty"}
DONE = {
    "acknowledge": "Acknowledged",
    "assign": "Assigned",
    "resolve": "Resolved",
    "note": "Note added",
    "duty": "Duty recorded",
}


def _back(value: str, key: str, message: str) -> str:
    """The page to return to (same site only), with `key=message` before any #anchor."""
    target = value if value.startswith("/") and not value.startswith("//") else "/"
    path, _, anchor = target.partition("#")
    sep = "&" if "?" in path else "?"
    return f"{path}{sep}{key}={quote(message)}{'#' + anchor if anchor else ''}"


@router.post("/alerts/{alert_id}/do", response_model=None)
async def do(
    request: Request,
    alert_id: AlertId,
    ctx: Ctx,
    who: PageUser,
    csrf: Annotated[str, Form()],
    action: Annotated[str, Form()],
    back: Annotated[str, Form()] = "/",
    to: Annotated[str, Form(max_length=200)] = "",
    team: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    duty: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who, csrf)
    if action not in ACTIONS:
        raise HTTPException(422, f"unknown action {action!r}")
    scripted = request.headers.get("x-requested-with") == "fetch"
    try:
        view = await run_in_threadpool(
            lambda: act(
                ctx,
                who,
                alert_id,
                cast(Action, action),
                to=to,
                team=team == "yes",
                outcome=outcome,
                note=note,
                duty=duty,
            )
        )
    except (TransitionRefused, AlertStoreError) as exc:
        # The store's own words for why (its reason code is for programs, not people).
        if scripted:
            raise HTTPException(409, exc.detail) from exc
        return RedirectResponse(_back(back, "problem", exc.detail), status_code=303)
    if view is None:
        raise HTTPException(404, "There is no such alert that you may see.")
    if scripted:
        return Response(status_code=204)
    return RedirectResponse(_back(back, "done", DONE[action]), status_code=303)
