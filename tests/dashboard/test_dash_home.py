"""The home page and its API: rooms now, downsampled charts, alerts by role, devices, fleet."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dash_support import *  # noqa: F403
from dash_support import Estate, axe_check, http_page, make_estate, screenshot, sign_in
from hofsupport import Device

from hof.alertstore import AlertStore
from hof.influx import InfluxClient
from hof.registry import HomeIn, upsert_homes
from hof.stack import Stack

HOUR = 3600
PIR_AT = (int(time.time()) // HOUR - 2) * HOUR * 1000  # the motion sensor's last battery report


@dataclass
class Seeded:
    estate: Estate
    north: str
    south: str


def _lines(home: str) -> list[str]:
    now = int(time.time())
    lines = []
    # A day of 5-minute readings in two rooms (CO2 in the bedroom).
    for i in range(288):
        t = (now - i * 300) * 1000
        lines.append(
            f"reading,device=env-bed,home={home},room=bedroom "
            f"temperature={17 + (i % 12) / 10},humidity={72 - (i % 5)},co2={900 + i} {t}"
        )
        lines.append(
            f"reading,device=env-bath,home={home},room=bathroom "
            f"temperature={19 + (i % 7) / 10},humidity={65 + (i % 9)} {t}"
        )
    # A year of hourly readings in the living room.
    for h in range(1, 365 * 24):
        t = (now - h * HOUR) * 1000
        lines.append(
            f"reading,device=env-liv,home={home},room=living_room "
            f"temperature={20 + (h % 24) / 12},humidity={50 + (h % 10)} {t}"
        )
    # Activity and telecare data an officer must never receive: movement as readings and
    # events, a fall event, all with the same home tag.
    for m in range(1, 30):
        t = (now - m * 60) * 1000
        lines.append(f"reading,device=tc-pir,home={home},room=hall motion=true {t}")
        lines.append(f"event,device=tc-pir,home={home},room=hall motion=true {t}")
    lines.append(f"reading,device=tc-pir,home={home},room=hall battery=77.0,rssi=-95.0 {PIR_AT}")
    lines.append(f'event,device=tc-pend,home={home} fall="detected" {(now - 600) * 1000}')
    for h in range(1, 48):
        t = (now // HOUR - h) * HOUR * 1000
        lines.append(
            f"mould,home={home},room=bedroom mould_index={2.0 - h / 100},surface_rh=88 {t}"
        )
    return lines


@pytest.fixture(scope="module")
def seeded(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    made = make_estate(stack, tmp_path_factory.mktemp("dash-home"))
    estate = next(made)
    north, south = f"HN-{secrets.token_hex(3)}", f"HS-{secrets.token_hex(3)}"
    store = AlertStore.from_settings(estate.settings)
    upsert_homes(
        store.engine,
        [
            HomeIn(id=north, reference=f"R-{north}", address="4 Chart Street", patch="North"),
            HomeIn(id=south, reference=f"R-{south}", address="5 Other Street", patch="South"),
        ],
    )
    common = {"rule_version": 1, "at": None}
    store.raise_or_update(
        home=north, rule="damp_mould", category="damp_mould", audience="housing_officer",
        severity="significant", summary="Bedroom humidity above 70 % for 14 h of 24 h.",
        evidence={"humidity": 78.0, "surface_rh": 91.5, "hours_rh_high": 14.0,
                  "mould_index": 2.1},
        room="bedroom", **common,
    )  # fmt: skip
    store.raise_or_update(
        home=north, rule="fall", category="fall", audience="responder", severity="emergency",
        summary="Fall detected by tc-pend.", **common,
    )  # fmt: skip
    store.close()

    async def write() -> None:
        async with InfluxClient(estate.settings.influx) as influx:
            lines = _lines(north)
            for i in range(0, len(lines), 5000):
                await influx.write(lines[i : i + 5000], precision="ms")

    asyncio.run(write())
    devices = [Device(stack, north, "env-bed"), Device(stack, north, "tc-pend")]
    for d, battery in zip(devices, (14, 80), strict=True):
        status = {
            "state": "online",
            "fw": "1.3.0",
            "battery": battery,
            "rssi": -71,
            "ts": time.time(),
        }
        d.publish("status", json.dumps(status), retain=True)
    devices[0].configure(json.dumps({"rooms": {"env-bed": "bedroom"}}))
    try:
        yield Seeded(estate, north, south)
    finally:
        for d in devices:
            d.publish("status", b"", retain=True)
            d.close()
        next(made, None)


def test_series_are_downsampled_with_thresholds(seeded: Seeded) -> None:
    with seeded.estate.api("officer") as api:
        day = api.get(f"/api/v1/homes/{seeded.north}/series", params={"range": "24h"}).json()
        year = api.get(f"/api/v1/homes/{seeded.north}/series", params={"range": "1y"}).json()
        assert api.get(f"/api/v1/homes/{seeded.north}/series?range=2y").status_code == 422
    assert set(day["rooms"]) == {"bedroom", "bathroom", "living_room"}
    assert 280 <= len(day["rooms"]["bedroom"]["time"]) <= 290
    bedroom = day["rooms"]["bedroom"]
    assert all(v is None or 0 < v < 20 for v in bedroom["dew_point"])
    assert max(v for v in bedroom["co2"] if v is not None) > 900
    assert len(bedroom["mould_index"]) >= 23  # hourly points within the last 24 h
    living = year["rooms"]["living_room"]
    assert 360 <= len(living["time"]) <= 367  # 8,760 hourly points become daily means
    assert year["bucket_s"] == 86400
    temperature = [t["value"] for t in year["thresholds"]["temperature"]]
    assert temperature == [18.0, 26.0]
    assert [t["value"] for t in year["thresholds"]["mould_index"]] == [1.0, 3.0]


def test_rooms_now(seeded: Seeded) -> None:
    with seeded.estate.api("officer") as api:
        rooms = api.get(f"/api/v1/homes/{seeded.north}/rooms").json()
    by_room = {r["room"]: r for r in rooms}
    assert set(by_room) == {"bedroom", "bathroom", "living_room"}
    assert by_room["bedroom"]["co2"] is not None
    assert by_room["bedroom"]["dew_point"] is not None


def test_an_officer_never_sees_the_fall(seeded: Seeded) -> None:
    with seeded.estate.api("officer") as api:
        officer = api.get(f"/api/v1/homes/{seeded.north}/alerts").json()["items"]
    with seeded.estate.api("responder") as api:
        responder = api.get(f"/api/v1/homes/{seeded.north}/alerts").json()["items"]
    with seeded.estate.api("admin") as api:
        admin = api.get(f"/api/v1/homes/{seeded.north}/alerts").json()["items"]
    assert [a["rule"] for a in officer] == ["damp_mould"]
    assert [a["rule"] for a in responder] == ["fall"]
    assert [a["rule"] for a in admin] == ["damp_mould"]  # an admin is no carer: no fall
    assert officer[0]["history"][0]["action"] == "raised"
    assert responder[0]["escalation"]["text"] == "Nobody contacted yet"  # no notifier ran
    with http_page(seeded.estate, "officer") as page:
        html = page.get(f"/homes/{seeded.north}").text
    assert "Bedroom humidity above 70" in html
    assert "Humidity at the wall surface</dt>" in html  # the rule's figures beside its words
    assert "92 %" in html
    assert "Fall" not in html
    assert "fall" not in html
    with http_page(seeded.estate, "responder") as page:
        assert "Fall detected by tc-pend" in page.get(f"/homes/{seeded.north}").text


def test_an_officer_never_gets_activity_data(seeded: Seeded) -> None:
    """Movement is in InfluxDB for this home (as readings and events): no response carries it,
    and a movement sensor's "last seen" is its last battery report, not its last movement."""
    with seeded.estate.api("officer") as api:
        bodies = [
            api.get(f"/api/v1/homes/{seeded.north}{path}").text
            for path in (
                "/rooms",
                "/series?range=24h",
                "/series?range=7d",
                "/alerts",
                "/devices",
            )
        ]
        devices = {d["device"]: d for d in api.get(f"/api/v1/homes/{seeded.north}/devices").json()}
    with http_page(seeded.estate, "officer") as page:
        bodies.append(page.get(f"/homes/{seeded.north}").text)
    for body in bodies:
        assert "motion" not in body.lower()
        assert "movement" not in body.lower()
    assert "hall" not in json.loads(bodies[1])["rooms"]  # no room made of movement alone
    pir = devices["tc-pir"]
    assert pir["kind"] == "telecare"
    assert pir["last_seen"].startswith(
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(PIR_AT / 1000))
    )
    assert (pir["battery"], pir["rssi"]) == (77.0, -65.0)  # SenML dBW shown as dBm


