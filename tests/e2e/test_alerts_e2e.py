"""Through the real stack: a device's events become alerts a responder can act on, once each."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hofsupport import AlertsProcess, publish_history

from hof.alertstore.api import AlertStore
from hof.alertstore.records import AlertFilter, AlertView
from hof.alertstore.vocabulary import Category, Outcome, State
from hof.settings import Settings
from hof.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def alerts_process(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The rules engine as a process, with a 3 s offline grace so silence is quick to test,
    and one humid or cold day enough for a significant case, counted for that day only, and a
    case cleared as soon as its condition has gone: these tests are of the state a restart
    rebuilds from a day of history, not of how humid days recur or how long a clear waits
    (tests/alerts; a restart takes the days counted back from the case's evidence:
    tests/e2e/test_rules_restart.py)."""
    th = tmp_path_factory.mktemp("alerts") / "thresholds.json"
    th.write_text(
        json.dumps(
            {
                "offline_grace_s": 3.0,
                "confirm_window_s": 30.0,
                "humidity_recurs": {"watch": 1, "significant": 1},
                "humidity_days": 1,
                "cold_recurs": {"watch": 1, "significant": 1},
                "cold_days": 1,
                "case_clear_hold_h": 0.0,
                "damp_clear_hold_h": 0.0,
            }
        )
    )
    worker = AlertsProcess(
        stack.settings.state_dir, "alerts-e2e", HOF_ALERTS__THRESHOLDS_FILE=str(th)
    )
    worker.start()
    yield worker
    if worker.proc is not None:
        worker.stop()


@pytest.fixture(scope="module")
def store(settings: Settings, alerts_process: Any) -> Iterator[AlertStore]:
    opened = AlertStore.from_settings(settings)
    yield opened
    opened.close()


TELECARE = (Category.FALL, Category.BUTTON)


def alerts_of(
    store: AlertStore, home: str, categories: tuple[Category, ...] = TELECARE
) -> list[AlertView]:
    """This home's alerts of these categories (its silent devices also go offline here)."""
    where = AlertFilter(homes=[home], categories=categories)
    return list(store.list(where, limit=100).items)


def test_a_fall_becomes_one_open_alert_within_a_second(
    device: Any, home_id: str, store: AlertStore, eventually: Any
) -> None:
    pendant = device("tc-1")
    t = round(time.time(), 3)
    sent = time.monotonic()
    pendant.publish("event", [{"bn": "tc-1/", "bt": t, "n": "fall", "vs": "detected"}])
    assert eventually(lambda: alerts_of(store, home_id), 5)
    latency = time.monotonic() - sent
    assert latency < 1.0, f"{latency:.2f} s"
    (alert,) = alerts_of(store, home_id)
    assert (alert.rule, alert.state, alert.severity.value) == ("fall", State.OPEN, "emergency")
    assert alert.evidence["summary"] == "Fall detected by tc-1."
    assert alert.evidence["time"] == t


def test_a_duplicate_delivery_does_not_make_two(
    device: Any, home_id: str, store: AlertStore, eventually: Any, alerts_process: Any
) -> None:
    pendant = device("tc-2")
    pack = [{"bn": "tc-2/", "bt": time.time(), "n": "button", "vs": "pressed"}]
    before = alerts_process.metrics().get("hof_alerts_messages_total", 0)
    pendant.publish("event", pack)
    pendant.publish("event", pack)
    assert eventually(
        lambda: alerts_process.metrics().get("hof_alerts_messages_total", 0) >= before + 2
    )
    time.sleep(0.3)
    assert len(alerts_of(store, home_id)) == 1


def test_a_cancel_withdraws_it(
    device: Any, home_id: str, store: AlertStore, eventually: Any
) -> None:
    pendant = device("tc-3")
    now = time.time()
    pendant.publish("event", [{"bn": "tc-3/", "bt": now, "n": "fall", "vs": "detected"}])
    assert eventually(lambda: alerts_of(store, home_id))
    pendant.publish("event", [{"bn": "tc-3/", "bt": now + 4, "n": "fall", "vs": "cancelled"}])
    assert eventually(lambda: alerts_of(store, home_id)[0].state is State.RESOLVED)
    (alert,) = alerts_of(store, home_id)
    assert alert.outcome is Outcome.WITHDRAWN
    history = [entry.action.value for entry in store.get(alert.id).history]
    assert history[0] == "raised"
    assert history[-1] == "withdrawn"


