"""The rules engine tells the notifier of a raised alert on a platform-only MQTT topic, and the
notifier acts on it without waiting for its poll; devices can neither read nor forge it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import ClassVar

import pytest
from hofsupport import AlertsProcess, Device, ServiceProcess, Watcher, fall_request, wait_until

from hof.alertstore import AlertStore, Category, make_engine, migrate
from hof.alertstore.raised import RaisedAlert, parse_raised, raised_topic
from hof.alertstore.records import AlertFilter
from hof.stack import Stack
from tests.notify.notify_support import Hook, open_hook

pytestmark = pytest.mark.e2e


class NotifyProcess(ServiceProcess):
    service: ClassVar[str] = "notify"
    # A poll far longer than any wait here: only the raised message can wake it in time.
    defaults: ClassVar[dict[str, str]] = {"HOF_NOTIFY__POLL_S": "600", "HOF_NOTIFY__LEASE_S": "5"}


@pytest.fixture(scope="module")
def store_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("raised")
    return {"HOF_ALERTSTORE__URL": f"sqlite:///{root / 'alerts.sqlite3'}"}


@pytest.fixture(scope="module")
def store(store_env: dict[str, str]) -> Iterator[AlertStore]:
    url = store_env["HOF_ALERTSTORE__URL"]
    migrate(url)
    opened = AlertStore(make_engine(url))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    opened = open_hook()
    yield opened
    opened.close()


def test_the_parser_takes_only_a_well_formed_message() -> None:
    body = RaisedAlert(id=7, home="H-1", category=Category.FALL, action="raised")
    payload = body.model_dump_json().encode()
    assert parse_raised(raised_topic(7), payload) == body
    assert parse_raised(raised_topic(8), payload) is None  # topic and body disagree
    assert parse_raised("hof/v1/H-1/pendant/event", payload) is None
    assert parse_raised(raised_topic(7), b"{") is None
    assert parse_raised(raised_topic(7), b" " * 5000) is None
    assert parse_raised(raised_topic(7), json.dumps({"id": 7}).encode()) is None


def test_a_raised_fall_is_told_once_on_the_platform_topic(
    stack: Stack,
    store_env: dict[str, str],
    store: AlertStore,
    device: Callable[[str], Device],
    watcher: Callable[[str], Watcher],
    home_id: str,
) -> None:
    told = watcher("hof/platform/alerts/+")
    worker = AlertsProcess(stack.settings.state_dir, "alerts-raised", **store_env)
    worker.start()

    def ours() -> list[RaisedAlert | None]:
        # Other tests' devices on the shared broker may raise alerts (offline, battery) too.
        found = [parse_raised(t, p) for t, p in list(told.messages)]
        return [r for r in found if r is None or r.home == home_id]

    try:
        pendant = device("pendant-1")
        pack = [{"bn": "pendant-1/", "bt": time.time(), "n": "fall", "vs": "detected"}]
        pendant.publish("event", pack)
        assert wait_until(lambda: len(ours()) >= 1, 15), worker.log_tail()
        (alert,) = store.list(AlertFilter(homes=[home_id])).items
        assert ours() == [
            RaisedAlert(id=alert.id, home=home_id, category=Category.FALL, action="raised")
        ]
        # The same event again (a redelivery) and a second fall while it is open: no new alert,
        # so nothing more is told.
        pendant.publish("event", pack)
        pack2 = [{"bn": "pendant-1/", "bt": time.time(), "n": "fall", "vs": "detected"}]
        pendant.publish("event", pack2)
        assert wait_until(lambda: worker.metrics().get("hof_alerts_messages_total", 0) >= 3, 15), (
            worker.log_tail()
        )
        time.sleep(0.5)
        assert len(ours()) == 1, told.messages
    finally:
        worker.stop()


@contextlib.contextmanager
def own_notifier(
    stack: Stack, tmp_path: Path, client_id: str, webhook: str, **env: str
) -> Iterator[tuple[AlertStore, NotifyProcess]]:
    """A notifier process on a store of its own (no other alert's timers), and that store."""
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    migrate(url)
    store = AlertStore(make_engine(url))
    notifier = NotifyProcess(
        stack.settings.state_dir,
        client_id,
        HOF_NOTIFY__WEBHOOK_URL=webhook,
        HOF_NOTIFY__HTTP_PORT="0",
        HOF_ALERTSTORE__URL=url,
        **env,
    )
    notifier.start()
    try:
        yield store, notifier
    finally:
        notifier.stop()
        store.close()


def raise_fall(store: AlertStore, home: str, device: str) -> int:
    """A fall raised in the store as the rules engine raises one; its id."""
    return store.raise_or_update(**asdict(fall_request(home, time.time(), device))).alert.id


def posted(hook: Hook, home: str) -> list[str]:
    return [p.json()["home"] for p in hook.posts("/alert") if p.json()["home"] == home]


def test_the_notifier_sends_on_the_raised_message_not_its_poll(
    stack: Stack,
    hook: Hook,
    watcher: Callable[[str], Watcher],
    tmp_path: Path,
) -> None:
    """The store's alert alone (no MQTT event, a 10-minute poll, the store's own watch off) is
    sent only when told."""
    webhook = f"{hook.url}/alert"
    with own_notifier(
        stack, tmp_path, "notify-raised", webhook, HOF_NOTIFY__WATCH_STORE="false"
    ) as (store, notifier):
        alert_id = raise_fall(store, "RAISED-2", "pendant-9")
        time.sleep(1.0)  # its first round is long done: nothing polls for 10 minutes
        assert posted(hook, "RAISED-2") == []
        platform = watcher("hof/platform/alerts/+").client
        body = RaisedAlert(id=alert_id, home="RAISED-2", category=Category.FALL, action="raised")
        platform.publish(raised_topic(alert_id), body.model_dump_json(), qos=1)
        assert wait_until(lambda: posted(hook, "RAISED-2") == ["RAISED-2"], 15), notifier.log_tail()


def test_the_notifier_hears_a_raised_alert_from_the_store_itself(
    stack: Stack, hook: Hook, tmp_path: Path
) -> None:
    """On SQLite the store's own commit is heard (notify/storewatch.py): no MQTT message, a
    10-minute poll, and the first level still goes out within a second or two."""
    with own_notifier(stack, tmp_path, "notify-store-watch", f"{hook.url}/alert") as (
        store,
        notifier,
    ):
        time.sleep(0.5)  # its first round is done: nothing polls for 10 minutes
        began = time.monotonic()
        raise_fall(store, "WATCH-1", "pendant-3")
        assert wait_until(lambda: posted(hook, "WATCH-1") == ["WATCH-1"], 10), notifier.log_tail()
        assert time.monotonic() - began < 5.0
        time.sleep(1.0)
        assert posted(hook, "WATCH-1") == ["WATCH-1"]  # once


def test_a_device_can_neither_read_nor_forge_a_raised_alert(
    device: Callable[[str], Device],
    watcher: Callable[[str], Watcher],
) -> None:
    platform = watcher("hof/platform/alerts/+")
    spy = device("spy-1")
    heard: list[str] = []
    subscribed = threading.Event()
    spy.client.on_message = lambda c, u, m: heard.append(m.topic)
    spy.client.on_subscribe = lambda *a: subscribed.set()
    spy.client.subscribe([("hof/platform/alerts/#", 1), ("hof/platform/#", 1), ("#", 1)])
    assert subscribed.wait(5)
    # MQTT 3.1.1 cannot refuse a publish: Mosquitto acknowledges it and drops it.
    forged = RaisedAlert(id=1, home="X", category=Category.FALL, action="raised")
    spy.client.publish(raised_topic(1), forged.model_dump_json(), qos=1).wait_for_publish(5)
    real = RaisedAlert(id=2, home="Y", category=Category.FALL, action="raised")
    platform.client.publish(raised_topic(2), real.model_dump_json(), qos=1).wait_for_publish(5)
    assert wait_until(lambda: raised_topic(2) in [t for t, _ in platform.messages], 5)
    time.sleep(0.5)
    assert [t for t, _ in platform.messages] == [raised_topic(2)]
    assert not [t for t in heard if t.startswith("hof/platform/")], heard