def test_patches_hide_homes(seeded: Seeded) -> None:
    with seeded.estate.api("officer") as api:
        for path in ("", "/series", "/alerts", "/rooms", "/devices"):
            assert api.get(f"/api/v1/homes/{seeded.south}{path}").status_code == 404
    with http_page(seeded.estate, "officer") as page:
        assert (
            page.get(f"/homes/{seeded.south}", headers={"accept": "text/html"}).status_code == 404
        )


def test_devices_from_retained_status(seeded: Seeded, eventually: Any) -> None:
    def devices(who: str) -> dict[str, dict[str, Any]]:
        with seeded.estate.api(who) as api:
            return {d["device"]: d for d in api.get(f"/api/v1/homes/{seeded.north}/devices").json()}

    assert eventually(lambda: {"env-bed", "tc-pend"} <= set(devices("officer")), 10)
    officer = devices("officer")
    env = officer["env-bed"]
    assert (env["room"], env["battery"], env["firmware"], env["state"], env["rssi"]) == (
        "bedroom",
        14.0,
        "1.3.0",
        "online",
        -71.0,
    )
    # A telecare device's existence and health are shown to everyone; its events never.
    assert (officer["tc-pend"]["kind"], officer["tc-pend"]["battery"]) == ("telecare", 80.0)
    assert devices("responder") == officer
    # Environmental devices reporting without a status message are listed from their readings.
    assert (officer["env-bath"]["state"], officer["env-bath"]["room"]) == ("online", "bathroom")
    # Last heard an hour ago and no status of its own: not claimed to be online.
    assert (officer["env-liv"]["state"], officer["env-liv"]["room"]) == ("unknown", "living_room")


