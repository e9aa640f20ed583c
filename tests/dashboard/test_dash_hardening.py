"""Issue 11, the dashboard: account lock-out, sign-in rate limit, bounded bodies read only after
authentication, /metrics, HTTPS-only cookies and HSTS in production.

Everything goes through the real dashboard process over HTTP on loopback; the bodies are sent
over a raw socket so that the test sees when the server answers, not when the client is done.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from dash_support import *  # noqa: F403
from dash_support import PASSWORD, Estate, make_estate, screenshot, served_in_thread
from fastapi import Request
from pydantic import SecretStr

from dashboard.access import Role
from dashboard.accounts import create_user
from dashboard.app import _metrics_allowed
from hof.alertstore import make_engine, store_url
from hof.metrics import register_endpoint
from hof.settings import Settings
from hof.stack import Stack
from hof.status import take_snapshot

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def roomy(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    """A dashboard whose sign-in rate limit is out of the way (the lock-out is tested alone)."""
    yield from make_estate(
        stack, tmp_path_factory.mktemp("hardening"), HOF_DASHBOARD__SIGN_IN_BURST="1000"
    )


def _account(estate: Estate, email: str) -> str:
    engine = make_engine(store_url(estate.settings))
    try:
        create_user(
            engine, email=email, name=email, role=Role.RESPONDER, password=PASSWORD, patches=()
        )
    finally:
        engine.dispose()
    return email


def _sign_in(estate: Estate, email: str, password: str) -> httpx.Response:
    return httpx.post(
        estate.url + "/sign-in", data={"email": email, "password": password}, timeout=30.0
    )


# --- item 5: lock-out and rate limit ---------------------------------------------------------


def test_five_wrong_passwords_lock_the_account(roomy: Estate) -> None:
    email = _account(roomy, "locked@example.org")
    for _ in range(5):
        assert _sign_in(roomy, email, "wrong password, again").status_code == 400
    # The right password no longer signs in while the lock lasts (it was rolled back with the
    # refusal, and 30 wrong passwords left the account open).
    refused = _sign_in(roomy, email, PASSWORD)
    assert refused.status_code == 400
    assert "locked" in refused.text
    assert "hof_session" not in refused.cookies


def test_fewer_wrong_passwords_than_the_limit_do_not_lock(roomy: Estate) -> None:
    email = _account(roomy, "careless@example.org")
    for _ in range(4):
        assert _sign_in(roomy, email, "wrong password, again").status_code == 400
    assert _sign_in(roomy, email, PASSWORD).status_code == 303
    # A sign-in clears the count: four more wrong ones still do not lock.
    for _ in range(4):
        assert _sign_in(roomy, email, "wrong password, again").status_code == 400
    assert _sign_in(roomy, email, PASSWORD).status_code == 303


def test_sign_in_is_rate_limited_per_client(roomy: Estate) -> None:
    # 3 tries at once, then one every 10 minutes.
    strict = _with(roomy, sign_in_burst=3, sign_in_per_minute=0.1)
    email = roomy.accounts["officer"].email
    with served_in_thread(strict) as url, httpx.Client(base_url=url, timeout=30.0) as client:
        for _ in range(3):
            wrong = {"email": "nobody@example.org", "password": "wrong password"}
            assert client.post("/sign-in", data=wrong).status_code == 400
        # The fourth try is refused before any password is checked, even the right one.
        limited = client.post("/sign-in", data={"email": email, "password": PASSWORD})
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "Too many tries" in limited.text
        assert "hof_dashboard_sign_in_limited_total 1.0" in client.get("/metrics").text


# --- item 6: bounded bodies, authenticated before they are read ------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _raw_post(
    url: str,
    path: str,
    *,
    headers: dict[str, str],
    body_bytes: int,
    chunked: bool,
    form: bool = False,
    timeout_s: float = 30.0,
) -> tuple[int, float]:
    """POST `body_bytes` of JSON-ish filler; stop sending once the server answers.

    Returns the status and the seconds until the answer came.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Type: {kind}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_bytes}")
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        if chunked:
            chunk = (b"note=" + b"a" * (MiB - 5)) if form else (b'"' + b"a" * (MiB - 2) + b'"')
            sent = 0
            while sent < body_bytes and time.monotonic() - started < timeout_s:
                if select.select([sock], [], [], 0.05)[0]:
                    break  # the server has answered
                try:
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
            else:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(b"0\r\n\r\n")
        answer = b""
        while b"\r\n" not in answer and time.monotonic() - started < timeout_s:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 "), f"no answer after {elapsed:.1f} s: {answer[:80]!r}"
    return int(answer.split()[1]), elapsed


