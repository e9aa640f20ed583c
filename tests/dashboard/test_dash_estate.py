"""The estate overview: ranking by need, filters, search, counts, paging, patches, audit."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dash_support import *  # noqa: F403
from dash_support import Estate, axe_check, http_page, make_estate, screenshot, sign_in

from hof.alertstore import AlertStore
from hof.influx import InfluxClient
from hof.registry import HomeIn, upsert_homes
from hof.stack import Stack


def _homes() -> list[HomeIn]:
    out = []
    for i in range(120):
        patch = "North" if i % 2 == 0 else "South"
        estate = ("Oak Hill", "Beacon Court", "Riverside")[i % 3]
        out.append(
            HomeIn(
                id=f"EST-{i:04d}",
                reference=f"REF{i:05d}",
                address=f"{i + 1} {('Oak Road', 'Elm Close', 'Canal Walk')[i % 3]}, {estate}",
                postcode=f"ZZ{i % 9 + 1} {i % 10}AB",
                estate=estate,
                ward="Northfield" if i % 4 < 2 else "Harbour",
                patch=patch,
            )
        )
    return out


def _raise(
    store: AlertStore, home: str, rule: str, category: str, severity: str, **kw: Any
) -> None:
    audience = "housing_officer" if category != "fall" else "responder"
    store.raise_or_update(
        home=home,
        rule=rule,
        rule_version=1,
        category=category,
        audience=audience,
        severity=severity,
        summary=f"{rule} in {home}",
        **kw,
    )


@pytest.fixture(scope="module")
def seeded(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    made = make_estate(stack, tmp_path_factory.mktemp("dash-estate"))
    estate = next(made)
    store = AlertStore.from_settings(estate.settings)
    try:
        upsert_homes(store.engine, _homes())
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        _raise(store, "EST-0010", "damp_mould", "damp_mould", "severe", room="bedroom")
        _raise(store, "EST-0020", "damp_mould", "damp_mould", "significant", room="bathroom")
        # Raised 40 days ago: its investigation deadline has passed, so it is overdue.
        _raise(store, "EST-0030", "damp_mould", "damp_mould", "watch", room="kitchen", at=long_ago)
        _raise(
            store,
            "EST-0030",
            "damp_mould",
            "damp_mould",
            "significant",
            room="kitchen",
            at=long_ago,
        )
        _raise(store, "EST-0011", "damp_mould", "damp_mould", "emergency", room="bedroom")
        _raise(store, "EST-0040", "device_offline", "device_offline", "watch", room="env-1")
        _raise(store, "EST-0042", "fall", "fall", "emergency")
    finally:
        store.close()
    yield estate
    next(made, None)


def _wait_for_summary(estate: Estate, home: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    with estate.api("admin") as api:
        while True:
            found = api.get(f"/api/v1/homes/{home}").json()
            if found.get("need", 0) > 0 or time.monotonic() > deadline:
                return dict(found)
            time.sleep(0.3)


def test_homes_are_ranked_by_need_within_a_patch(seeded: Estate) -> None:
    assert _wait_for_summary(seeded, "EST-0030")["overdue_cases"] == 1
    with seeded.api("officer") as api:
        page = api.get("/api/v1/homes", params={"limit": 10}).json()
    ids = [h["id"] for h in page["items"]]
    # North only (even numbers): the overdue case first, then severe, significant, offline.
    assert ids[:4] == ["EST-0030", "EST-0010", "EST-0020", "EST-0040"]
    assert all(int(i[-4:]) % 2 == 0 for i in ids)
    assert page["counts"] == {
        "homes": 60,
        "with_damp_cases": 3,
        "overdue": 1,
        "high_risk": 2,
        "devices_offline": 1,
    }
    top = page["items"][0]
    assert (top["risk"], top["damp_worst"]) == ("high", "significant")


def test_a_fall_does_not_count_for_an_officer(seeded: Estate) -> None:
    _wait_for_summary(seeded, "EST-0030")
    with seeded.api("officer") as api:
        home = api.get("/api/v1/homes/EST-0042").json()
    assert home["need"] == 0.0
    assert "fall" not in str(home).lower()


def test_filters_search_and_paging(seeded: Estate) -> None:
    _wait_for_summary(seeded, "EST-0030")
    with seeded.api("admin") as api:
        oak = api.get("/api/v1/homes", params={"estate": "Oak Hill", "limit": 500}).json()
        assert oak["counts"]["homes"] == 40
        assert {h["estate"] for h in oak["items"]} == {"Oak Hill"}
        high = api.get("/api/v1/homes", params={"risk": "high"}).json()
        assert {h["id"] for h in high["items"]} == {"EST-0030", "EST-0010", "EST-0011"}
        by_ref = api.get("/api/v1/homes", params={"q": "ref00077"}).json()
        assert [h["id"] for h in by_ref["items"]] == ["EST-0077"]
        by_street = api.get("/api/v1/homes", params={"q": "canal walk", "limit": 500}).json()
        assert by_street["counts"]["homes"] == 40
        first = api.get("/api/v1/homes", params={"limit": 50, "offset": 0}).json()["items"]
        second = api.get("/api/v1/homes", params={"limit": 50, "offset": 50}).json()["items"]
        assert not {h["id"] for h in first} & {h["id"] for h in second}
        assert api.get("/api/v1/homes", params={"risk": "dire"}).status_code == 422


def test_patches_are_enforced(seeded: Estate) -> None:
    with seeded.api("officer") as api:
        assert api.get("/api/v1/homes/EST-0011").status_code == 404  # South
        assert api.get("/api/v1/homes", params={"q": "REF00011"}).json()["items"] == []
    with http_page(seeded, "responder") as page:
        assert page.get("/estate", headers={"accept": "text/html"}).status_code == 403
    with http_page(seeded, "officer") as page:
        html = page.get("/estate", params={"q": "REF00011"}).text
        assert "12 Canal Walk" not in html


def test_views_are_audited(seeded: Estate) -> None:
    with http_page(seeded, "officer") as page:
        page.get("/estate", params={"risk": "high"})
    with seeded.api("admin") as api:
        events = api.get("/api/v1/admin/audit", params={"actor": "officer@example.org"}).json()
    assert any(e["action"] == "view_estate" and e["detail"].get("risk") == "high" for e in events)


def test_a_week_of_cold_readings_counts_hours(seeded: Estate, stack: Stack) -> None:
    now = int(time.time()) // 3600 * 3600
    lines = [
        f"reading,device=env-c,home=EST-0050,room=bedroom temperature={15.0 + (h % 2) * 0.1} "
        f"{(now - h * 3600) * 1000}"
        for h in range(1, 31)
    ]

    async def write() -> None:
        async with InfluxClient(seeded.settings.influx) as influx:
            await influx.write(lines)

    import asyncio

    asyncio.run(write())
    with seeded.api("admin") as api:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            home = api.get("/api/v1/homes/EST-0050").json()
            if home["cold_hours"] >= 30:
                break
            time.sleep(0.3)
    assert home["cold_hours"] == 30
    assert home["last_reading_at"] is not None
    assert home["need"] > 0


def test_overview_in_a_browser(seeded: Estate, browser: Any) -> None:
    _wait_for_summary(seeded, "EST-0030")
    page = sign_in(browser, seeded, "officer")
    page.goto("/estate")
    rows = page.locator("table.hof-estate tbody tr")
    assert "31 Oak Road" in rows.first.inner_text()  # EST-0030, overdue
    axe_check(page)
    screenshot(page, "estate-overview")
    page.get_by_label("Risk").select_option("high")
    page.get_by_role("button", name="Show homes").click()
    assert rows.count() == 2
    page.get_by_label("Address, postcode or reference").fill("REF00010")
    page.get_by_label("Risk").select_option("")
    page.get_by_role("button", name="Show homes").click()
    assert rows.count() == 1
    link = page.get_by_role("link", name="11 Elm Close, Beacon Court")
    assert link.get_attribute("href") == "/homes/EST-0010"
    axe_check(page)
    page.goto("/estate?page=2")
    assert page.get_by_role("navigation", name="Pages of homes").is_visible()
    axe_check(page)
    page.context.close()


def test_unknown_query_parameters_are_harmless(seeded: Estate) -> None:
    with httpx.Client(base_url=seeded.url) as client:
        assert client.get("/api/v1/homes").status_code == 401
