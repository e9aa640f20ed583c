"""Administration: accounts, API tokens, homes import, the audit log, a home's consent form;
admins only."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from dash_support import *  # noqa: F403
from dash_support import Estate, axe_check, http_page, screenshot, sign_in
from hofsupport import Watcher, wait_until

from hof.alertstore import make_engine, store_url


def test_only_admins_reach_admin(estate: Estate) -> None:
    for who in ("officer", "responder"):
        with estate.api(who) as api:
            assert api.get("/api/v1/admin/users").status_code == 403
            assert api.get("/api/v1/admin/audit").status_code == 403
            assert api.post("/api/v1/admin/homes", json=[]).status_code == 403
        with http_page(estate, who) as page:
            assert page.get("/admin", headers={"accept": "text/html"}).status_code == 403


def test_homes_are_upserted_by_the_api_and_bad_rows_refused(estate: Estate) -> None:
    home = {"id": "ADM-1", "reference": "REF-ADM-1", "address": "1 Test Street", "patch": "North"}
    with estate.api("admin") as api:
        assert api.post("/api/v1/admin/homes", json=[home]).json() == {"written": 1}
        moved = {**home, "address": "1 Test Street, Flat A"}
        assert api.post("/api/v1/admin/homes", json=[moved]).json() == {"written": 1}
        bad = api.post("/api/v1/admin/homes", json=[{**home, "id": "no/slash"}])
        assert bad.status_code == 422
        assert "valid topic id" in bad.text


def test_accounts_and_tokens_through_the_pages(estate: Estate) -> None:
    with http_page(estate, "admin") as page:
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.get("/admin").text)
        assert csrf is not None
        form = {
            "csrf": csrf.group(1),
            "email": "New.Officer@Example.org",
            "name": "New Officer",
            "role": "housing_officer",
            "patches": "South, East",
            "password": "short",
        }
        refused = page.post("/admin/users", data=form)
        assert refused.status_code == 400
        assert "at least 12 characters" in refused.text
        added = page.post("/admin/users", data={**form, "password": "a long enough password"})
        assert added.status_code == 303
        made = page.post(
            "/admin/tokens",
            data={"csrf": csrf.group(1), "email": "new.officer@example.org", "name": "CRM"},
        )
        token = re.search(r'<code id="new-token">(hof_[^<]+)</code>', made.text)
        assert token is not None
    with httpx.Client(
        base_url=estate.url, headers={"Authorization": f"Bearer {token.group(1)}"}
    ) as api:
        me = api.get("/api/v1/me").json()
        assert (me["email"], me["patches"]) == ("new.officer@example.org", ["South", "East"])
    with http_page(estate, "admin") as page:
        prefix = token.group(1)[:10]
        page.post("/admin/tokens/revoke", data={"csrf": csrf_of(page), "prefix": prefix})
    with httpx.Client(
        base_url=estate.url, headers={"Authorization": f"Bearer {token.group(1)}"}
    ) as api:
        assert api.get("/api/v1/me").status_code == 401


def csrf_of(page: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.get("/admin").text)
    assert found is not None
    return found.group(1)


def test_a_disabled_account_is_signed_out_at_once(estate: Estate) -> None:
    with estate.api("admin") as api:
        created = api.post(
            "/api/v1/admin/users",
            json={
                "email": "leaver@example.org",
                "role": "responder",
                "patches": ["North"],
                "password": "a long enough password",
            },
        )
        assert created.status_code == 201
    with httpx.Client(base_url=estate.url, follow_redirects=False) as leaver:
        signed = leaver.post(
            "/sign-in", data={"email": "leaver@example.org", "password": "a long enough password"}
        )
        assert signed.status_code == 303
        assert leaver.get("/api/v1/me").status_code == 200
        with http_page(estate, "admin") as page:
            page.post(
                "/admin/users/active",
                data={"csrf": csrf_of(page), "email": "leaver@example.org", "active": "no"},
            )
        assert leaver.get("/api/v1/me").status_code == 401


def test_audit_log_is_written_and_append_only(estate: Estate) -> None:
    with http_page(estate, "officer"):
        pass
    with estate.api("admin") as api:
        events = api.get("/api/v1/admin/audit", params={"actor": "officer@example.org"}).json()
    assert any(e["action"] == "sign_in" and e["via"] == "page" for e in events)
    engine = make_engine(store_url(estate.settings))
    try:
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_event SET actor = 'someone else'"))
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_event"))
    finally:
        engine.dispose()


def test_admin_page_in_a_browser(estate: Estate, browser: Any, tmp_path: Any) -> None:
    page = sign_in(browser, estate, "admin")
    page.goto("/admin")
    csv = tmp_path / "homes.csv"
    csv.write_text(
        "id,reference,address,postcode,estate,ward,patch,telecare\n"
        "CSV-1,REF-CSV-1,2 Import Row,zz1 1aa,Oak Hill,Northfield,North,yes\n"
    )
    page.get_by_label("Import or update homes from a CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Import homes").click()
    assert "Imported 1 homes" in page.content()
    axe_check(page)
    screenshot(page, "admin")
    page.context.close()


def test_consent_recorded_on_a_homes_page_reaches_the_services(
    estate: Estate, watcher: Callable[[str], Watcher], browser: Any
) -> None:
    home = {"id": "ADM-CONSENT", "reference": "REF-ADM-C", "address": "7 Consent Way"}
    with estate.api("admin") as api:
        assert api.post("/api/v1/admin/homes", json=[home]).status_code == 200
    published = watcher("hof/consent/ADM-CONSENT")
    path = "/admin/homes/ADM-CONSENT"
    with http_page(estate, "admin") as page:
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.get(path).text)
        assert csrf is not None
        form = {"stream": "activity", "granted": "yes", "basis": "consent", "note": "form 7"}
        assert page.post(f"{path}/consent", data={**form, "csrf": "forged"}).status_code == 403
        bad = page.post(f"{path}/consent", data={**form, "stream": "dreams", "csrf": csrf[1]})
        assert bad.status_code == 400
        assert "Choose the data stream" in bad.text
        done = page.post(f"{path}/consent", data={**form, "csrf": csrf[1]})
        assert done.status_code == 303, done.text
        assert "Consent%20to%20activity%20given" in done.headers["location"]
        assert "form 7" in page.get(path).text
    # The same registry function as the API: recorded under the admin, audited, published.
    with estate.api("admin") as api:
        state = api.get("/api/v1/admin/homes/ADM-CONSENT/consent").json()
        events = api.get("/api/v1/admin/audit", params={"home": "ADM-CONSENT"}).json()
    assert state["current"] == {"activity": True}
    assert state["history"][-1]["recorded_by"] == "admin@example.org"
    assert "consent" in {e["action"] for e in events}
    assert wait_until(lambda: bool(published.messages), 10)
    assert json.loads(published.messages[-1][1])["streams"] == {"activity": True}

    # In a browser: withdraw it with the form, the history shows both; axe finds nothing.
    tab = sign_in(browser, estate, "admin")
    tab.goto(path)
    tab.get_by_label("Data stream").select_option("activity")
    tab.get_by_label("Withdrawn").check()
    tab.get_by_role("button", name="Record the decision").click()
    tab.wait_for_url(f"**{path}?done=*")
    assert "Consent to activity withdrawn" in tab.content()
    assert tab.locator("table").first.locator("tbody tr").count() == 2
    axe_check(tab)
    screenshot(tab, "admin-home-consent")
    tab.context.close()
    assert wait_until(
        lambda: json.loads(published.messages[-1][1])["streams"] == {"activity": False}, 10
    )