def test_an_anonymous_body_is_refused_before_it_is_read(roomy: Estate) -> None:
    assert roomy.process.proc is not None
    pid = roomy.process.proc.pid
    before = _rss_kib(pid)
    # Declared size over the bound: 413 before a byte of it is read.
    status, seconds = _raw_post(
        roomy.url, "/api/v1/alerts/1/notes", headers={}, body_bytes=20 * MiB, chunked=False
    )
    assert (status, seconds < 2.0) == (413, True)
    # Chunked, so no size is declared: refused as anonymous before the body is read.
    status, seconds = _raw_post(
        roomy.url, "/api/v1/alerts/1/notes", headers={}, body_bytes=20 * MiB, chunked=True
    )
    assert (status, seconds < 2.0) == (401, True)
    # A page's form the same way (a redirect to sign in).
    status, seconds = _raw_post(
        roomy.url, "/alerts/1/do", headers={}, body_bytes=20 * MiB, chunked=True, form=True
    )
    assert (status, seconds < 2.0) == (303, True)
    grown_mib = (_rss_kib(pid) - before) / 1024
    assert grown_mib < 4.0, f"the dashboard grew by {grown_mib:.1f} MiB"


def test_an_authenticated_body_over_the_bound_is_refused(roomy: Estate) -> None:
    bearer = {"Authorization": f"Bearer {roomy.accounts['admin'].token}"}
    status, seconds = _raw_post(
        roomy.url, "/api/v1/alerts/1/notes", headers=bearer, body_bytes=20 * MiB, chunked=False
    )
    assert (status, seconds < 2.0) == (413, True)
    # Chunked: counted as it arrives, and refused once past the bound (1 MiB by default).
    status, seconds = _raw_post(
        roomy.url, "/api/v1/alerts/1/notes", headers=bearer, body_bytes=20 * MiB, chunked=True
    )
    assert status == 413
    assert seconds < 5.0
    # A page's form the same way.
    status, seconds = _raw_post(
        roomy.url, "/alerts/1/do", headers=bearer, body_bytes=20 * MiB, chunked=True, form=True
    )
    assert status == 413
    assert seconds < 5.0
    # Under the bound it is read as before (no such alert: 404).
    with roomy.api("admin") as api:
        assert api.post("/api/v1/alerts/1/notes", json={"text": "a note"}).status_code == 404


def test_the_homes_upload_takes_more_than_other_bodies(roomy: Estate) -> None:
    # 5,000 homes a call is more than the general bound of 1 MiB.
    homes = [
        {
            "id": f"BIG-{i:05d}",
            "reference": f"REF-BIG-{i:05d}",
            "address": f"{i} A Rather Long Street Name, Somewhere Quite Far, {'y' * 80}",
            "postcode": "ZZ1 1ZZ",
            "estate": "Big Estate",
            "ward": "Big Ward",
            "patch": "Big",
        }
        for i in range(5000)
    ]
    with roomy.api("admin") as api:
        response = api.post("/api/v1/admin/homes", json=homes)
    assert len(response.request.content) > MiB
    assert response.json() == {"written": 5000}


# --- item 9: HTTPS-only cookies and HSTS in production; /metrics --------------------------