def test_an_offline_device_raises_and_then_clears(
    device: Any, home_id: str, store: AlertStore, eventually: Any
) -> None:
    env = device("env-9")
    env.publish("reading", [{"bn": "env-9/", "n": "temperature", "v": 19.0}])
    # silence: the grace is 3 s and the worker checks every 0.5 s
    offline = (Category.DEVICE_OFFLINE,)
    assert eventually(lambda: alerts_of(store, home_id, offline), 8)
    (alert,) = alerts_of(store, home_id, offline)
    assert (alert.rule, alert.room, alert.state) == ("device_offline", "env-9", State.OPEN)
    assert "has sent nothing for" in alert.evidence["summary"]
    env.publish("reading", [{"bn": "env-9/", "n": "temperature", "v": 19.5}])
    assert eventually(lambda: alerts_of(store, home_id, offline)[0].state is State.RESOLVED)
    assert alerts_of(store, home_id, offline)[0].outcome is Outcome.CLEARED


def test_restart_neither_loses_nor_duplicates(
    device: Any, home_id: str, store: AlertStore, eventually: Any, alerts_process: Any
) -> None:
    pendant = device("tc-4")
    t0 = time.time()
    pendant.publish("event", [{"bn": "tc-4/", "bt": t0, "n": "fall", "vs": "detected"}])
    assert eventually(lambda: len(alerts_of(store, home_id)) == 1)
    alerts_process.kill()
    # while it is down: a redelivery of the same fall, and a new help call
    pendant.publish("event", [{"bn": "tc-4/", "bt": t0, "n": "fall", "vs": "detected"}])
    pendant.publish("event", [{"bn": "tc-4/", "bt": t0 + 5, "n": "button", "vs": "pressed"}])
    alerts_process.start()
    assert eventually(lambda: len(alerts_of(store, home_id)) == 2, 15)
    time.sleep(1.0)
    assert sorted(a.rule for a in alerts_of(store, home_id)) == ["fall", "help_button"]


def test_worker_log_explains_each_finding(alerts_process: Any) -> None:
    lines = [
        json.loads(x)
        for x in Path(alerts_process.log_path).read_text().splitlines()
        if x.startswith("{")
    ]
    findings = [x for x in lines if x.get("event") == "finding"]
    assert findings
    assert all({"rule", "action", "home", "summary"} <= set(x) for x in findings)


def test_a_cold_damp_bedroom_becomes_a_case_and_a_restart_rebuilds_its_state(
    device: Any,
    home_id: str,
    store: AlertStore,
    eventually: Any,
    alerts_process: Any,
    ingest_process: Any,
    query: Any,
) -> None:
    """20 h of a bedroom at 14 °C / 80 %: damp and cold cases. The worker is then killed, the
    room dries out for 26 h while it is down, and on restart only the history it rebuilds from
    InfluxDB can tell it so: both cases clear."""
    env = device("env-bed")
    env.configure(json.dumps({"rooms": {"env-bed": "bedroom"}}))
    time.sleep(0.5)  # both workers learn the room from the retained config
    now = time.time()
    publish_history(env, now - 46 * 3600, 20, temperature=14.0, humidity=80.0)
    damp_cold = (Category.DAMP_MOULD, Category.COLD)

    def damp_case() -> AlertView | None:
        found = [a for a in alerts_of(store, home_id, damp_cold) if a.rule == "damp_mould"]
        return found[0] if found and found[0].severity.value != "watch" else None

    assert eventually(lambda: damp_case() is not None, 20)
    assert len(alerts_of(store, home_id, damp_cold)) == 2
    damp = damp_case()
    assert damp is not None
    assert damp.room == "bedroom"
    assert damp.state is State.OPEN
    assert damp.clocks.investigation_due is not None  # Awaab's Law clocks started
    # The band held (18 h or more: a day counted after midnight UTC notes the hours of that
    # reading on the case, 19.8 h at 02:18 UTC; the figure depends on the hour the test runs).
    held = re.search(r"Bedroom humidity above 75 % for (\d+\.\d)", damp.evidence["summary"])
    assert held is not None, damp.evidence["summary"]
    assert float(held.group(1)) >= 18.0, damp.evidence["summary"]

    alerts_process.kill()
    publish_history(env, now - 26 * 3600, 26, temperature=21.0, humidity=50.0)

    def stored() -> int:
        q = f"SELECT count(humidity) FROM reading WHERE home = '{home_id}' AND room = 'bedroom'"
        series = query(q)
        return int(series[0]["values"][0][1]) if series else 0

    assert eventually(lambda: stored() == 46 * 12), stored()
    alerts_process.start()  # rebuilds 25 h of windows from InfluxDB, then reconciles
    after = alerts_of(store, home_id, damp_cold)
    assert len(after) == 2
    assert all(a.state is State.RESOLVED and a.outcome is Outcome.CLEARED for a in after)
    history = [e.action.value for e in store.get(damp.id).history]
    assert history[0] == "raised"
    assert history[-1] == "cleared"


