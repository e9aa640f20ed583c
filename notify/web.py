"""The notifier's small HTTP app: the acknowledgement link, and room for provider callbacks.

`GET /ack/{token}` shows a confirm page (a link preview or a mail scanner fetching the URL
must not acknowledge anything); `POST /ack/{token}` acknowledges, once, before the token
expires, and the alert's history says who and "via link". Another module adds GOV.UK Notify's
callbacks with one line: `app.include_router(callbacks.router)`; routes reach the store and
the engine through `request.app.state.notify` (a `WebContext`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from hof.alertstore import notifications as n

__all__ = ["WebContext", "context_of", "create_app"]


@dataclass
class WebContext:
    """What the routes need: the store, the token secret, and a way to wake the engine."""

    engine: Engine
    secret: bytes
    wake: Callable[[], None] = lambda: None  # the engine looks at the store at once
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)


def context_of(request: Request) -> WebContext:
    ctx = request.app.state.notify
    assert isinstance(ctx, WebContext)
    return ctx


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} - House of the Future</title>
<style>body{{font-family:Arial,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}
button{{font-size:1.2rem;padding:.6rem 1.2rem;background:#00703c;color:#fff;border:0}}</style>
</head><body><main><h1>{title}</h1>{body}</main></body></html>"""

_REFUSED = {
    "unknown": "This link is not valid.",
    "used": "This link has been used already.",
    "expired": "This link has expired. Use the dashboard or reply to the text instead.",
    "resolved": "This alert is closed already; nothing more to do.",
    "already acknowledged": "Someone else has acknowledged this alert already.",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status, headers=headers)


def create_app(ctx: WebContext) -> FastAPI:
    """The app; the caller serves it (uvicorn) on a configured loopback port."""
    app = FastAPI(title="House of the Future notifier", docs_url=None, redoc_url=None)
    app.state.notify = ctx

    @app.get("/health", response_class=PlainTextResponse)
    async def health() -> str:
        return "ok"

    @app.get("/ack/{token}", response_class=HTMLResponse)
    async def confirm(token: str, request: Request) -> HTMLResponse:
        def peek() -> n.AckResult:
            with n.transaction(ctx.engine, write=False) as session:
                return n.peek_token(session, token, ctx.secret, ctx.clock())

        found = await run_in_threadpool(peek)
        if not found.ok:
            return _page("Cannot acknowledge", f"<p>{_REFUSED[found.reason]}</p>", 410)
        state = found.state.value if found.state else "unknown"
        body = (
            f"<p>Alert {found.alert_id} is <strong>{escape(state)}</strong>.</p>"
            f"<p>Acknowledge it as {escape(found.recipient_name or '')}? Escalation stops "
            "and the tenant's device is told that help is coming.</p>"
            f'<form method="post" action="/ack/{escape(token)}">'
            "<button type=submit>I am on it: acknowledge</button></form>"
        )
        return _page("Acknowledge this alert", body)

    @app.post("/ack/{token}", response_class=HTMLResponse)
    async def acknowledge(token: str) -> HTMLResponse:
        def redeem() -> n.AckResult:
            with n.transaction(ctx.engine) as session:
                return n.acknowledge_by_token(session, token, ctx.secret, ctx.clock())

        done = await run_in_threadpool(redeem)
        if done.alert_id is not None:
            ctx.wake()
        if not done.ok:
            return _page("Not acknowledged", f"<p>{_REFUSED[done.reason]}</p>", 409)
        return _page(
            "Acknowledged",
            f"<p>Alert {done.alert_id} is yours, {escape(done.recipient_name or '')}. "
            "Nobody else will be called; the tenant's device says help is on the way.</p>",
        )

    from notify import callbacks  # here: it imports this module's WebContext

    app.include_router(callbacks.router)
    return app