def test_views_are_audited(seeded: Seeded) -> None:
    with http_page(seeded.estate, "officer") as page:
        html = page.get(f"/homes/{seeded.north}?range=7d").text
    assert "Readings over 7 days" in html  # the range links work without JavaScript
    with seeded.estate.api("officer") as api:
        api.get(f"/api/v1/homes/{seeded.north}/devices").raise_for_status()
        api.get(f"/api/v1/homes/{seeded.north}/series", params={"range": "30d"})
    with seeded.estate.api("admin") as api:
        events = api.get("/api/v1/admin/audit", params={"home": seeded.north}).json()
    officer = [e for e in events if e["actor"] == seeded.estate.accounts["officer"].email]
    assert any(e["action"] == "view_home" and e["detail"]["range"] == "7d" for e in officer)
    assert any(e["action"] == "view_devices" for e in officer)
    assert any(e["action"] == "view_readings" and e["detail"]["range"] == "30d" for e in officer)


def test_home_page_in_a_browser(seeded: Seeded, browser: Any) -> None:
    page = sign_in(browser, seeded.estate, "officer")
    page.goto(f"/homes/{seeded.north}")
    page.wait_for_selector("#charts-area canvas")
    assert page.locator("#charts-area figure").count() == 5  # temperature ... mould index
    assert page.locator("#charts-area .u-legend").first.is_visible()
    axe_check(page)
    screenshot(page, "home-page")
    # The range switch fetches the series from the API and redraws in place.
    with page.expect_response(lambda r: "/series?range=7d" in r.url and r.ok):
        page.get_by_role("link", name="7 days").click()
    page.get_by_role("heading", name="Readings over 7 days").wait_for()
    assert page.url.endswith("?range=7d#charts")
    assert page.locator("#charts-area canvas").count() >= 5
    assert (
        page.get_by_role("navigation", name="Chart range")
        .get_by_text("7 days")
        .get_attribute("aria-current")
        == "true"
    )
    page.get_by_text("Show the readings as a table").click()
    table = page.get_by_role("table", name="Lowest, mean and highest over 7 days")
    assert table.is_visible()
    assert table.locator("tbody tr").count() >= 8  # three rooms' quantities and the mould index
    axe_check(page)
    screenshot(page, "home-page-7d")
    page.go_back()
    page.get_by_role("heading", name="Readings over 24 hours").wait_for()
    page.context.close()
