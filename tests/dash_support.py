"""Shared parts of the dashboard's tests: the real dashboard process, accounts, Chromium, axe.

Import the fixtures into a test module with `from dash_support import *  # noqa: F403`.
The dashboard runs as `hof dashboard` on a free port against the session's stack and its own
SQLite platform database; browsers are Debian's Chromium driven by Playwright (never a
downloaded browser). Screenshots go to artifacts/screenshots/ for CI to keep.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from hofsupport import ServiceProcess

from dashboard.access import Role
from dashboard.accounts import create_token, create_user
from hof.alertstore import make_engine, migrate, store_url
from hof.settings import Settings
from hof.stack import Stack

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "PASSWORD",
    "Account",
    "DashboardProcess",
    "Estate",
    "axe_check",
    "browser",
    "dashboard",
    "estate",
    "http_page",
    "screenshot",
    "served_in_thread",
    "sign_in",
]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("HOF_ARTIFACTS", ROOT / "artifacts")) / "screenshots"
AXE = ROOT / "dashboard" / "assets" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("HOF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
# The rules axe-core checks: WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


class DashboardProcess(ServiceProcess):
    service: ClassVar[str] = "dashboard"
    defaults: ClassVar[dict[str, str]] = {
        "HOF_DASHBOARD__PORT": "0",
        "HOF_DASHBOARD__REFRESH_S": "1",
        "HOF_DASHBOARD__LIVE_POLL_S": "0.3",
        "HOF_DASHBOARD__CLIMATE_REFRESH_S": "1",
    }

    @property
    def url(self) -> str:
        registration = self.state_dir / "run" / f"dashboard-{self.client_id}.json"
        return str(json.loads(registration.read_text())["url"]).removesuffix("/metrics")


@dataclass(frozen=True)
class Account:
    email: str
    role: Role
    patches: tuple[str, ...]
    token: str


@dataclass
class Estate:
    """A running dashboard, its database, and one account of each kind."""

    process: DashboardProcess
    settings: Settings
    accounts: dict[str, Account]
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.process.url

    def api(self, who: str) -> httpx.Client:
        """An API client acting as the named account, with its API token."""
        token = self.accounts[who].token
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )


def make_estate(stack: Stack, db_dir: Path, **env: str) -> Iterator[Estate]:
    """Start a dashboard on its own database with officers, responders and an admin.

    `estate.env` points other processes (an alerts worker) at the same database.
    """
    url = f"sqlite:///{db_dir / 'platform.sqlite3'}"
    settings = Settings(
        environment="test",
        state_dir=stack.settings.state_dir,
        alertstore={"url": url},
        **stack.info.settings(),
    )
    migrate(store_url(settings))
    engine = make_engine(store_url(settings))
    accounts: dict[str, Account] = {}
    try:
        for key, role, patches in (
            ("officer", Role.HOUSING_OFFICER, ("North",)),
            ("responder", Role.RESPONDER, ("North",)),
            ("south_responder", Role.RESPONDER, ("South",)),
            ("admin", Role.ADMIN, ("*",)),
        ):
            email = f"{key}@example.org"
            create_user(
                engine,
                email=email,
                name=key.replace("_", " ").title(),
                role=role,
                password=PASSWORD,
                patches=patches,
            )
            accounts[key] = Account(email, role, patches, create_token(engine, email, "tests"))
    finally:
        engine.dispose()
    shared = {
        "HOF_ALERTSTORE__URL": url,
        # A rules worker started for a dashboard test must leave the broker when it stops: a
        # persistent session left in the shared group `alerts` would go on taking a share of
        # every later test's events into its offline queue (Mosquitto keeps the member).
        "HOF_ALERTS__SHARE_GROUP": f"alerts-{db_dir.name}",
        "HOF_ALERTS__SESSION_EXPIRY_S": "0",
    }
    process = DashboardProcess(stack.settings.state_dir, f"dash-{db_dir.name}", **shared, **env)
    process.start()
    try:
        yield Estate(process, settings, accounts, shared)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def estate(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    """A dashboard for this test module, on the session's stack and a fresh database."""
    yield from make_estate(stack, tmp_path_factory.mktemp("dashboard"))


# Kept for modules that only need the process.
dashboard = estate


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright; fails loudly if it is missing.

    Per module, not per session: Playwright's sync API runs its own event loop in this
    thread while it is started, and the asyncio tests of other modules need the thread free.
    """
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run scripts/setup")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(browser: Any, estate: Estate, who: str) -> Any:
    """A new browser context signed in as the named account; returns its page."""
    context = browser.new_context(base_url=estate.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(estate.accounts[who].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    return page


def axe_check(page: Any, *, exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """Run axe-core (from npm, served to the page by the test) and fail on any WCAG violation."""
    source = AXE.read_text()
    # Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') holds.
    page.evaluate(f"() => {{ {source}\n; window.axe = axe; }}")
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
    context: Any = {"exclude": [[s] for s in exclude]} if exclude else None
    result = page.evaluate(
        "([context, options]) => window.axe.run(context || document, options)",
        [context, options],
    )
    violations: list[dict[str, Any]] = result["violations"]
    summary = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in violations
    ]
    assert not violations, f"accessibility violations on {page.url}:\n" + "\n".join(summary)
    return violations


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def http_page(estate: Estate, who: str) -> Iterator[httpx.Client]:
    """An httpx client signed in with a session cookie, as a browser would be."""
    with httpx.Client(base_url=estate.url, timeout=30.0, follow_redirects=False) as client:
        response = client.post(
            "/sign-in", data={"email": estate.accounts[who].email, "password": PASSWORD}
        )
        assert response.status_code == 303, response.text
        yield client


@contextmanager
def served_in_thread(settings: Settings) -> Iterator[str]:
    """The dashboard app of these settings under uvicorn in a thread, on a free loopback port
    (no background work); yields its URL. For settings a child process could not be given
    (production's, a metrics token the fixtures' readiness probe would not send)."""
    import socket
    import threading
    import time

    import uvicorn

    from dashboard.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(
        create_app(settings, background=False), log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30.0
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the dashboard did not start in its thread"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15.0)
        sock.close()


Factory = Callable[..., Any]
