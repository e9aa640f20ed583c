"""Through the real broker and the rules engine as a process: a cancel withdraws only a fall or
help call of the same device, sent on `event`; a tenant's answer to a check (`checkin`) ends
the open inactivity alert."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hofsupport import AlertsProcess, Device, alerts_of, open_store_in

from hof.alertstore.api import AlertStore
from hof.alertstore.vocabulary import Audience, Category, Outcome, Severity, State
from hof.settings import Settings
from hof.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cancel-store")


@pytest.fixture(scope="module")
def rules(stack: Stack, store_dir: Path) -> Iterator[AlertsProcess]:
    """A rules engine with its own alert store and share group (other modules' workers do not
    take its events), a 30 s confirm window and an hour's silence for inactivity."""
    th = store_dir / "thresholds.json"
    th.write_text(
        json.dumps({"confirm_window_s": 30.0, "inactivity_hours": 1.0, "inactivity_by_hour": None})
    )
    worker = AlertsProcess(
        stack.settings.state_dir,
        "alerts-cancel",
        HOF_ALERTS__THRESHOLDS_FILE=str(th),
        HOF_ALERTSTORE__URL=f"sqlite:///{store_dir / 'alerts.sqlite'}",
        HOF_ALERTS__SHARE_GROUP="alerts-cancel",
        HOF_ALERTS__SESSION_EXPIRY_S="0",
    )
    worker.start()
    yield worker
    if worker.proc is not None:
        worker.stop()


@pytest.fixture(scope="module")
def store(settings: Settings, rules: AlertsProcess, store_dir: Path) -> Iterator[AlertStore]:
    opened = open_store_in(settings, store_dir)
    yield opened
    opened.close()


def wait(predicate: Callable[[], Any], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def settle(rules: AlertsProcess, messages_before: float, count: int) -> None:
    """Wait until the worker has evaluated `count` more messages, and a moment to store them."""
    assert wait(
        lambda: rules.metrics().get("hof_alerts_messages_total", 0) >= messages_before + count
    ), rules.log_tail()
    time.sleep(0.5)


def test_a_cancel_from_another_device_does_not_withdraw_a_fall(
    device: Callable[[str], Device], home_id: str, store: AlertStore, rules: AlertsProcess
) -> None:
    pendant, pull_cord = device("tc-pendant"), device("tc-cord")
    t = round(time.time(), 3)
    pendant.publish("event", [{"bn": "tc-pendant/", "bt": t, "n": "fall", "vs": "detected"}])
    assert wait(lambda: alerts_of(store, home_id)), rules.log_tail()
    before = rules.metrics().get("hof_alerts_messages_total", 0)
    pull_cord.publish("event", [{"bn": "tc-cord/", "bt": t + 2, "n": "fall", "vs": "cancelled"}])
    settle(rules, before, 1)
    (alert,) = alerts_of(store, home_id)
    assert alert.state is State.OPEN, alert
    notes = [e.detail for e in store.get(alert.id).history]
    assert not any("withdrawn" in json.dumps(n) for n in notes)
    # the wearer's own pendant can withdraw it
    pendant.publish("event", [{"bn": "tc-pendant/", "bt": t + 3, "n": "fall", "vs": "cancelled"}])
    assert wait(lambda: alerts_of(store, home_id)[0].state is State.RESOLVED), rules.log_tail()
    assert alerts_of(store, home_id)[0].outcome is Outcome.WITHDRAWN


def test_when_two_pendants_fell_one_cancel_withdraws_neither(
    device: Callable[[str], Device], home_id: str, store: AlertStore, rules: AlertsProcess
) -> None:
    """Two tenants, two pendants, one open fall alert for the home (the store keeps one per
    home, rule and room): the second pendant's cancel says nothing about the first's fall."""
    first, second = device("tc-her"), device("tc-his")
    t = round(time.time(), 3)
    first.publish("event", [{"bn": "tc-her/", "bt": t, "n": "fall", "vs": "detected"}])
    assert wait(lambda: alerts_of(store, home_id)), rules.log_tail()
    before = rules.metrics().get("hof_alerts_messages_total", 0)
    second.publish("event", [{"bn": "tc-his/", "bt": t + 1, "n": "fall", "vs": "detected"}])
    settle(rules, before, 1)
    second.publish("event", [{"bn": "tc-his/", "bt": t + 2, "n": "fall", "vs": "cancelled"}])
    settle(rules, before, 2)
    (alert,) = alerts_of(store, home_id)
    assert alert.state is State.OPEN, alert
    assert alert.evidence["devices"] == ["tc-her", "tc-his"]


def test_a_cancel_on_the_reading_channel_does_not_withdraw(
    device: Callable[[str], Device], home_id: str, store: AlertStore, rules: AlertsProcess
) -> None:
    cord = device("tc-cord2")
    t = round(time.time(), 3)
    cord.publish("event", [{"bn": "tc-cord2/", "bt": t, "n": "button", "vs": "pressed"}])
    assert wait(lambda: alerts_of(store, home_id)), rules.log_tail()
    before = rules.metrics().get("hof_alerts_messages_total", 0)
    cord.publish("reading", [{"bn": "tc-cord2/", "bt": t + 1, "n": "button", "vs": "cancelled"}])
    settle(rules, before, 1)
    (alert,) = alerts_of(store, home_id)
    assert (alert.rule, alert.state) == ("help_button", State.OPEN)
    assert rules.by_label("hof_alerts_ignored_total", "why").get("cancel_not_on_event") == 1.0


def test_a_checkin_answers_the_inactivity_check_and_ends_the_alert(
    device: Callable[[str], Device], home_id: str, store: AlertStore, rules: AlertsProcess
) -> None:
    pir, pendant = device("pir-1"), device("tc-pendant3")
    now = round(time.time(), 3)
    # the last movement 2 hours ago; the home's other data has reached now: inactive
    pir.publish("reading", [{"bn": "pir-1/", "bt": now - 7200, "n": "motion", "vb": True}])
    pir.publish("reading", [{"bn": "pir-1/", "bt": now, "n": "motion", "vb": False}])
    inactivity = Category.INACTIVITY
    assert wait(lambda: alerts_of(store, home_id, inactivity), 10), rules.log_tail()
    (alert,) = alerts_of(store, home_id, inactivity)
    assert (alert.state, alert.audience, alert.severity) == (
        State.OPEN,
        Audience.RESPONDER,
        Severity.SIGNIFICANT,
    )
    # the platform asked (notice `check`); the tenant pressed the pendant: `checkin`
    pendant.publish("event", [{"bn": "tc-pendant3/", "bt": now + 1, "n": "checkin", "vb": True}])
    assert wait(lambda: alerts_of(store, home_id, inactivity)[0].state is State.RESOLVED), (
        rules.log_tail()
    )
    (alert,) = alerts_of(store, home_id, inactivity)
    assert alert.outcome is Outcome.WITHDRAWN
    last = store.get(alert.id).history[-1]
    assert "answered the check on tc-pendant3" in json.dumps(last.detail)
    # and it is activity: no new inactivity alert while the tenant is up and about
    time.sleep(1.5)
    assert len(alerts_of(store, home_id, inactivity)) == 1
