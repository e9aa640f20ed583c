"""Care relationships: health data (falls, help calls, inactivity) follows a care relationship.

The responders of a home's patch and the responders an admin names as its carers see its falls;
a housing officer never does, and neither does an admin; every view is audited, and the admin
reviews one home's audit on its page.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from dash_support import *  # noqa: F403
from dash_support import PASSWORD, Estate, axe_check, http_page, make_estate, screenshot, sign_in

from dashboard.access import Principal, Role
from dashboard.accounts import create_token, create_user
from dashboard.live import Change
from hof.alertstore import AlertStore
from hof.registry import HomeIn, upsert_homes
from hof.stack import Stack


@dataclass
class Cared:
    estate: Estate
    store: AlertStore
    north: str  # the North responder's own patch
    cared: str  # South: the North responder and the carer are named its carers
    other: str  # South too: nobody outside South cares for it
    falls: dict[str, int]
    carer_token: str  # a responder account with no patch at all


def _fall(store: AlertStore, home: str, rule: str = "fall") -> int:
    return store.raise_or_update(
        home=home,
        rule=rule,
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall detected by tc-1.",
    ).alert.id


@pytest.fixture(scope="module")
def cared(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cared]:
    made = make_estate(stack, tmp_path_factory.mktemp("dash-carers"))
    estate = next(made)
    tag = secrets.token_hex(3)
    north, cared, other = f"CN-{tag}", f"CC-{tag}", f"CO-{tag}"
    store = AlertStore.from_settings(estate.settings)
    upsert_homes(
        store.engine,
        [
            HomeIn(id=north, reference=f"R-{north}", address="1 North Row", patch="North"),
            HomeIn(id=cared, reference=f"R-{cared}", address="2 Cared Row", patch="South"),
            HomeIn(id=other, reference=f"R-{other}", address="3 Other Row", patch="South"),
        ],
    )
    create_user(
        store.engine,
        email="carer@example.org",
        name="District Nurse",
        role=Role.RESPONDER,
        password=PASSWORD,
        patches=(),
    )
    token = create_token(store.engine, "carer@example.org", "tests")
    falls = {home: _fall(store, home) for home in (north, cared, other)}
    try:
        yield Cared(estate, store, north, cared, other, falls, token)
    finally:
        store.close()
        next(made, None)


def _carer(c: Cared) -> httpx.Client:
    return httpx.Client(
        base_url=c.estate.url, headers={"Authorization": f"Bearer {c.carer_token}"}, timeout=30
    )


def _name(c: Cared, email: str, relationship: str = "district nurse") -> httpx.Response:
    with c.estate.api("admin") as admin:
        return admin.post(
            f"/api/v1/admin/homes/{c.cared}/carers",
            json={"email": email, "relationship": relationship},
        )


def _end(c: Cared, email: str) -> httpx.Response:
    with c.estate.api("admin") as admin:
        return admin.post(f"/api/v1/admin/homes/{c.cared}/carers/end", json={"email": email})


def _listed(api: httpx.Client, **params: Any) -> set[int]:
    answer = api.get("/api/v1/alerts", params={"limit": 500, **params})
    assert answer.status_code == 200, answer.text
    return {a["id"] for a in answer.json()["items"]}


def test_a_carer_outside_the_patch_sees_that_homes_fall_and_not_anothers(cared: Cared) -> None:
    c = cared
    with _carer(c) as carer:
        assert _listed(carer) == set()  # no patch, no care relationship: nothing
        assert carer.get(f"/api/v1/homes/{c.cared}").status_code == 404
    named = _name(c, "carer@example.org")
    assert named.status_code == 200, named.text
    [row] = named.json()["carers"]
    assert (row["email"], row["recorded_by"]) == ("carer@example.org", "admin@example.org")
    assert _name(c, "carer@example.org").status_code == 409  # named once at a time
    try:
        with _carer(c) as carer:
            assert _listed(carer) == {c.falls[c.cared]}
            me = carer.get("/api/v1/me").json()
            assert (me["patches"], me["cares_for"], me["sees_health_data"]) == ([], [c.cared], True)
            assert carer.get(f"/api/v1/alerts/{c.falls[c.cared]}").status_code == 200
            assert carer.get(f"/api/v1/alerts/{c.falls[c.other]}").status_code == 404
            assert carer.get(f"/api/v1/homes/{c.cared}").status_code == 200
            assert carer.get(f"/api/v1/homes/{c.other}").status_code == 404
            alerts = carer.get(f"/api/v1/homes/{c.cared}/alerts").json()["items"]
            assert [a["id"] for a in alerts] == [c.falls[c.cared]]
            homes = carer.get("/api/v1/homes").json()["items"]
            assert [h["id"] for h in homes] == [c.cared]
            acknowledged = carer.post(f"/api/v1/alerts/{c.falls[c.cared]}/acknowledge")
            assert acknowledged.status_code == 200
            assert carer.post(f"/api/v1/alerts/{c.falls[c.other]}/acknowledge").status_code == 404
        # A responder of another patch named as a carer: their patch and that one home.
        assert _name(c, "responder@example.org", "telecare team cover").status_code == 200
        with c.estate.api("responder") as responder:
            assert _listed(responder) >= {c.falls[c.north], c.falls[c.cared]}
            assert c.falls[c.other] not in _listed(responder)
            # Asking for a patch narrows to it: the home cared for elsewhere is left out.
            assert c.falls[c.cared] not in _listed(responder, patch="North")
            assert responder.get(f"/api/v1/alerts/{c.falls[c.other]}").status_code == 404
    finally:
        _end(c, "carer@example.org")
        _end(c, "responder@example.org")
    # Ended: the next request sees nothing of the home.
    with _carer(c) as carer:
        assert carer.get(f"/api/v1/alerts/{c.falls[c.cared]}").status_code == 404
        assert carer.get(f"/api/v1/homes/{c.cared}").status_code == 404
    with c.estate.api("admin") as admin:
        history = admin.get(f"/api/v1/admin/homes/{c.cared}/carers").json()["carers"]
    assert {(h["email"], h["ended_by"]) for h in history} == {
        ("carer@example.org", "admin@example.org"),
        ("responder@example.org", "admin@example.org"),
    }


def test_an_officer_never_sees_a_fall_and_cannot_be_named(cared: Cared) -> None:
    c = cared
    refused = _name(c, "officer@example.org")
    assert refused.status_code == 409
    assert "only a responder account" in refused.json()["detail"]
    with c.estate.api("officer") as officer:
        assert not _listed(officer, state="any") & set(c.falls.values())
        assert officer.get(f"/api/v1/alerts/{c.falls[c.north]}").status_code == 404
        home = officer.get(f"/api/v1/homes/{c.north}/alerts").json()["items"]
        assert all(a["category"] != "fall" for a in home)


def test_an_admin_manages_carers_but_sees_no_fall(cared: Cared) -> None:
    c = cared
    assert _name(c, "admin@example.org").status_code == 409  # nobody names themselves
    with c.estate.api("admin") as admin:
        assert not _listed(admin, state="any") & set(c.falls.values())
        assert admin.get(f"/api/v1/alerts/{c.falls[c.north]}").status_code == 404
        assert admin.get(f"/api/v1/homes/{c.north}").status_code == 200  # the home, not its fall
        assert admin.get("/api/v1/me").json()["sees_health_data"] is False


def test_every_view_is_in_the_homes_audit(cared: Cared) -> None:
    c = cared
    assert _name(c, "carer@example.org").status_code == 200
    try:
        with _carer(c) as carer:
            carer.get(f"/api/v1/alerts/{c.falls[c.cared]}")
            carer.get(f"/api/v1/homes/{c.cared}/alerts")
            carer.get(f"/api/v1/homes/{c.cared}")
    finally:
        _end(c, "carer@example.org")
    with c.estate.api("admin") as admin:
        trail = admin.get(f"/api/v1/admin/homes/{c.cared}/audit.csv")
    rows = list(csv.DictReader(io.StringIO(trail.text)))
    by_carer = {r["action"] for r in rows if r["actor"] == "carer@example.org"}
    assert {"view_alert", "view_alerts", "view_home"} <= by_carer
    assert {"name_carer", "end_carer"} <= {r["action"] for r in rows}


def test_the_live_stream_follows_care_relationships() -> None:
    def change(home: str, patch: str) -> Change:
        return Change(1, home, patch, "raised", "fall", "responder", "emergency", "open")

    carer = Principal(1, "c@example.org", "C", Role.RESPONDER, (), "api", cares_for=("H2",))
    admin = Principal(2, "a@example.org", "A", Role.ADMIN, ("*",), "api")
    assert change("H2", "South").visible_to(carer)
    assert not change("H3", "South").visible_to(carer)
    assert not change("H2", "South").visible_to(admin)  # a fall is health data


def test_the_admin_reviews_a_homes_carers_and_audit_on_its_page(cared: Cared, browser: Any) -> None:
    c = cared
    with http_page(c.estate, "admin") as page:
        html = page.get(f"/admin/homes/{c.cared}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf is not None
        form = {"email": "carer@example.org", "relationship": "care agency"}
        forged = page.post(f"/admin/homes/{c.cared}/carers", data={**form, "csrf": "forged"})
        assert forged.status_code == 403
        named = page.post(f"/admin/homes/{c.cared}/carers", data={**form, "csrf": csrf[1]})
        assert named.status_code == 303
        shown = page.get(f"/admin/homes/{c.cared}").text
        assert "care agency" in shown
        assert "District Nurse (carer@example.org)" in shown
        bad = page.post(
            f"/admin/homes/{c.cared}/carers",
            data={"csrf": csrf[1], "email": "officer@example.org", "relationship": "x"},
        )
        assert bad.status_code == 400
        assert "only a responder account" in bad.text
    with _carer(c) as carer:
        # The carer just named views the home's fall here, not only in another test of this
        # module: the audit below must hold a view whatever order, or worker, tests run in.
        assert carer.get(f"/api/v1/alerts/{c.falls[c.cared]}").status_code == 200
    browser_page = sign_in(browser, c.estate, "admin")
    browser_page.goto("/admin")
    browser_page.get_by_label("Home id").first.fill(c.cared)
    browser_page.get_by_role("button", name="Open the home").click()
    browser_page.wait_for_url(f"**/admin/homes/{c.cared}")
    assert "View alert" in browser_page.content()  # the audit of the home, on its page
    axe_check(browser_page)
    screenshot(browser_page, "admin-home")
    browser_page.get_by_role("button", name="End carer@example.org's care relationship").click()
    assert "is no longer a carer" in browser_page.content()
    browser_page.context.close()
    with _carer(c) as carer:
        assert carer.get(f"/api/v1/homes/{c.cared}").status_code == 404


def test_a_carers_live_stream_ends_when_the_relationship_does(cared: Cared) -> None:
    c = cared
    assert _name(c, "carer@example.org").status_code == 200
    homes: list[str] = []
    ended_at = 0.0
    with (
        _carer(c) as carer,
        carer.stream("GET", "/api/v1/alerts/stream", timeout=httpx.Timeout(10, read=40)) as sse,
    ):
        deadline = time.monotonic() + 50
        for line in sse.iter_lines():
            assert time.monotonic() < deadline, "the stream did not end"
            if line.startswith("event: ready"):
                _fall(c.store, c.other, "fall-live")  # not theirs: never sent
                _fall(c.store, c.cared, "fall-live")
            elif line.startswith("data: ") and '"home"' in line:
                homes.append(json.loads(line[6:])["home"])
                if not ended_at:
                    assert _end(c, "carer@example.org").status_code == 200
                    ended_at = time.monotonic()
        took = time.monotonic() - ended_at
    assert homes == [c.cared]
    assert ended_at
    assert took < 30  # 30 polls of 0.3 s, then the next heartbeat (15 s)
