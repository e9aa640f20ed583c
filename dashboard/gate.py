"""ASGI middleware at the door: request bodies are bounded, and authenticated before they are read.

FastAPI parses a route's form or JSON body before it runs the route's dependencies, so a
check of who is asking inside a dependency comes after an anonymous client's body is already
in memory. The gate therefore looks at the session cookie or API token of every request that
may carry a body (anything but GET, HEAD and OPTIONS) before the route sees it, and refuses an
anonymous one without reading a byte of its body; only sign-in is open. The principal it finds
is left in the scope for the route's dependency, so it is looked up once.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PRINCIPAL", "PUBLIC_WRITES", "AuthGate", "BodyLimit", "BodyTooLarge"]

# Where the gate leaves the request's principal (or None) for dashboard.deps.
PRINCIPAL = "hof.principal"
# Requests with a body that need no account: signing in.
PUBLIC_WRITES = frozenset({"/sign-in"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """A request body went past its bound while it was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Refuse a body over its bound: by Content-Length at once (413, nothing read), and by
    counting the bytes of a chunked body as they arrive (reading stops past the bound)."""

    def __init__(self, app: ASGIApp, *, limit: int, limits: Mapping[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.limits = dict(limits)  # per path, for the few that take more (or less)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.limit)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _json(scope, receive, send, 413, f"the request body is larger than {limit} bytes")
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:
            # Normally the app's HTTPException handler answers it; this is for a reader
            # outside FastAPI's handlers.
            if started:
                raise
            await _json(scope, receive, send, 413, str(exc.detail))


class AuthGate:
    """Authenticate every request that may carry a body before anything reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or scope["path"] in PUBLIC_WRITES
        ):
            await self.app(scope, receive, send)
            return
        from dashboard.deps import lookup_principal

        request = Request(scope)
        try:
            who = await lookup_principal(request, scope["app"].state.ctx)
        except HTTPException as exc:  # an unknown or revoked API token
            await _json(scope, receive, send, exc.status_code, str(exc.detail), exc.headers)
            return
        if who is None:
            path = str(scope["path"])
            response: Response
            if path.startswith("/api/"):
                response = JSONResponse(
                    {"detail": "sign in, or send an API token as 'Authorization: Bearer hof_...'"},
                    401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            else:
                response = RedirectResponse(
                    f"/sign-in?next={quote(path, safe='/')}", status_code=303
                )
            await response(scope, receive, send)
            return
        scope[PRINCIPAL] = who
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1").strip()
    return None


async def _json(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    response = JSONResponse({"detail": detail}, status, headers=dict(headers or {}))
    await response(scope, receive, send)
