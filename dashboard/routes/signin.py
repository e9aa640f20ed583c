"""Sign in and out, and the start page each role lands on."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dashboard import audit
from dashboard.access import Principal, Role
from dashboard.accounts import SignInRefused, authenticate, end_session, start_session
from dashboard.deps import SESSION_COOKIE, Ctx, PageUser, check_csrf, served_over_https
from dashboard.ratelimit import TokenBuckets
from dashboard.templating import render

router = APIRouter(include_in_schema=False)

START = {Role.HOUSING_OFFICER: "/estate", Role.RESPONDER: "/queue", Role.ADMIN: "/estate"}


def _safe_next(value: str) -> str:
    # Only a path on this site: an open redirect would let a phishing link borrow our sign-in.
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/")
async def start(who: PageUser) -> RedirectResponse:
    return RedirectResponse(START[who.role], status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "signin.html", None, next=_safe_next(next), email="", error=None)


@router.post("/sign-in", response_model=None)
async def sign_in(
    request: Request,
    ctx: Ctx,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    policy = ctx.settings.dashboard
    # Before the password is checked: Argon2 is the costly part, and guessing is the threat.
    buckets: TokenBuckets = request.app.state.sign_in_buckets
    wait_s = buckets.take(request.client.host if request.client else "")
    if wait_s > 0:
        ctx.metrics.counter("hof_dashboard_sign_in_limited_total", "sign-ins rate limited").inc()
        limited = render(
            request,
            "signin.html",
            None,
            status_code=429,
            next=_safe_next(next),
            email=email,
            error="Too many tries to sign in from here. Wait a minute, then try again.",
        )
        limited.headers["Retry-After"] = str(max(1, math.ceil(min(wait_s, 3600.0))))
        return limited
    try:
        user = await run_in_threadpool(authenticate, ctx.engine, email, password, policy)
    except SignInRefused as exc:
        ctx.metrics.counter("hof_dashboard_sign_in_refused_total", "refused sign-ins").inc()
        return render(
            request,
            "signin.html",
            None,
            status_code=400,
            next=_safe_next(next),
            email=email,
            error=str(exc),
        )
    cookie = await run_in_threadpool(start_session, ctx.engine, user.id, policy)
    who = Principal(user.id, user.email, user.name, user.role, user.patches, "page")
    await run_in_threadpool(audit.record, ctx.engine, who, "sign_in")
    target = _safe_next(next)
    response = RedirectResponse(target if target != "/" else START[user.role], status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(policy.session_max_s),
        httponly=True,
        secure=served_over_https(ctx.settings),
        samesite="lax",
        path="/",
    )
    return response


@router.post("/sign-out")
async def sign_out(
    request: Request, ctx: Ctx, who: PageUser, csrf: Annotated[str, Form()] = ""
) -> RedirectResponse:
    check_csrf(who, csrf)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    await run_in_threadpool(end_session, ctx.engine, cookie)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