def _with(estate: Estate, environment: str = "test", **dashboard: object) -> Settings:
    conf = estate.settings.dashboard.model_copy(update=dashboard)
    return estate.settings.model_copy(update={"environment": environment, "dashboard": conf})


def test_production_cookies_are_secure_and_hsts_is_sent(roomy: Estate) -> None:
    with served_in_thread(_with(roomy, "production")) as url:
        response = httpx.post(
            url + "/sign-in",
            data={"email": roomy.accounts["officer"].email, "password": PASSWORD},
        )
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "hof_session=" in cookie
        assert "secure" in cookie.lower().replace(" ", "").split(";")
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "strict-transport-security" in httpx.get(url + "/sign-in").headers
        # The admin page's settings say what is in force.
        bearer = {"Authorization": f"Bearer {roomy.accounts['admin'].token}"}
        assert "on (HTTPS only, with HSTS)" in httpx.get(url + "/admin", headers=bearer).text
    # Outside production neither, unless configured.
    response = _sign_in(roomy, roomy.accounts["officer"].email, PASSWORD)
    assert "secure" not in response.headers["set-cookie"].lower()
    assert "strict-transport-security" not in response.headers


def test_metrics_need_the_token_when_one_is_set(roomy: Estate) -> None:
    # The fixtures' own dashboards have no token: loopback clients read /metrics.
    assert httpx.get(roomy.url + "/metrics").status_code == 200
    with served_in_thread(_with(roomy, metrics_token=SecretStr("scrape-me-please"))) as url:
        assert httpx.get(url + "/metrics").status_code == 403
        wrong = {"Authorization": "Bearer scrape-me-not"}
        assert httpx.get(url + "/metrics", headers=wrong).status_code == 403
        right = {"Authorization": "Bearer scrape-me-please"}
        response = httpx.get(url + "/metrics", headers=right)
        assert response.status_code == 200
        assert "hof_dashboard_ready 1" in response.text
    # In production, without a token, nobody: a proxy on this machine would come from loopback.
    with served_in_thread(_with(roomy, "production")) as url:
        assert httpx.get(url + "/metrics").status_code == 403


def test_metrics_without_a_token_answer_loopback_clients_only(roomy: Estate) -> None:
    settings = _with(roomy)

    def asked_from(host: str) -> bool:
        scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": []}
        return _metrics_allowed(settings, Request({**scope, "client": (host, 40000)}))

    assert asked_from("127.0.0.1")
    assert asked_from("::1")
    assert not asked_from("192.0.2.10")  # documentation addresses: nothing is sent anywhere
    assert not asked_from("2001:db8::1")
    assert not asked_from("testclient")


def test_api_docs_render_from_our_own_files(roomy: Estate, browser: Any) -> None:
    page_html = httpx.get(roomy.url + "/api/docs").text
    assert "cdn" not in page_html.lower()
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page_html)
    context = browser.new_context(base_url=roomy.url)
    page = context.new_page()
    asked: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.goto("/api/docs")
    page.get_by_text("/api/v1/homes/{home_id}/series").first.wait_for(timeout=15_000)
    screenshot(page, "api-docs")
    context.close()
    assert asked
    off_site = [url for url in asked if not url.startswith(roomy.url)]
    assert not off_site, off_site
    assert not problems, problems  # a CSP refusal is logged as a console error


def test_hof_status_reads_a_dashboard_that_needs_its_token(roomy: Estate, tmp_path: Path) -> None:
    token = SecretStr("scrape-me-please")
    settings = _with(roomy, metrics_token=token).model_copy(update={"state_dir": tmp_path})
    with served_in_thread(settings) as url:
        register_endpoint(tmp_path, "dashboard", "t", url + "/metrics")
        seen = [s for s in take_snapshot(settings).services if s["service"] == "dashboard"]
        assert seen, "the dashboard was not listed"
        assert "error" not in seen[0], seen[0]
        assert seen[0]["ready"] is True
