"""Issue 11, items 2 and 9: retained device input can neither crash a service nor be stored."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from hofsupport import AlertsProcess, IngestProcess
from paho.mqtt.enums import CallbackAPIVersion

from hof.settings import Settings
from hof.stack import Stack

pytestmark = pytest.mark.e2e

Query = Callable[[str], list[dict[str, Any]]]
NESTED = b'{"rooms":' + b"[" * 6000  # 6 KB: RecursionError in json, before the fix


class Platform:
    """A publisher with the platform's credential (devices may not publish `config`)."""

    def __init__(self, settings: Settings) -> None:
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311
        )
        assert settings.mqtt.password is not None
        self.client.username_pw_set(
            settings.mqtt.username, settings.mqtt.password.get_secret_value()
        )
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        self.client.connect(settings.mqtt.host, settings.mqtt.port)
        self.client.loop_start()
        assert connected.wait(10)
        self.retained: set[str] = set()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        if retain:
            self.retained.add(topic)

    def close(self) -> None:
        for topic in self.retained:  # no later subscriber of the session may see them
            self.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    made = Platform(settings)
    yield made
    made.close()


def _stored(query: Query, home: str) -> list[Any]:
    return [
        v
        for m in ("reading", "event")
        for s in query(f"SELECT * FROM {m} WHERE \"home\"::tag = '{home}'")
        for v in s["values"]
    ]


@pytest.mark.usefixtures("ingest_process")
def test_a_reading_published_retained_is_refused_not_stored(
    device: Any, watcher: Any, home_id: str, query: Query, eventually: Any, platform: Platform
) -> None:
    """Published live with the retain flag, a reading used to be stored (the broker clears the
    flag on live delivery unless the subscriber asks for Retain As Published)."""
    env = device("env-r")
    letters = watcher(f"hof/v1/{home_id}/+/deadletter")
    platform.retained.add(env.topic("reading"))
    platform.retained.add(env.topic("event"))
    env.publish("reading", [{"n": "co2", "u": "ppm", "v": 700}], retain=True)
    env.publish("event", [{"n": "leak", "vb": True}], retain=True)
    assert eventually(lambda: len(letters.messages) == 2)
    assert [(g["reason"], g["topic"].rsplit("/", 1)[1]) for g in letters.json()] == [
        ("retained", "reading"),
        ("retained", "event"),
    ]
    env.publish("reading", [{"n": "co2", "u": "ppm", "v": 701}])  # the same, not retained
    assert eventually(lambda: len(_stored(query, home_id)) == 1)
    # By name: `SELECT *` orders columns by name, and other tests' fields come first.
    co2 = query(f"SELECT co2 FROM reading WHERE \"home\"::tag = '{home_id}'")
    assert [row[1] for row in co2[0]["values"]] == [701.0]


def test_nested_retained_config_and_status_cannot_crash_the_services(
    stack: Stack,
    settings: Settings,
    device: Any,
    watcher: Any,
    home_id: str,
    query: Query,
    eventually: Any,
    platform: Platform,
) -> None:
    """The crash loop: 6 KB of nesting retained on `config` raised RecursionError in ingest and
    the rules engine at every start. Both now start, dead-letter it once and carry on."""
    env = device("env-1")
    letters = watcher(f"hof/v1/{home_id}/+/deadletter")
    platform.publish(env.topic("config"), NESTED, retain=True)
    platform.publish(
        f"hof/v1/{home_id}/env-2/config",
        json.dumps({"rooms": {"env-2": "a\nb"}}).encode(),
        retain=True,
    )
    platform.retained.add(env.topic("status"))
    env.publish("status", b'{"state":' + b"[" * 3000, retain=True)

    fresh = {"HOF_INGEST__SESSION_EXPIRY_S": "0", "HOF_ALERTS__SESSION_EXPIRY_S": "0"}
    ingest = IngestProcess(stack.settings.state_dir, f"ingest-{home_id}", **fresh)
    alerts = AlertsProcess(
        stack.settings.state_dir,
        f"alerts-{home_id}",
        HOF_ALERTS__SHARE_GROUP=f"g{home_id}",
        HOF_ALERTS__HISTORY_HOURS="0",
        HOF_ALERTS__MOULD_HISTORY_DAYS="0",
        **fresh,
    )
    ingest.start()
    try:
        alerts.start()
        try:
            # Each refused once, by the service that owns it: the config by ingest (every
            # worker reads configs; the session's own worker does too), the status by alerts.
            def reasons() -> set[tuple[str, str, str]]:
                return {(g["reason"], g["service"], g["topic"]) for g in letters.json()}

            wanted = {
                ("not_json", "ingest", env.topic("config")),
                ("not_json", "alerts", env.topic("status")),
            }
            ok = eventually(lambda: wanted <= reasons())
            assert ok, (reasons(), ingest.log_tail(), alerts.log_tail())
            assert ingest.by_label("hof_ingest_configs_total", "reason").get("not_json", 0) >= 1
            assert alerts.by_label("hof_alerts_configs_total", "reason").get("not_json", 0) >= 1
            assert alerts.by_label("hof_alerts_ignored_total", "why").get("not_json", 0) >= 1

            # Both still up and working: a reading is stored, with no room from the bad ones.
            # Timed: the session's own ingest worker (a plain subscription too) may store it
            # as well, and a record without a time would take each worker's receipt time.
            env.publish("reading", [{"bt": time.time(), "n": "temperature", "u": "Cel", "v": 18.5}])
            assert eventually(lambda: len(_stored(query, home_id)) == 1)
            series = query(f"SELECT * FROM reading WHERE \"home\"::tag = '{home_id}' GROUP BY *")
            assert series[0]["tags"].get("room", "") == ""
            measurements = {v[0] for s in query("SHOW MEASUREMENTS") for v in s["values"]}
            assert not any("\n" in m for m in measurements)
            assert ingest.proc is not None
            assert ingest.proc.poll() is None
            assert alerts.proc is not None
            assert alerts.proc.poll() is None
        finally:
            alerts.stop()
    finally:
        ingest.stop()
