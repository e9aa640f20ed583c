"""The dashboard's FastAPI application: pages, the JSON API, static files, background work."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.status import HTTP_403_FORBIDDEN

from dashboard.context import Context
from dashboard.deps import SignInRequired, served_over_https
from dashboard.gate import AuthGate, BodyLimit
from dashboard.ratelimit import TokenBuckets
from dashboard.templating import render
from hof import __version__
from hof.alertstore import AlertStore, StoreUnavailable, migrate, store_url
from hof.influx import InfluxClient, InfluxError
from hof.settings import Settings

__all__ = ["create_app"]

log = structlog.get_logger(__name__)
STATIC = Path(__file__).parent / "static"

# A page with a tenant's data must not be cached by a shared computer's browser or a proxy, and
# the pages load only our own files (no CDN, no inline script).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# Bodies bigger than dashboard.max_body_bytes: the homes CSV; smaller: a sign-in form.
SIGN_IN_MAX_BYTES = 16 * 1024
UPLOAD_PATHS = ("/admin/homes", "/api/v1/admin/homes")

Background = Callable[[Context], Coroutine[Any, Any, None]]


def _background_tasks() -> list[Background]:
    """Long-running work beside the requests (each module owns its loop)."""
    from dashboard import conditions, fleet, live

    return [conditions.refresh_forever, live.watch_forever, fleet.watch_forever]


def create_app(settings: Settings, *, background: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(migrate, store_url(settings))
        store = AlertStore.from_settings(settings)
        async with InfluxClient(settings.influx) as influx:
            ctx = Context(settings, store, influx)
            ctx.metrics.gauge("hof_dashboard_ready", "1 when serving").set(1)
            app.state.ctx = ctx
            tasks = (
                [asyncio.create_task(job(ctx)) for job in _background_tasks()] if background else []
            )
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                store.close()

    app = FastAPI(
        title="House of the Future",
        version=__version__,
        description=(
            "The landlord's API over homes, readings, alerts and damp and mould cases. "
            "Authenticate with 'Authorization: Bearer hof_...' (an API token made with "
            "`hof dashboard token create`); a token acts with its account's role and patches."
        ),
        lifespan=lifespan,
        docs_url=None,  # our own page below: FastAPI's loads Swagger UI from a CDN the CSP blocks
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/assets", StaticFiles(directory=STATIC / "build" / "govuk-assets"), name="assets")
    conf = settings.dashboard
    app.state.sign_in_buckets = TokenBuckets(
        burst=conf.sign_in_burst, per_minute=conf.sign_in_per_minute
    )
    https = served_over_https(settings)
    hsts = f"max-age={conf.hsts_max_age_s}; includeSubDomains"
    # Added innermost first: the body bound wraps the gate, so a body is bounded wherever it
    # is read, and the gate refuses an anonymous body before anything reads it.
    app.add_middleware(AuthGate)
    app.add_middleware(
        BodyLimit,
        limit=conf.max_body_bytes,
        limits={
            "/sign-in": SIGN_IN_MAX_BYTES,
            **dict.fromkeys(UPLOAD_PATHS, conf.max_upload_bytes),
        },
    )

    @app.middleware("http")
    async def headers_and_metrics(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if https:
            response.headers.setdefault("Strict-Transport-Security", hsts)
        # Time spent in the app (bench/dashboard reads it; browsers show it in their tools).
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        if not request.url.path.startswith(("/static", "/assets")):
            response.headers.setdefault("Cache-Control", "no-store")
        ctx: Context | None = getattr(request.app.state, "ctx", None)
        if ctx is not None:
            route = request.scope.get("route")
            name = getattr(route, "path", "other")
            ctx.metrics.counter("hof_dashboard_requests_total", "requests").inc(
                route=name, status=str(response.status_code)
            )
            ctx.metrics.counter("hof_dashboard_request_seconds_total", "time serving").inc(
                time.perf_counter() - started, route=name
            )
        return response

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={exc.next_url}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
            "accept", ""
        ):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        titles = {403: "You cannot see this page", 404: "Page not found"}
        return render(
            request,
            "error.html",
            None,
            status_code=exc.status_code,
            title=titles.get(exc.status_code, "Sorry, there is a problem"),
            message=str(exc.detail),
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        return JSONResponse({"detail": "the request is not valid", "problems": problems}, 422)

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> Response:
        log.error("dashboard_store_unavailable", error=str(exc))
        return JSONResponse(
            {"detail": "the alert store cannot be reached; try again shortly"},
            503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(InfluxError)
    async def influx_down(request: Request, exc: InfluxError) -> Response:
        log.error("dashboard_influx_unavailable", error=str(exc))
        return JSONResponse(
            {"detail": "the readings database cannot be reached; try again shortly"},
            503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # A bug: say so to the person in plain words, and log everything for us.
        log.exception("dashboard_unhandled", path=request.url.path, error=repr(exc))
        return JSONResponse({"detail": "something went wrong on our side; it has been logged"}, 500)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> PlainTextResponse:
        if not _metrics_allowed(settings, request):
            raise HTTPException(HTTP_403_FORBIDDEN, "the metrics need the metrics token")
        ctx: Context = request.app.state.ctx
        return PlainTextResponse(ctx.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    async def api_docs(request: Request) -> HTMLResponse:
        return render(request, "api_docs.html", None)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from dashboard.api import admin as api_admin
    from dashboard.api import alerts as api_alerts
    from dashboard.api import home_data as api_home_data
    from dashboard.api import homes as api_homes
    from dashboard.api import rights as api_rights
    from dashboard.routes import actions, admin, cases, devices, estate, home, queue, signin

    for module in (signin, estate, home, queue, cases, devices, admin, actions):
        app.include_router(module.router)
    for api in (api_homes, api_home_data, api_alerts, api_admin, api_rights):
        app.include_router(api.router, prefix="/api/v1")
    return app


def _metrics_allowed(settings: Settings, request: Request) -> bool:
    """/metrics: the metrics token when one is set; else loopback clients, never in production.

    Request counts by route and the live queue's subscribers say who works when; a scraper on
    another machine, or behind a proxy on this one (its requests come from loopback), needs
    the token.
    """
    token = settings.dashboard.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        expected = "Bearer " + token.get_secret_value()
        return secrets.compare_digest(sent.encode(), expected.encode())
    if settings.environment == "production":
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
