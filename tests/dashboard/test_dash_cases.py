"""Damp and mould cases: Awaab's Law clocks, overdue first, duties, the printable file."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dash_support import *  # noqa: F403
from dash_support import Estate, axe_check, http_page, make_estate, screenshot, sign_in

from hof.alertstore import AlertStore
from hof.influx import InfluxClient
from hof.registry import HomeIn, upsert_homes
from hof.stack import Stack


@dataclass
class Cases:
    estate: Estate
    store: AlertStore
    late: int
    fresh: int
    south: int
    home: str


@pytest.fixture(scope="module")
def cases(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cases]:
    made = make_estate(stack, tmp_path_factory.mktemp("dash-cases"))
    estate = next(made)
    tag = secrets.token_hex(3)
    homes = [f"CA-{tag}", f"CB-{tag}", f"CS-{tag}"]
    store = AlertStore.from_settings(estate.settings)
    upsert_homes(
        store.engine,
        [
            HomeIn(id=homes[0], reference=f"R{homes[0]}", address="1 Mould Lane", patch="North"),
            HomeIn(id=homes[1], reference=f"R{homes[1]}", address="2 Mould Lane", patch="North"),
            HomeIn(id=homes[2], reference=f"R{homes[2]}", address="3 South Row", patch="South"),
        ],
    )

    def case(home: str, at: dt.datetime | None = None) -> int:
        return store.raise_or_update(
            home=home, rule="damp_mould", rule_version=2, category="damp_mould",
            audience="housing_officer", severity="significant", room="bedroom", at=at,
            summary="Bedroom humidity above 70 % for 16 h of 24 h.",
            evidence={"values": {"rh_hours_above": 16}, "thresholds": {"rh": 70}},
        ).alert.id  # fmt: skip

    fresh = case(homes[1])
    late = case(homes[0], dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    south = case(homes[2])
    now = int(time.time())
    lines = [
        f"reading,device=env-1,home={homes[0]},room=bedroom "
        f"temperature={15 + (h % 5) / 2},humidity={75 + h % 7} {(now - h * 3600) * 1000}"
        for h in range(1, 24 * 30)
    ]

    async def write() -> None:
        async with InfluxClient(estate.settings.influx) as influx:
            await influx.write(lines)

    asyncio.run(write())
    yield Cases(estate, store, late, fresh, south, homes[0])
    store.close()
    next(made, None)


def test_overdue_cases_come_first(cases: Cases) -> None:
    with http_page(cases.estate, "officer") as page:
        html = page.get("/cases").text
    assert html.index("1 Mould Lane") < html.index("2 Mould Lane")
    assert "3 South Row" not in html
    assert "Overdue by" in html
    with http_page(cases.estate, "officer") as page:
        only = page.get("/cases", params={"overdue": "true"}).text
    assert "1 Mould Lane" in only
    assert "2 Mould Lane" not in only


def test_recording_the_investigation_starts_the_next_clocks(cases: Cases) -> None:
    with cases.estate.api("officer") as api:
        before = api.get(f"/api/v1/alerts/{cases.fresh}").json()["clocks"]
        assert before["investigation_due"] is not None
        assert before["summary_due"] is None
        after = api.post(
            f"/api/v1/alerts/{cases.fresh}/duties", json={"duty": "investigated"}
        ).json()["clocks"]
        assert after["investigation_ended_at"] is not None
        assert after["summary_due"] is not None
        twice = api.post(f"/api/v1/alerts/{cases.fresh}/duties", json={"duty": "investigated"})
        assert twice.status_code == 409


def test_responders_and_other_patches_cannot_open_cases(cases: Cases) -> None:
    with http_page(cases.estate, "responder") as page:
        assert page.get("/cases", headers={"accept": "text/html"}).status_code == 403
    with http_page(cases.estate, "officer") as page:
        assert page.get(f"/cases/{cases.south}", headers={"accept": "text/html"}).status_code == 404
        assert page.get(f"/cases/{cases.south}/print").status_code == 404


def test_closed_cases_and_a_case_view_is_audited(cases: Cases) -> None:
    kitchen = cases.store.raise_or_update(
        home=cases.home, rule="damp_mould", rule_version=2, category="damp_mould",
        audience="housing_officer", severity="watch", room="kitchen",
        summary="Kitchen humidity above 70 % for 9 h of 24 h.",
    ).alert.id  # fmt: skip
    with cases.estate.api("officer") as api:
        done = api.post(f"/api/v1/alerts/{kitchen}/resolve", json={"outcome": "fixed"})
        assert done.json()["state"] == "resolved"
    link = f'href="/cases/{kitchen}"'
    with http_page(cases.estate, "officer") as page:
        assert link not in page.get("/cases").text
        closed = page.get("/cases", params={"state": "closed"}).text
        assert link in closed
        row = closed[closed.index(link) :].split("</tr>")[0]
        assert "No legal clock" in row  # a watch-level case carries none
        assert "Kitchen humidity above 70 %" in page.get(f"/cases/{kitchen}").text
    with cases.estate.api("admin") as api:
        events = api.get("/api/v1/admin/audit", params={"actor": "officer@example.org"}).json()
    assert any(e["action"] == "view_case" and e["subject"] == f"alert {kitchen}" for e in events)
    assert any(e["action"] == "resolve" and e["subject"] == f"alert {kitchen}" for e in events)


def test_the_case_file_prints_with_its_chart_and_is_audited(cases: Cases) -> None:
    with http_page(cases.estate, "officer") as page:
        html = page.get(f"/cases/{cases.late}/print").text
    assert "<svg" in html
    assert '<title id="svg-humidity-t">Relative humidity (%) by room over 30d</title>' in html
    assert "Overdue by" in html
    with cases.estate.api("admin") as api:
        events = api.get("/api/v1/admin/audit", params={"home": cases.home}).json()
    assert any(e["action"] == "export_case" for e in events)


def test_cases_in_a_browser(cases: Cases, browser: Any) -> None:
    page = sign_in(browser, cases.estate, "officer")
    page.goto("/cases")
    axe_check(page)
    screenshot(page, "cases")
    page.get_by_role("link", name="Damp mould in the bedroom").first.click()
    page.wait_for_url(f"**/cases/{cases.late}")
    axe_check(page)
    page.get_by_role("button", name="Acknowledge").click()
    page.get_by_text("Acknowledged", exact=True).first.wait_for()
    page.get_by_label("Record a duty as done").select_option("investigated")
    page.get_by_role("button", name="Record duty").click()
    page.get_by_text("Duty recorded").wait_for()
    axe_check(page)
    screenshot(page, "case")
    page.get_by_role("link", name="Printable case file (save as PDF)").click()
    page.wait_for_selector("svg.hof-print-chart")
    axe_check(page)
    screenshot(page, "case-print")
    page.emulate_media(media="print")
    screenshot(page, "case-print-media")
    page.context.close()
    assert cases.store.get(cases.late).alert.clocks.investigation_ended_at is not None