def test_the_mould_index_so_far_survives_a_restart(
    device: Any,
    home_id: str,
    store: AlertStore,
    eventually: Any,
    alerts_process: Any,
    ingest_process: Any,
    query: Any,
) -> None:
    """30 days of a damp bedroom arrive while the rules engine is down; on start it integrates
    the hourly history from InfluxDB (all rooms at once) and the case carries the index."""
    env = device("env-mould")
    env.configure(json.dumps({"rooms": {"env-mould": "bedroom"}}))
    # The home's outdoor sensor: the wall surface is estimated from it (no guessed figure).
    out = device("out-1")
    out.configure(json.dumps({"rooms": {"out-1": "outdoor"}}))
    time.sleep(0.5)
    alerts_process.kill()
    start = time.time() - 30 * 86400
    hours = 30 * 24
    for first in range(0, hours, 100):
        pack: list[dict[str, Any]] = []
        outside: list[dict[str, Any]] = []
        for h in range(first, min(first + 100, hours)):
            t = start + h * 3600
            pack.append({"n": "temperature", "u": "Cel", "v": 20.0, "t": t})
            pack.append({"n": "humidity", "u": "%RH", "v": 85.0, "t": t})
            outside.append({"n": "temperature", "u": "Cel", "v": 5.0, "t": t})
        pack[0]["bn"] = "env-mould/"
        outside[0]["bn"] = "out-1/"
        env.publish("reading", pack)
        out.publish("reading", outside)

    def stored() -> int:
        series = query(f"SELECT count(humidity) FROM reading WHERE home = '{home_id}'")
        return int(series[0]["values"][0][1]) if series else 0

    assert eventually(lambda: stored() == hours), stored()
    alerts_process.start()
    damp = [a for a in alerts_of(store, home_id, (Category.DAMP_MOULD,))]
    assert len(damp) == 1
    assert damp[0].severity.value == "severe"  # M >= 3: visible mould by the model
    assert damp[0].evidence["mould_index"] >= 3.0
    assert "mould index" in damp[0].evidence["summary"]
    # ISO 13788's month of the wall, taken back from the same rebuilt history: about 100 %.
    assert damp[0].evidence["surface_month_days"] >= 29
    assert damp[0].evidence["surface_month_rh"] >= 95.0
    days = damp[0].evidence["surface_month_days"]
    assert (
        f"wall surface RH averaging 100 % over the last {days} days (ISO 13788"
        in (damp[0].evidence["summary"])
    )

    # The rebuilt index reaches InfluxDB for the dashboard, without waiting for a new hour.
    def mould_points() -> list[Any]:
        series = query(f"SELECT mould_index FROM mould WHERE home = '{home_id}'")
        return list(series[0]["values"]) if series else []

    assert eventually(lambda: any(row[1] >= 3.0 for row in mould_points()), 15)


def test_the_mould_index_is_written_hourly_for_the_dashboard(
    device: Any,
    home_id: str,
    eventually: Any,
    alerts_process: Any,
    query: Any,
) -> None:
    """Each clock hour a room's mould model steps, a point lands in `mould` at that hour."""
    env = device("env-mould")
    env.configure(json.dumps({"rooms": {"env-mould": "bathroom"}}))
    time.sleep(0.5)
    start = (time.time() // 3600 - 5) * 3600
    publish_history(env, start, 4.5, temperature=16.0, humidity=90.0)

    def points() -> list[Any]:
        series = query(f"SELECT mould_index, surface_rh FROM mould WHERE home = '{home_id}'")
        return list(series[0]["values"]) if series else []

    # Four complete hours step the model four times; each point is at its hour's start.
    assert eventually(lambda: len(points()) == 4, 15), points()
    stamps = [row[0] for row in points()]
    assert stamps == [int(start + h * 3600) * 1000 for h in range(4)]
    assert all(row[2] > 80 for row in points())  # the cold surface is damper than the air
