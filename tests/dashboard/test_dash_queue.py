"""The responder's queue: the alerts API by role and patch, actions, CSRF, the live stream,
and a fall from a real device reaching an open queue without a reload."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from dash_support import *  # noqa: F403
from dash_support import (
    PASSWORD,
    Estate,
    axe_check,
    http_page,
    make_estate,
    screenshot,
    sign_in,
)
from hofsupport import AlertsProcess, Device

from dashboard.access import Role
from dashboard.accounts import create_token, create_user
from hof.alertstore import AlertStore
from hof.alertstore import notifications as n
from hof.registry import HomeIn, upsert_homes
from hof.stack import Stack


@dataclass
class World:
    estate: Estate
    store: AlertStore
    north: str
    south: str
    stack: Stack


@pytest.fixture(scope="module")
def world(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = make_estate(stack, tmp_path_factory.mktemp("dash-queue"))
    estate = next(made)
    north, south = f"QN-{secrets.token_hex(3)}", f"QS-{secrets.token_hex(3)}"
    store = AlertStore.from_settings(estate.settings)
    upsert_homes(
        store.engine,
        [
            HomeIn(id=north, reference=f"R-{north}", address="7 Pendant Way", patch="North"),
            HomeIn(id=south, reference=f"R-{south}", address="8 Far Street", patch="South"),
        ],
    )
    yield World(estate, store, north, south, stack)
    store.close()
    next(made, None)


def _fall(
    store: AlertStore, home: str, rule: str = "fall", summary: str = "Fall detected by tc-1."
) -> int:
    return store.raise_or_update(
        home=home,
        rule=rule,
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary=summary,
    ).alert.id


def test_alerts_api_by_role_and_patch(world: World) -> None:
    north = _fall(world.store, world.north, "fall-api")
    south = _fall(world.store, world.south, "fall-api")
    with world.estate.api("responder") as api:
        listed = api.get("/api/v1/alerts").json()
        ids = [a["id"] for a in listed["items"]]
        assert north in ids
        assert south not in ids
        assert api.get(f"/api/v1/alerts/{south}").status_code == 404
        one = api.get(f"/api/v1/alerts/{north}").json()
        assert one["history"][0]["action"] == "raised"
        # Nobody has been told of it: the screen says so (it used to say "With on-duty
        # responder; next: team lead in 1:59", a ladder computed from the clock).
        assert one["escalation"]["text"] == "Nobody contacted yet"
        assert one["escalation"]["attempts"] == []
    with world.estate.api("officer") as api:
        assert api.get(f"/api/v1/alerts/{north}").status_code == 404
        assert api.post(f"/api/v1/alerts/{north}/acknowledge").status_code == 404
        assert all(a["category"] != "fall" for a in api.get("/api/v1/alerts").json()["items"])
        assert api.get("/api/v1/alerts", params={"category": "fall"}).json()["items"] == []


def _attempt(
    store: AlertStore, alert: int, channel: str, name: str, address: str, status: str, ref: str
) -> None:
    with n.transaction(store.engine) as s:
        n.record_attempt(
            s,
            alert_id=alert,
            job_id=None,
            level=0,
            repeat=0,
            channel=channel,
            recipient_name=name,
            recipient_address=address,
            attempt=1,
            status=status,
            detail={"sent": "HTTP 200", "failed": "HTTP 503"}.get(status, ""),
            provider_ref=ref,
            idempotency_key=f"{alert}:0:0:{address}",
            at=dt.datetime.now(dt.UTC),
        )


def test_the_api_and_the_queue_show_the_attempts_actually_made(world: World) -> None:
    alert = _fall(world.store, world.north, "fall-attempts")
    ref = f"notify-{secrets.token_hex(4)}"
    _attempt(world.store, alert, "webhook", "Estate webhook", "http://127.0.0.1:9/h", "sent", "w1")
    _attempt(world.store, alert, "notify_sms", "Sam Responder", "07700900123", "sent", ref)
    _attempt(world.store, alert, "email", "Team lead", "lead@example.org", "failed", "m1")
    now = dt.datetime.now(dt.UTC)
    with n.transaction(world.store.engine) as s:
        n.record_receipt(s, ref, "delivered", now)  # GOV.UK Notify's receipt came
        _, code = n.issue_ack(
            s, alert, "Sam Responder", "07700900123", secret=b"k", now=now, ttl=dt.timedelta(1)
        )
    with world.estate.api("responder") as api:
        esc = api.get(f"/api/v1/alerts/{alert}").json()["escalation"]
    assert esc["text"] == "Told Estate webhook, Sam Responder; could not reach Team lead"
    assert [(a["channel"], a["recipient"], a["status"]) for a in esc["attempts"]] == [
        ("webhook", "Estate webhook", "sent"),
        ("notify_sms", "Sam Responder", "delivered"),
        ("email", "Team lead", "failed"),
    ]
    assert esc["attempts"][1]["delivered_at"] is not None
    with http_page(world.estate, "responder") as page:
        html = page.get("/queue").text
    row = html[html.index(f'id="alert-{alert}"') :]
    row = row[: row.index("</tr>")]
    assert "What was sent (3)" in row
    assert "text message to Sam Responder" in row
    assert "email to Team lead" in row
    # Acknowledged by an SMS reply: who, and from which channel, on the API and the queue.
    with n.transaction(world.store.engine) as s:
        assert n.acknowledge_by_code(s, "07700900123", code, now, via="sms").ok
    with world.estate.api("responder") as api:
        listed = api.get("/api/v1/alerts", params={"limit": 500}).json()["items"]
    [mine] = [a for a in listed if a["id"] == alert]
    assert mine["escalation"]["acknowledged_via"] == "sms"
    assert mine["escalation"]["text"].startswith("Acknowledged by Sam Responder via an SMS reply.")
    with world.estate.api("officer") as api:  # still a fall: an officer never sees it
        assert api.get(f"/api/v1/alerts/{alert}").status_code == 404


def test_an_account_without_a_patch_sees_no_alert(world: World) -> None:
    # An empty patch list in the store's filter means "every home": it must never leak here.
    alert = _fall(world.store, world.north, "fall-nopatch")
    email = f"nopatch-{secrets.token_hex(3)}@example.org"
    create_user(
        world.store.engine, email=email, name="No Patch", role=Role.RESPONDER, password=PASSWORD
    )
    token = create_token(world.store.engine, email, "tests")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=world.estate.url, headers=headers, timeout=30) as api:
        assert api.get("/api/v1/alerts").json()["total"] == 0
        assert api.get("/api/v1/alerts", params={"state": "any"}).json()["items"] == []
        assert api.get(f"/api/v1/alerts/{alert}").status_code == 404


def test_the_list_filters_by_severity_and_patch_within_what_you_may_see(world: World) -> None:
    # Smoke, not a fall: an admin sees every patch but no health data (test_dash_carers.py).
    north, south = (
        world.store.raise_or_update(
            home=home, rule="smoke-filter", rule_version=1, category="smoke",
            audience="responder", severity="emergency", summary="Smoke alarm sounding.",
        ).alert.id
        for home in (world.north, world.south)
    )  # fmt: skip
    with world.estate.api("admin") as api:
        only_south = api.get("/api/v1/alerts", params={"patch": "South", "limit": 500}).json()
        ids = {a["id"] for a in only_south["items"]}
        assert south in ids
        assert north not in ids
        calm = api.get("/api/v1/alerts", params={"severity": "watch"}).json()
        assert all(a["severity"] == "watch" for a in calm["items"])
        emergencies = api.get("/api/v1/alerts", params={"severity": "emergency", "limit": 500})
        assert {north, south} <= {a["id"] for a in emergencies.json()["items"]}
    with world.estate.api("responder") as api:
        # Asking for another patch does not widen what a North responder sees.
        assert api.get("/api/v1/alerts", params={"patch": "South"}).json()["total"] == 0


def test_forms_work_without_javascript(world: World) -> None:
    alert = _fall(world.store, world.north, "fall-form")
    with http_page(world.estate, "responder") as page:
        html = page.get("/queue").text
        assert f'id="alert-{alert}"' in html
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found
        form = {"csrf": found.group(1), "back": f"/queue#alert-{alert}"}
        done = page.post(f"/alerts/{alert}/do", data={**form, "action": "acknowledge"})
        assert done.status_code == 303
        assert done.headers["location"] == f"/queue?done=Acknowledged#alert-{alert}"
        again = page.post(f"/alerts/{alert}/do", data={**form, "action": "acknowledge"})
        assert again.headers["location"].startswith("/queue?problem=")
        page.post(
            f"/alerts/{alert}/do",
            data={**form, "action": "assign", "to": "Night team", "team": "yes"},
        )
        assert "Acknowledged" in page.get("/queue", params={"done": "Acknowledged"}).text
    view = world.store.get(alert).alert
    assert (view.assigned_to, view.assignee_kind and view.assignee_kind.value) == (
        "Night team",
        "team",
    )


def test_acting_through_the_api(world: World) -> None:
    alert = _fall(world.store, world.north, "fall-act")
    with world.estate.api("responder") as api:
        acked = api.post(f"/api/v1/alerts/{alert}/acknowledge").json()
        assert acked["state"] == "acknowledged"
        assert acked["escalation"]["stopped"] is True
        again = api.post(f"/api/v1/alerts/{alert}/acknowledge")
        assert again.status_code == 409
        assert "was acknowledged by responder@example.org" in again.json()["detail"]
        assigned = api.post(
            f"/api/v1/alerts/{alert}/assign", json={"to": "Night team", "team": True}
        )
        assert assigned.json()["assigned_to"] == "Night team"
        bad = api.post(f"/api/v1/alerts/{alert}/resolve", json={"outcome": "solved"})
        assert bad.status_code == 422
        done = api.post(
            f"/api/v1/alerts/{alert}/resolve", json={"outcome": "false_alarm", "note": "Dropped"}
        ).json()
        assert (done["state"], done["outcome"]) == ("resolved", "false_alarm")
    history = [e.action.value for e in world.store.get(alert).history]
    assert history == ["raised", "acknowledged", "assigned", "resolved"]


def test_a_session_cookie_needs_the_csrf_token(world: World) -> None:
    alert = _fall(world.store, world.north, "fall-csrf")
    with http_page(world.estate, "responder") as page:
        refused = page.post(f"/api/v1/alerts/{alert}/acknowledge")
        assert refused.status_code == 403
        forged = page.post(f"/alerts/{alert}/do", data={"csrf": "forged", "action": "acknowledge"})
        assert forged.status_code == 403
    assert world.store.get(alert).alert.state.value == "open"


def test_the_stream_delivers_changes_for_the_callers_patch(world: World) -> None:
    events: list[dict[str, Any]] = []
    ready = threading.Event()
    wanted: list[int] = []
    raising = threading.Lock()  # so the listener never checks between the raise and `wanted`

    def listen() -> None:
        headers = {"Authorization": f"Bearer {world.estate.accounts['responder'].token}"}
        with httpx.stream(
            "GET", world.estate.url + "/api/v1/alerts/stream", headers=headers, timeout=20
        ) as response:
            name = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    if name == "ready":
                        ready.set()
                    else:
                        events.append({"event": name, **json.loads(line[6:])})
                    with raising:
                        if any(e.get("alert") in wanted for e in events):
                            return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)
    elsewhere = _fall(world.store, world.south, "fall-stream")  # not this responder's patch
    time.sleep(1.0)
    sent = time.monotonic()
    with raising:
        alert = _fall(world.store, world.north, "fall-stream")
        wanted.append(alert)
    thread.join(10)
    # Earlier tests' changes not yet polled when the stream opened may come first (the stream
    # promises every change after its `ready`, not only those made after it), so look for
    # this alert among the changes rather than expecting it alone.
    changed = [e["alert"] for e in events if e["event"] == "change"]
    assert alert in changed
    assert elsewhere not in changed
    assert time.monotonic() - sent < 5


def _subscribers(estate: Estate) -> float:
    text = httpx.get(estate.url + "/metrics", timeout=10).text
    found = re.search(r"^hof_dashboard_live_subscribers (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_closed_stream_ends_and_each_stream_is_audited(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.estate.accounts['south_responder'].token}"}
    with httpx.Client(base_url=world.estate.url, headers=headers, timeout=20) as client:
        before = _subscribers(world.estate)
        with client.stream("GET", "/api/v1/alerts/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            assert next(lines) == "retry: 3000"
            assert _subscribers(world.estate) == before + 1
        deadline = time.monotonic() + 5
        while _subscribers(world.estate) > before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _subscribers(world.estate) == before, "the server kept a closed stream"
    with world.estate.api("admin") as api:
        events = api.get("/api/v1/admin/audit", params={"actor": "south_responder@example.org"})
        assert any(e["action"] == "watch_alerts" for e in events.json())


@pytest.fixture(scope="module")
def alerts_worker(world: World) -> Iterator[AlertsProcess]:
    worker = AlertsProcess(world.stack.settings.state_dir, "alerts-dash-queue", **world.estate.env)
    worker.start()
    yield worker
    worker.stop()


def test_a_fall_appears_in_an_open_queue_without_a_reload(
    world: World, browser: Any, alerts_worker: AlertsProcess
) -> None:
    page = sign_in(browser, world.estate, "responder")
    page.goto("/queue")
    page.get_by_text("Live: new alerts appear here as they happen.").wait_for()
    axe_check(page)
    screenshot(page, "queue")
    page.evaluate("() => { window.__stayed = true; }")
    pendant = Device(world.stack, world.north, "tc-live")
    try:
        pendant.publish(
            "event", [{"bn": "tc-live/", "bt": time.time(), "n": "fall", "vs": "detected"}]
        )
        row = page.locator("tr", has_text="Fall detected by tc-live")
        row.wait_for(timeout=15_000)
    finally:
        pendant.close()
    assert page.evaluate("() => window.__stayed === true"), "the page reloaded"
    assert "New alert: Fall at 7 Pendant Way" in page.locator("#queue-live").inner_text()
    # Nobody has been told yet (no notifier runs here): no ladder computed from the clock.
    assert "Nobody contacted yet" in row.inner_text()
    assert "team lead" not in row.inner_text()
    screenshot(page, "queue-live-fall")
    row.get_by_role("button", name="Acknowledge").click()
    page.locator("tr", has_text="Fall detected by tc-live").get_by_text(
        "Acknowledged"
    ).first.wait_for()
    row = page.locator("tr", has_text="Fall detected by tc-live")
    row.get_by_text("Assign or resolve").click()
    row.get_by_label("Outcome").select_option("false_alarm")
    row.get_by_label("Note").fill("Helped up, no injury")
    # Another alert arrives while this one is being resolved: the rows are swapped under the
    # responder, and what they chose and typed must still be there.
    _fall(world.store, world.north, "fall-while-typing", "Fall detected by tc-2.")
    page.locator("tr", has_text="Fall detected by tc-2").wait_for()
    row = page.locator("tr", has_text="Fall detected by tc-live")
    assert row.get_by_label("Note").input_value() == "Helped up, no injury"
    assert row.get_by_label("Outcome").input_value() == "false_alarm"
    row.get_by_role("button", name="Resolve").click()
    page.locator("tr", has_text="Fall detected by tc-live").wait_for(state="detached")
    assert page.evaluate("() => window.__stayed === true")
    axe_check(page)
    page.context.close()
    (resolved,) = [
        a
        for a in world.store.list().items
        if a.home == world.north and a.evidence.get("summary") == "Fall detected by tc-live."
    ]
    assert (resolved.state.value, resolved.outcome and resolved.outcome.value) == (
        "resolved",
        "false_alarm",
    )
    history = world.store.get(resolved.id).history
    assert history[-1].detail == {"outcome": "false_alarm", "note": "Helped up, no injury"}


# Records each browser notification the page makes (Playwright cannot see the desktop's), and
# any Content-Security-Policy violation.
RECORD_NOTIFICATIONS = """
window.__notes = [];
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
if (window.Notification) {
  window.Notification = class extends window.Notification {
    constructor(title, options) {
      super(title, options);
      var o = options || {};
      window.__notes.push({ title: title, body: o.body, tag: o.tag });
    }
  };
}
"""


def test_a_new_fall_sounds_and_notifies_once_the_responder_opts_in(
    world: World, browser: Any
) -> None:
    page = sign_in(browser, world.estate, "responder")
    page.context.grant_permissions(["notifications"], origin=world.estate.url)
    page.context.add_init_script(RECORD_NOTIFICATIONS)
    page.goto("/queue")
    page.get_by_text("Live: new alerts appear here as they happen.").wait_for()
    tones = "() => Number(document.documentElement.dataset.hofToneCount || 0)"
    # Nothing sounds before the responder asks for it.
    _fall(world.store, world.north, "fall-before-optin", "Fall detected by tc-quiet.")
    page.locator("tr", has_text="Fall detected by tc-quiet").wait_for()
    assert page.evaluate(tones) == 0
    assert page.evaluate("() => window.__notes.length") == 0
    page.get_by_role("button", name="Sound and notify me of new falls").click()
    page.get_by_text("Browser notifications are on.").wait_for()
    assert page.evaluate(tones) == 1  # a sample beep on opting in
    axe_check(page)
    _fall(world.store, world.north, "fall-notified", "Fall detected by tc-notify.")
    page.locator("tr", has_text="Fall detected by tc-notify").wait_for()
    page.wait_for_function("() => window.__notes.length >= 1")
    [note] = page.evaluate("() => window.__notes")
    assert note["title"] == "New alert: Fall-notified at 7 Pendant Way"  # the rule, the home
    assert note["tag"].startswith("hof-alert-")
    assert page.evaluate(tones) == 2
    # The notifier records a text to Sam (no change to the alert itself): the stream follows
    # attempts, so the row says so within seconds, without a reload (the page polls nothing).
    notified = next(
        a.id
        for a in world.store.list().items
        if a.evidence.get("summary") == "Fall detected by tc-notify."
    )
    _attempt(world.store, notified, "notify_sms", "Sam Responder", "07700900123", "sent", "t1")
    row = page.locator("tr", has_text="Fall detected by tc-notify")
    row.get_by_text("Told Sam Responder").wait_for(timeout=10_000)
    assert "What was sent (1)" in row.inner_text()
    # A low battery is not an emergency: shown, but no sound and no notification.
    world.store.raise_or_update(
        home=world.north,
        rule="low_battery",
        rule_version=1,
        category="low_battery",
        audience="responder",
        severity="watch",
        summary="Battery low on tc-battery.",
    )
    page.locator("tr", has_text="Battery low on tc-battery").wait_for()
    assert page.evaluate(tones) == 2
    assert page.evaluate("() => window.__notes.length") == 1
    assert page.evaluate("() => window.__csp") == []  # the page's CSP still holds
    screenshot(page, "queue-alerts-on")
    page.context.close()


def test_a_fall_raised_while_the_stream_was_away_shows_when_it_reconnects(
    world: World, browser: Any
) -> None:
    page = sign_in(browser, world.estate, "responder")
    refused = threading.Event()

    def unreachable(route: Any) -> None:
        refused.set()
        route.abort()

    page.route("**/api/v1/alerts/stream", unreachable)
    page.goto("/queue")
    page.get_by_text("Reconnecting to live updates").wait_for()
    assert refused.is_set()
    _fall(world.store, world.north, "fall-while-away", "Fall detected by tc-away.")
    # Longer than the dashboard's poll: the change has gone out to the streams open then (none
    # of them this page's), so only reloading the rows on reconnection can show it.
    time.sleep(2.0)
    page.unroute("**/api/v1/alerts/stream")
    page.get_by_text("Live: new alerts appear here as they happen.").wait_for(timeout=15_000)
    page.locator("tr", has_text="Fall detected by tc-away").wait_for(timeout=5_000)
    page.context.close()


def test_officers_have_no_queue(world: World) -> None:
    with http_page(world.estate, "officer") as page:
        assert page.get("/queue", headers={"accept": "text/html"}).status_code == 403
        assert page.get("/queue/rows", headers={"accept": "text/html"}).status_code == 403
