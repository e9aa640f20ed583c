"""The devices page and API: fleet health from retained status messages, scoped to patches,
filtered and paged; audited; accessible in a browser."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dash_support import *  # noqa: F403
from dash_support import Estate, axe_check, http_page, make_estate, screenshot, sign_in
from hofsupport import Device

from hof.alertstore import AlertStore
from hof.registry import HomeIn, upsert_homes
from hof.stack import Stack


@dataclass
class Fleet:
    estate: Estate
    oak: str  # North, Oak estate
    elm: str  # North, Elm estate
    far: str  # South


def _status(battery: float | None, fw: str | None = "1.3.0", state: str = "online") -> str:
    body: dict[str, Any] = {"state": state}
    if state == "online":
        body |= {"fw": fw, "battery": battery, "rssi": -70, "ts": int(time.time())}
    return json.dumps(body)


@pytest.fixture(scope="module")
def fleet(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    # No reuse of fleet scans here: each call sees the broker's latest retained messages.
    made = make_estate(
        stack, tmp_path_factory.mktemp("dash-devices"), HOF_DASHBOARD__FLEET_SCAN_S="0"
    )
    estate = next(made)
    tag = secrets.token_hex(3)
    oak, elm, far = f"DO-{tag}", f"DE-{tag}", f"DF-{tag}"
    store = AlertStore.from_settings(estate.settings)
    upsert_homes(
        store.engine,
        [
            HomeIn(id=oak, reference=f"R-{oak}", address="1 Battery Lane", estate="Oak",
                   patch="North"),
            HomeIn(id=elm, reference=f"R-{elm}", address="2 Signal Road", estate="Elm",
                   patch="North"),
            HomeIn(id=far, reference=f"R-{far}", address="3 Far Away", estate="Yew",
                   patch="South"),
        ],
    )  # fmt: skip
    store.close()
    devices = []
    for home, device, status in (
        (oak, "env-a", _status(15)),
        (oak, "env-b", _status(None, state="offline")),  # the contract's last will
        (oak, "tc-p", _status(90, fw="2.0.1")),
        (elm, "env-c", _status(5, fw="1.2.0")),
        (far, "env-d", _status(None, state="offline")),
    ):
        d = Device(stack, home, device)
        d.publish("status", status, retain=True)
        devices.append(d)
    devices[0].configure(json.dumps({"rooms": {"env-a": "kitchen"}}))
    try:
        yield Fleet(estate, oak, elm, far)
    finally:
        for d in devices:
            d.publish("status", b"", retain=True)
        devices[0].configure(b"")
        for d in devices:
            d.close()
        next(made, None)


def _fleet(f: Fleet, who: str, **params: Any) -> dict[str, Any]:
    with f.estate.api(who) as api:
        response = api.get("/api/v1/devices", params=params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _attention(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["device"], a["why"]) for a in body["attention"]]


def test_fleet_health_in_the_officers_patch(fleet: Fleet, eventually: Any) -> None:
    assert eventually(lambda: _fleet(fleet, "officer")["devices"] == 4, 15)
    body = _fleet(fleet, "officer")
    assert (body["online"], body["offline"], body["low_battery"]) == (3, 1, 2)
    assert body["firmware"] == {"1.3.0": 1, "2.0.1": 1, "1.2.0": 1, "unknown": 1}
    # Offline first, then the flattest battery; never a device of another patch.
    assert _attention(body) == [("env-b", "offline"), ("env-c", "battery"), ("env-a", "battery")]
    first = body["attention"][2]
    assert (first["address"], first["estate"], first["room"], first["battery"]) == (
        "1 Battery Lane",
        "Oak",
        "kitchen",
        15.0,
    )
    assert _attention(_fleet(fleet, "south_responder")) == [("env-d", "offline")]
    assert {"env-b", "env-d"} <= {a for a, _ in _attention(_fleet(fleet, "admin", limit=500))}


def test_filters_and_paging(fleet: Fleet, eventually: Any) -> None:
    assert eventually(lambda: _fleet(fleet, "officer")["total_attention"] == 3, 15)
    assert _attention(_fleet(fleet, "officer", why="offline")) == [("env-b", "offline")]
    assert [d for d, _ in _attention(_fleet(fleet, "officer", why="battery"))] == ["env-c", "env-a"]
    assert _attention(_fleet(fleet, "officer", estate="Elm")) == [("env-c", "battery")]
    assert _attention(_fleet(fleet, "officer", estate="Yew")) == []  # South's estate: not theirs
    page = _fleet(fleet, "officer", limit=1, offset=1)
    assert (_attention(page), page["total_attention"]) == ([("env-c", "battery")], 3)
    with fleet.estate.api("officer") as api:
        assert api.get("/api/v1/devices", params={"why": "fall"}).status_code == 422
        assert api.get("/api/v1/devices", params={"limit": 0}).status_code == 422
    with http_page(fleet.estate, "officer") as page:
        html = page.get("/devices", params={"why": "battery", "estate": "Elm"}).text
    assert "2 Signal Road" in html
    assert "1 Battery Lane" not in html
    assert "3 Far Away" not in html


def test_a_new_device_status_appears_and_a_cleared_one_goes(
    fleet: Fleet, device: Callable[..., Device], eventually: Any
) -> None:
    """A status the device publishes itself (retained) reaches the fleet; clearing it removes it."""
    fresh = device("env-new", home=fleet.elm)
    fresh.publish("status", _status(3, fw="1.4.0"), retain=True)
    try:
        assert eventually(lambda: "1.4.0" in _fleet(fleet, "officer")["firmware"], 15)
        with fleet.estate.api("officer") as api:
            home = api.get(f"/api/v1/homes/{fleet.elm}/devices").json()
        new = next(d for d in home if d["device"] == "env-new")
        assert (new["state"], new["battery"], new["firmware"]) == ("online", 3.0, "1.4.0")
    finally:
        fresh.publish("status", b"", retain=True)
    assert eventually(lambda: "1.4.0" not in _fleet(fleet, "officer")["firmware"], 15)


def test_fleet_views_are_audited(fleet: Fleet) -> None:
    _fleet(fleet, "responder", why="offline")
    with fleet.estate.api("admin") as api:
        events = api.get("/api/v1/admin/audit", params={"limit": 200}).json()
    mine = [e for e in events if e["actor"] == fleet.estate.accounts["responder"].email]
    assert any(e["action"] == "view_devices" and e["detail"] == {"why": "offline"} for e in mine)


def test_devices_page_in_a_browser(fleet: Fleet, browser: Any, eventually: Any) -> None:
    assert eventually(lambda: _fleet(fleet, "officer")["total_attention"] == 3, 15)
    page = sign_in(browser, fleet.estate, "officer")
    page.goto("/devices")
    table = page.get_by_role("table", name="3 devices offline or with battery below 20 %")
    assert table.locator("tbody tr").count() == 3
    axe_check(page)
    screenshot(page, "devices")
    page.get_by_label("Why").select_option("battery")
    page.get_by_label("Estate").select_option("Oak")
    page.get_by_role("button", name="Show devices").click()
    page.get_by_role("table", name="1 device with battery below 20 % in Oak").wait_for()
    page.get_by_role("link", name="1 Battery Lane").click()
    page.get_by_role("heading", name="1 Battery Lane").wait_for()
    devices = page.get_by_role("table", name="Installed devices", exact=False)
    assert devices.get_by_text("tc-p").is_visible()  # a telecare device's health: shown
    axe_check(page)
    page.context.close()
