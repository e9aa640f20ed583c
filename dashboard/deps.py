"""FastAPI dependencies: who is asking (session cookie or API token), CSRF, and roles."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from dashboard.access import Principal, Role
from dashboard.accounts import principal_for_session, principal_for_token
from dashboard.context import Context, context
from dashboard.gate import PRINCIPAL
from hof.settings import Settings

__all__ = [
    "SESSION_COOKIE",
    "ApiUser",
    "Ctx",
    "PageUser",
    "SignInRequired",
    "api_roles",
    "check_csrf",
    "lookup_principal",
    "page_roles",
    "served_over_https",
]

SESSION_COOKIE = "hof_session"
Ctx = Annotated[Context, Depends(context)]


class SignInRequired(Exception):
    """A page was asked for without a session; the app's handler redirects to sign in."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


async def _principal(request: Request, ctx: Context) -> Principal | None:
    # The gate (dashboard.gate) has already looked up whoever sends a body.
    if PRINCIPAL in request.scope:
        found: Principal | None = request.scope[PRINCIPAL]
        return found
    return await lookup_principal(request, ctx)


async def lookup_principal(request: Request, ctx: Context) -> Principal | None:
    """Who sends this request: an API token (401 if unknown), a live session, or nobody."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        found = await run_in_threadpool(principal_for_token, ctx.engine, token)
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the API token is unknown or revoked",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return found
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return await run_in_threadpool(
        principal_for_session, ctx.engine, cookie, ctx.settings.dashboard
    )


async def _api_user(request: Request, ctx: Ctx) -> Principal:
    found = await _principal(request, ctx)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in, or send an API token as 'Authorization: Bearer hof_...'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        check_csrf(found, request.headers.get("x-csrf-token", ""))
    return found


async def _page_user(request: Request, ctx: Ctx) -> Principal:
    found = await _principal(request, ctx)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(quote(target, safe="/?=&"))
    return found


ApiUser = Annotated[Principal, Depends(_api_user)]
PageUser = Annotated[Principal, Depends(_page_user)]


def check_csrf(who: Principal, token: str) -> None:
    """A change made with a session cookie must carry the session's form token."""
    if who.via == "api":
        return  # a bearer token is not sent by browsers on their own: no CSRF
    if not token or not secrets.compare_digest(token, who.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form has expired: reload the page")


def _roles(
    allowed: tuple[Role, ...], base: Callable[..., Awaitable[Principal]]
) -> Callable[..., Awaitable[Principal]]:
    # A default, not an Annotated hint: with postponed annotations FastAPI resolves hints from
    # module globals, where this closure's `base` is not.
    async def dependency(who: Principal = Depends(base)) -> Principal:  # noqa: B008
        if who.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(allowed)}"
            )
        return who

    return dependency


def api_roles(*allowed: Role) -> Callable[..., Awaitable[Principal]]:
    """An API dependency admitting only these roles (403 otherwise)."""
    return _roles(allowed, _api_user)


def page_roles(*allowed: Role) -> Callable[..., Awaitable[Principal]]:
    """A page dependency admitting only these roles (a 403 page otherwise)."""
    return _roles(allowed, _page_user)


def served_over_https(settings: Settings) -> bool:
    """Secure cookies and HSTS: as configured, else on in production."""
    configured = settings.dashboard.secure_cookies
    return settings.environment == "production" if configured is None else configured
